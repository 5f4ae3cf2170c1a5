"""Every preset validates against the schema and plans a complete DAG (dry run); Snakemake's own
report builds from a finished run."""

import os
from pathlib import Path

import pytest

from blurfocus import arms, grid, modeltests
from blurfocus.config import validate_config
from blurfocus.workflow import effective_config
from helpers import REPO, dry_run_jobs, snakemake

PRESETS = sorted(p.stem for p in (REPO / "presets").glob("*.yaml"))
# the real-photo study set (1,735 photos), read by the pets-study presets; a clone without it skips them
PETS_1K = Path(os.environ.get("BLURFOCUS_PETS_1K", REPO.parent / "shared" / "data" / "pets-1k"))
PETS_STUDY = ("pets-study", "pets-study-gpu")


def test_presets_exist():
    assert {"paper-kaggle", "oxford-pets", "tiny", "pets-mini"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_validates_and_dry_runs(name, tmp_path, request):
    merged = effective_config(REPO, REPO / "presets" / f"{name}.yaml")  # as Snakemake merges --configfile
    validate_config(merged, check_paths=False)
    if name in ("paper-kaggle", "oxford-pets", "pets-study-gpu", "dose-response-paper", "blur-kinds-paper"):
        # the study presets map every test image
        assert merged["saliency"].get("limit_per_class") is None, "config.yaml's limit leaks into the preset"
    work = tmp_path / "work"
    work.mkdir()
    # presets name paths relative to the repository root (../shared/data/pets-mini): mirror that
    (tmp_path / "shared" / "data").mkdir(parents=True)
    if name == "pets-mini":  # the only preset that reads real photos (skipped without them)
        (tmp_path / "shared" / "data" / "pets-mini").symlink_to(request.getfixturevalue("pets_mini"))
    if name in PETS_STUDY:  # ../shared/data/pets-1k (skipped without it)
        (tmp_path / "shared" / "data" / "pets-1k").symlink_to(pets_1k())
    jobs = dry_run_jobs(work, REPO / "presets" / f"{name}.yaml")
    cfg = validate_config(merged, check_paths=False)
    n_arms = len(arms.training_arms(cfg["blur"]["train"], list(cfg["blur"]["variants"])))
    assert jobs.get("train", 0) == n_arms * len(merged["training"]["seeds"])
    assert jobs.get("grid") == 1 and jobs.get("grid_figures") == 1
    assert jobs.get("report") == 1 and jobs.get("saliency", 0) >= 4
    assert not (work / "results").exists()  # a dry run writes nothing


def pets_1k() -> Path:
    """The pets-1k photo folder, or a skip naming where it was looked for."""
    if not (PETS_1K / "Cat").is_dir():
        pytest.skip(f"the pets-study presets read the real-photo set pets-1k, not found at {PETS_1K} "
                    "(set BLURFOCUS_PETS_1K to its folder to run this test)")
    return PETS_1K


@pytest.mark.parametrize("name", PETS_STUDY)
def test_pets_study_presets_are_the_issue_12_study(name):
    """The real-photo study presets hold what issue 12 asks of the study: pets-1k photos (path as
    presets/pets-mini.yaml names pets-mini), pretrained EfficientNet-Lite0 fine-tuned in all layers,
    the Gaussian blur plus noise, K >= 5 replicates per arm and enough draws for the model-level tests."""
    cfg = validate_config(effective_config(REPO, REPO / "presets" / f"{name}.yaml"), check_paths=False)
    mini = effective_config(REPO, REPO / "presets" / "pets-mini.yaml")["dataset"]["path"]
    assert cfg["dataset"]["source"] == "folder"
    assert Path(cfg["dataset"]["path"]) == Path(mini).parent / "pets-1k"
    assert cfg["dataset"]["classes"] == ["Cat", "Dog"]
    assert (cfg["model"]["arch"], cfg["model"]["weights"], cfg["model"]["trainable"]) == (
        "efficientnet_lite0", "imagenet", "all")
    steps = cfg["blur"]["variants"][cfg["blur"]["train"]]
    assert [s["kind"] for s in steps] == ["gaussian_blur", "gaussian_noise"]
    assert len(cfg["training"]["seeds"]) >= 5
    assert cfg["saliency"]["replicate_draws"] >= 2 and cfg["saliency"]["draws"] >= 2
    assert cfg["saliency"]["topk"] == 20


@pytest.mark.e2e
def test_snakemake_report_builds(tiny_run, tmp_path):
    out = tmp_path / "report.html"
    snakemake(tiny_run, "--report", str(out), configfile=tiny_run / "tiny.yaml")
    html = out.read_text(errors="replace")
    assert out.stat().st_size > 50_000
    for category in ("Accuracy", "Saliency", "Tests", "Training", "Report"):
        assert category in html


@pytest.mark.parametrize("name", [None, "paper-kaggle", "oxford-pets", "pets-study", "pets-study-gpu"])
def test_study_presets_have_enough_replicates_to_support_a_claim(name):
    """The default and the study presets train enough replicates per arm that every exact
    model-level test can reach alpha after the adjustment over the study's claims (the workflow
    warns otherwise, as it does for the tiny preset)."""
    files = [REPO / "presets" / f"{name}.yaml"] if name else []
    cfg = validate_config(effective_config(REPO, *files), check_paths=False)
    k, paired = len(cfg["training"]["seeds"]), cfg["training"]["design"] == "paired"
    assert modeltests.design_note(k, cfg["blur"]["test"], paired, cfg["stats"]["adjust"], cfg["stats"]["alpha"]) is None
    assert modeltests.design_note(2, cfg["blur"]["test"], paired, cfg["stats"]["adjust"], cfg["stats"]["alpha"])


@pytest.mark.parametrize("name", ["dose-response", "blur-kinds", "dose-response-paper", "blur-kinds-paper"])
def test_grid_presets_can_support_their_grid_claims(name):
    """The grid presets train enough replicates per arm that each of their dose-response,
    specificity and control families can reach alpha (each is adjusted on its own)."""
    cfg = validate_config(effective_config(REPO, REPO / "presets" / f"{name}.yaml"), check_paths=False)
    design = grid.GridDesign.from_config(cfg, arms.training_arms(cfg["blur"]["train"], list(cfg["blur"]["variants"])))
    floors = grid.family_floors(design, len(cfg["training"]["seeds"]), cfg["training"]["design"] == "paired",
                                cfg["stats"]["adjust"])
    expected = {"dose-response"} if "dose" in name else {"specificity", "control"}
    assert set(floors) >= expected
    assert all(p < cfg["stats"]["alpha"] for p in floors.values()), floors
    assert grid.design_note(design, 2, False, cfg["stats"]["adjust"], cfg["stats"]["alpha"])  # K = 2 is too few


def test_largest_preset_plans_with_the_slurm_profile(tmp_path):
    """The paper-scale blur-kinds grid (5 arms x K = 10, 21 test conditions: thousands of jobs) is
    planned with the SLURM profile as it is, without submitting anything (dry run)."""
    jobs = dry_run_jobs(tmp_path, REPO / "presets" / "blur-kinds-paper.yaml", "--profile", str(REPO / "profiles" / "slurm"))
    assert jobs["train"] == 5 * 10 and jobs["evaluate"] == 50
    assert jobs["saliency"] == 50 * 21 * 4  # models x (clear + 20 variants) x shards
    assert jobs["grid"] == 1 and jobs["report"] == 1
