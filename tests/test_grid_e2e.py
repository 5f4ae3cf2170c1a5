"""End to end: the original two-arm run is unchanged by training arms (same files and numbers as
the code before them, run here on the same seeds, but for the changes made on purpose since,
:data:`INTENDED`), and a tiny several-arm run produces the grid
tables, tests, verdicts, figures and report section."""

import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blurfocus import grid, stats
from helpers import REPO, SNAKEMAKE, preset, snakemake

pytestmark = pytest.mark.e2e

# the last commit before training arms and the grid (blurfocus.arms, blurfocus.grid)
BEFORE_ARMS = "eddee086e0dfde3152ae5883c5076eefa4b7ef20"
# files a two-arm run wrote before the grid existed; compared byte for byte (timings aside)
COMPARED = (".tsv", ".parquet", ".json", ".npy", ".npz", ".png")
TIMING_KEYS = ("seconds", "images_per_second", "train_seconds")
# files changed on purpose since BEFORE_ARMS, each checked in its own way below
INTENDED = {
    # the starting point is the naive checkpoint's own initialization (models.initial_model), not
    # one drawn with the replicate number as seed
    "figures/activations.png": "starting point",
    # claims about an arm at chance are inconclusive (the tiny models are): checked in _same_claims
    "stats/claims.tsv": "arms at chance",
    "figures/claims.png": "arms at chance",  # colours by verdict
}


def _checkout(commit: str, dest: Path) -> Path:
    """The repository's files at ``commit`` (git archive), or a skip naming why not."""
    proc = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"the two-arm before/after test needs commit {commit[:10]} in the git history of {REPO} "
                    f"(a shallow clone or an unpacked archive lacks it): {proc.stderr.decode().strip()[:200]}")
    dest.mkdir()
    tar = dest.with_suffix(".tar")
    tar.write_bytes(proc.stdout)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    return dest


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _same_claims(before: Path, after: Path) -> None:
    """claims.tsv as before but for the arms-at-chance rule: where a claim names arms at chance its
    verdict is inconclusive and its reason keeps the old verdict and reason; elsewhere unchanged."""
    a = pd.read_csv(before, sep="\t", keep_default_na=False)
    b = pd.read_csv(after, sep="\t", keep_default_na=False)
    assert list(b.columns.drop("arms_at_chance")) == list(a.columns)
    kept = [c for c in a.columns if c not in ("verdict", "reason")]
    pd.testing.assert_frame_equal(a[kept], b[kept], check_exact=True)
    flagged = b["arms_at_chance"] != ""
    assert (a.loc[~flagged, ["verdict", "reason"]] == b.loc[~flagged, ["verdict", "reason"]]).all().all()
    assert (b.loc[flagged, "verdict"] == "inconclusive").all()
    for (_, old), (_, new) in zip(a[flagged].iterrows(), b[flagged].iterrows()):
        assert new["reason"].endswith(f"the test alone: {old['verdict']} ({old['reason']})"), new["claim_id"]


def test_two_arm_run_is_unchanged_by_training_arms(tiny_run, tmp_path):
    old = _checkout(BEFORE_ARMS, tmp_path / "before")
    work = tmp_path / "work"
    work.mkdir()
    cfg = preset("tiny", work / "tiny.yaml")
    cmd = [SNAKEMAKE, "-s", str(old / "Snakefile"),
           "--directory", str(work), "--configfile", str(cfg), "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    before, after = work / "results", tiny_run / "results"
    compared = 0
    for path in sorted(before.rglob("*")):
        rel = path.relative_to(before)
        if not path.is_file() or rel.parts[0] in ("benchmarks", "logs") or path.suffix not in COMPARED:
            continue
        new = after / rel
        assert new.exists(), f"{rel} is no longer written"
        if rel.as_posix() == "stats/claims.tsv":
            _same_claims(path, new)
        elif rel.as_posix() in INTENDED:
            assert new.stat().st_size > 1000, rel
        elif path.name == "metrics.json" or path.name == "provenance.json":
            a, b = json.loads(path.read_text()), json.loads(new.read_text())
            if path.name == "provenance.json":  # code versions and times differ by construction
                a, b = a.get("seeds"), b.get("seeds")
            assert _without_timings(a) == _without_timings(b), rel
        else:
            assert path.read_bytes() == new.read_bytes(), f"{rel} differs from the two-arm run before training arms"
        compared += 1
    assert compared >= 40  # tables, maps, figures
    # and the new grid tables are there too, with nothing in tests.tsv beyond the study's rows
    assert (after / "grid" / "accuracy.tsv").exists() and (after / "figures" / "grid.png").exists()
    assert pd.read_csv(after / "grid" / "tests.tsv", sep="\t").empty


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """A tiny run with four arms: naive, expert (gauss_2), expert_noise (a non-blur control) and a
    Gaussian sweep of two strengths; sanity checks off to keep it short."""
    work = tmp_path_factory.mktemp("grid")
    cfg = preset("tiny", work / "tiny.yaml", blur={
        "variants": {"noise": {"kind": "gaussian_noise", "sigma": 0.15}},
        "sweeps": {"gauss": {"kind": "gaussian_blur", "param": "sigma", "values": [1, 2]}},
        "train": ["clear", "gauss_2", "noise"],
        "test": ["gauss_1", "gauss_2", "noise"],
    }, sanity={"enabled": False})
    snakemake(work, "--cores", "2", configfile=cfg)
    return work / "results"


def test_grid_end_to_end(grid_run):
    results = grid_run
    arms = ["naive", "expert", "expert_noise"]
    variants = ["clear", "gauss_1", "gauss_2", "noise"]
    acc = pd.read_csv(results / "grid" / "accuracy.tsv", sep="\t")
    assert list(acc.columns) == grid.ACCURACY_GRID_COLUMNS
    assert list(zip(acc["arm"], acc["test_variant"])) == [(a, v) for a in arms for v in variants]
    assert dict(zip(acc["arm"], acc["train_variant"])) == {"naive": "clear", "expert": "gauss_2", "expert_noise": "noise"}
    # the grid's accuracy is the mean over the arm's models of the per-model accuracy of the eval tables
    per_model = pd.read_csv(results / "eval" / "accuracy.tsv", sep="\t")
    per_model["arm"] = per_model["model"].str.split("-s").str[0]
    ref = per_model.groupby(["arm", "test_variant"])["accuracy"].mean()
    for r in acc.itertuples():
        assert r.accuracy == pytest.approx(ref[(r.arm, r.test_variant)])
        assert r.ci_low <= r.accuracy + 1e-12 <= r.ci_high + 2e-12
    assert set(pd.read_parquet(results / "eval" / "naive-s1.predictions.parquet")["variant"]) == set(variants)
    shift = pd.read_csv(results / "grid" / "shift.tsv", sep="\t")
    assert list(zip(shift["arm"], shift["test_variant"])) == [(a, v) for a in arms for v in variants[1:]]
    assert np.allclose(shift["shift_beyond_noise"], shift["shift"] - shift["noise_floor"], atol=1e-4)
    between = pd.read_csv(results / "grid" / "between.tsv", sep="\t")
    assert len(between) == 4 * 3  # 3 arm pairs on 4 variants
    assert np.allclose(between["between_minus_within"], between["between"] - between["within"], atol=1e-4)
    # the grid tests are rows of tests.tsv, each family adjusted on its own
    tests = pd.read_csv(results / "stats" / "tests.tsv", sep="\t", dtype={"rank": str, "null": str})
    g = tests[tests["adjust_family"].astype(str).str.match(r"model-level (dose-response|specificity|control)")]
    assert set(g["claim_id"]) == {
        *(f"trend{x}:{a}:gauss" for x in ("", "_accuracy") for a in arms),
        "specificity:expert", "specificity:expert_noise", "control:expert:expert_noise"}
    for _, fam in g.groupby("adjust_family"):
        assert fam["p_adj"].tolist() == pytest.approx(stats.adjust_pvalues(fam["p"], "holm").tolist(), rel=1e-5)  # %.6g
    study = tests[tests["adjust_family"] == "model-level claims, subset all"]
    assert len(study) == 1 + 8 * 3  # the study's claims on each of the three test variants
    claims = pd.read_csv(results / "stats" / "claims.tsv", sep="\t")
    assert set(g["claim_id"]) <= set(claims["claim_id"])
    assert claims["verdict"].isin(["supported", "not supported", "inconclusive"]).all()
    assert (claims.set_index("claim_id").loc["control:expert:expert_noise", "original_test"]
            == "not in the original study")
    for fig in ("grid.png", "dose_response.png"):
        assert (results / "figures" / fig).stat().st_size > 5000, fig
    html = (results / "report.html").read_text()
    assert "Training conditions: arms x test variants" in html
    # the control verdict in words (the barely trained tiny control arm is usually at chance: said so)
    assert any(t in html for t in ("is not shown", "specific to blur", "uninformative: the control arm is at chance"))
    assert "ImageNet-C severities scaled by 64/224" in html
