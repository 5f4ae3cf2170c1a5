"""The CPU a benchmark ran on, as every benchmark figure states it: ``lscpu``'s model name, CPU
count and the vector/matrix flags that decide speed (avx*, amx*, fma, sse4*)."""

from __future__ import annotations

import platform
import subprocess


def cpu_description() -> str:
    """One line, e.g. ``Intel(R) Xeon(R) Processor, 2 CPUs, flags fma sse4_1 ... amx_bf16``
    (what Python knows when ``lscpu`` is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.processor() or platform.machine()} (lscpu not available)"
    info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}
    flags = [f for f in info.get("Flags", "").split() if f.startswith(("avx", "amx", "fma", "sse4"))]
    return f"{info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs, flags {' '.join(flags)}"
