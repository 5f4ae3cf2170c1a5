"""Helpers for driving Snakemake from Python (tests, benchmarks); not used by the rules' jobs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import yaml


def snakemake_executable() -> str:
    """The ``snakemake`` next to this Python (its venv), else the one on PATH."""
    exe = Path(sys.executable).with_name("snakemake")
    return str(exe) if exe.exists() else (shutil.which("snakemake") or "snakemake")


def merge_config(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive update of ``base`` by ``over`` (in place, returned), as Snakemake merges
    ``--configfile`` files onto the workflow's config: nested mappings merge key by key, any
    other value replaces."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge_config(base[k], v)
        else:
            base[k] = v
    return base


def effective_config(repo: Path, *files: Path) -> dict[str, Any]:
    """``repo/config.yaml`` with the given YAML files merged on top (unvalidated)."""
    cfg = yaml.safe_load((Path(repo) / "config.yaml").read_text())
    for f in files:
        merge_config(cfg, yaml.safe_load(Path(f).read_text()) or {})
    return cfg


def snakemake_job_counts(text: str) -> dict[str, int]:
    """{rule: count} from the first "Job stats" table in Snakemake's output, with ``total``."""
    jobs: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and parts and not parts[0].startswith("-"):
            if len(parts) == 2 and parts[1].isdigit():
                jobs[parts[0]] = int(parts[1])
            if parts[0] == "total":
                break
    return jobs
