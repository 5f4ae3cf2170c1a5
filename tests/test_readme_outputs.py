"""The README's output table names the columns the files of a run really have.

Every row of the table whose first cell names a table file (``.tsv``, ``.parquet``) must give
its columns as one backticked, comma-separated list of names in the second cell (``a, b, c``),
in the file's order; this test reads the files of a tiny run and compares. Other backticked
spans (one name, code) are prose and are not checked.
"""

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
TABLE_SUFFIXES = (".tsv", ".parquet")


def readme_tables() -> list[tuple[str, list[str], str]]:
    """[(path pattern, columns listed in the README, row text)] for each table file in the
    README's output table (``results/...`` rows)."""
    rows = []
    for line in (REPO / "README.md").read_text().splitlines():
        if not line.startswith("| `results/"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        paths = re.findall(r"`([^`]+)`", cells[0])
        first_dir = str(Path(paths[0]).parent)
        paths = [p if p.startswith("results/") else f"{first_dir}/{p}" for p in paths]
        tables = [p for p in paths if p.endswith(TABLE_SUFFIXES)]
        if not tables:
            continue
        assert len(tables) == 1, f"one README row per table file, please: {line}"
        lists = [s for s in re.findall(r"`([^`]+)`", cells[1]) if re.fullmatch(r"\w+(, \w+)+", s)]
        assert len(lists) == 1, f"the row of {tables[0]} must give its columns as one `a, b, c` list: {line}"
        rows.append((tables[0], [c.strip() for c in lists[0].split(",")], line))
    return rows


def columns_of(path: Path) -> list[str]:
    if path.suffix == ".tsv":
        return list(pd.read_csv(path, sep="\t", nrows=0).columns)
    return list(pq.read_schema(path).names)


def test_readme_lists_tables():
    names = {p for p, _, _ in readme_tables()}
    assert {"results/data/manifest.parquet", "results/stats/tests.tsv", "results/eval/accuracy.tsv"} <= names


@pytest.mark.e2e
def test_readme_output_columns_match_the_files_of_a_run(tiny_run):
    problems = []
    for pattern, listed, _ in readme_tables():
        glob = re.sub(r"<[^>]+>", "*", pattern).removeprefix("results/")
        files = sorted((tiny_run / "results").glob(glob))
        if not files:
            problems.append(f"{pattern}: no such file in a tiny run")
            continue
        for f in files[:3]:
            have = columns_of(f)
            if have != listed:
                problems.append(f"{f.relative_to(tiny_run)}: README lists {listed}, the file has {have}")
    assert not problems, "\n".join(problems)
