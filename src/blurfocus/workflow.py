"""Helpers for driving Snakemake from Python (tests, benchmarks); not used by the rules' jobs."""

from __future__ import annotations


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
