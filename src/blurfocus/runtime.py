"""What every workflow script shares: its log, thread count, device and provenance."""

from __future__ import annotations

import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable


class JobLog:
    """Timestamped lines to the rule's ``log:`` file (and stderr), flushed at once."""

    def __init__(self, path: str | None):
        self.path = path
        self._fh = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", buffering=1)  # noqa: SIM115 - closed in close()

    def __call__(self, message: str) -> None:
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}"
        if self._fh:
            self._fh.write(line + "\n")
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._fh:
            self._fh.close()


def export_source_path(src: str) -> None:
    """Put the workflow's ``src`` folder first on PYTHONPATH, so that every job's script (local,
    cluster or conda environment) imports this library, installed or not."""
    import os

    parts = [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch (intra-op) for this job, if the job uses torch."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(max(1, int(n)))


def versions() -> dict[str, str]:
    """Versions of the packages that shape the results (from their metadata, without importing)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("blurfocus", "torch", "torchvision", "timm", "numpy", "scipy", "pandas", "pyarrow", "pillow", "snakemake"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "blurfocus" not in out:
        import blurfocus

        out["blurfocus"] = str(blurfocus.__version__)
    return out


def provenance(seeds: dict, **extra: Any) -> dict:
    """What produced an output: package versions, seeds and anything else given (no timestamps,
    so two identical runs write identical files)."""
    return {"versions": versions(), "seeds": seeds, **extra}


def write_parquet(df: Any, path: str, seeds: dict, **extra: Any) -> None:
    """DataFrame -> Parquet with the provenance in the schema metadata (``blurfocus.provenance``)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"blurfocus.provenance"] = json.dumps(provenance(seeds, **extra), sort_keys=True).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)


def device_description(device: Any) -> str:
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def run_job(snakemake: Any, main: Callable[[Any, JobLog], None]) -> None:
    """Run ``main(snakemake, log)`` with the rule's log; a failure is logged with its traceback
    and ends the job with exit code 1 and a one-line reason on stderr."""
    logs = list(getattr(snakemake, "log", []) or [])
    log = JobLog(logs[0] if logs else None)
    threads = getattr(snakemake, "threads", 1)
    set_threads(threads)
    log(f"rule {getattr(snakemake, 'rule', '?')} started ({threads} threads)")
    try:
        main(snakemake, log)
    except Exception as exc:  # noqa: BLE001
        if log._fh:
            log._fh.write(traceback.format_exc())
        log(f"ERROR: {type(exc).__name__}: {exc}")
        log.close()
        sys.exit(1)
    log("done")
    log.close()
