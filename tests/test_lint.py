"""The workflow is lint-clean (`snakemake --lint`) and formatted (`snakefmt --check`)."""

import subprocess
import sys
from pathlib import Path

from helpers import REPO, SNAKEMAKE

SNAKEFMT = str(Path(sys.executable).with_name("snakefmt"))


def test_snakemake_lint_reports_nothing(tmp_path):
    r = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--lint"],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Lints for" not in out, out  # Snakemake prints "Lints for rule X" per problem


def test_rules_and_snakefile_are_snakefmt_formatted():
    files = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    r = subprocess.run([SNAKEFMT, "--check", *map(str, files)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
