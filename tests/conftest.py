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


@pytest.fixture()
def pets_mini(request) -> Path:
    """The real-photo test set (240 Kaggle photos): only for tests that need real photos.

    CI always has it beside the clone; a user's clone usually does not, and then these tests
    are skipped with the reason in the summary (``-ra``) instead of failing.
    """
    if not (PETS_MINI / "Cat").is_dir():
        if os.environ.get("BLURFOCUS_REQUIRE_PETS_MINI"):  # CI: a missing set is an error, not a skip
            pytest.fail(f"the pets-mini test data is missing at {PETS_MINI} (BLURFOCUS_REQUIRE_PETS_MINI is set)")
        pytest.skip(
            f"{request.node.name} needs the real-photo set pets-mini, not found at {PETS_MINI} "
            "(set BLURFOCUS_PETS_MINI to its folder to run this test)"
        )
    return PETS_MINI


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One complete run of presets/tiny.yaml (shared, read-only for tests)."""
    from helpers import preset, snakemake

    work = tmp_path_factory.mktemp("tiny")
    cfg = preset("tiny", work / "tiny.yaml")
    snakemake(work, "--cores", "2", configfile=cfg)
    return work
