import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

PETS_MINI = Path(os.environ.get("BLURFOCUS_PETS_MINI", REPO.parent / "shared" / "data" / "pets-mini"))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def pets_mini() -> Path:
    if not (PETS_MINI / "Cat").is_dir():
        pytest.fail(f"the pets-mini test data is missing at {PETS_MINI} (set BLURFOCUS_PETS_MINI)")
    return PETS_MINI


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One complete run of presets/tiny.yaml (shared, read-only for tests)."""
    from helpers import preset, snakemake

    work = tmp_path_factory.mktemp("tiny")
    cfg = preset("tiny", work / "tiny.yaml")
    snakemake(work, "--cores", "2", configfile=cfg)
    return work
