"""Every preset validates against the schema and plans a complete DAG (dry run); Snakemake's own
report builds from a finished run."""


import pytest

from blurfocus.config import validate_config
from blurfocus.workflow import effective_config
from helpers import REPO, dry_run_jobs, snakemake

PRESETS = sorted(p.stem for p in (REPO / "presets").glob("*.yaml"))


def test_presets_exist():
    assert {"paper-kaggle", "oxford-pets", "tiny", "pets-mini"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_validates_and_dry_runs(name, tmp_path, request):
    merged = effective_config(REPO, REPO / "presets" / f"{name}.yaml")  # as Snakemake merges --configfile
    validate_config(merged, check_paths=False)
    if name in ("paper-kaggle", "oxford-pets"):  # the study presets map every test image
        assert merged["saliency"].get("limit_per_class") is None, "config.yaml's limit leaks into the preset"
    work = tmp_path / "work"
    work.mkdir()
    # presets name paths relative to the repository root (../shared/data/pets-mini): mirror that
    (tmp_path / "shared" / "data").mkdir(parents=True)
    if name == "pets-mini":  # the only preset that reads real photos (skipped without them)
        (tmp_path / "shared" / "data" / "pets-mini").symlink_to(request.getfixturevalue("pets_mini"))
    jobs = dry_run_jobs(work, REPO / "presets" / f"{name}.yaml")
    assert jobs.get("train", 0) == 2 * len(merged["training"]["seeds"])
    assert jobs.get("report") == 1 and jobs.get("saliency", 0) >= 4
    assert not (work / "results").exists()  # a dry run writes nothing


@pytest.mark.e2e
def test_snakemake_report_builds(tiny_run, tmp_path):
    out = tmp_path / "report.html"
    snakemake(tiny_run, "--report", str(out), configfile=tiny_run / "tiny.yaml")
    html = out.read_text(errors="replace")
    assert out.stat().st_size > 50_000
    for category in ("Accuracy", "Saliency", "Tests", "Training", "Report"):
        assert category in html
