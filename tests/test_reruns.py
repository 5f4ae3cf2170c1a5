"""Incremental reruns: after a complete run, a config change reruns exactly the affected jobs
(checked with Snakemake's own dry-run job list)."""

import re
import shutil

import pytest
import yaml

from helpers import REPO, SNAKEMAKE, snakemake

pytestmark = pytest.mark.e2e


def jobs(workdir, cfg, snakefile=None):
    """[(rule, wildcards-string)] that a dry run would execute."""
    args = ["-n"]
    if snakefile is not None:
        proc = __import__("subprocess").run(
            [SNAKEMAKE, "-s", str(snakefile), "--directory", str(workdir), "--configfile", str(cfg), "-n"],
            capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        text = proc.stdout + proc.stderr
    else:
        text = snakemake(workdir, *args, configfile=cfg).stdout
    out, rule = [], None
    for line in text.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if m:
            rule = m.group(1)
            out.append([rule, ""])
        elif line.strip().startswith("wildcards:") and out:
            out[-1][1] = line.strip()[len("wildcards: "):]
    return [tuple(j) for j in out if j[0] != "all"]


@pytest.fixture()
def done(tiny_run, tmp_path):
    """A private copy of the finished tiny run (results and Snakemake's metadata)."""
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    return work


def edit(cfg_path, section, key, value):
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg.setdefault(section, {})[key] = value
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def rules_of(job_list):
    return {r for r, _ in job_list}


def test_nothing_reruns_when_nothing_changed(done):
    assert jobs(done, done / "tiny.yaml") == []


def test_blur_sigma_reruns_blur_expert_and_downstream_only(done):
    cfg = done / "tiny.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["blur"]["variants"]["blur"][0]["sigma"] = 2.5
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    todo = jobs(done, cfg)
    names = rules_of(todo)
    assert {"blur_copies", "train", "saliency", "distances", "ttests", "null_tests", "claims", "report"} <= names
    assert not names & {"synthetic_data", "ingest"}  # ingest writes the clear copies
    trained = [w for r, w in todo if r == "train"]
    assert trained == ["role=expert, seed=0"], trained  # the naive model is kept
    sal = {w for r, w in todo if r == "saliency"}
    assert not any("role=naive" in w and "variant=clear" in w for w in sal)  # naive clear maps kept
    assert any("role=naive" in w and "variant=blur" in w for w in sal)
    assert any("role=expert" in w and "variant=clear" in w for w in sal)


def test_smoothgrad_samples_rerun_saliency_and_after_but_no_training(done):
    cfg = done / "tiny.yaml"
    edit(cfg, "saliency", "n_samples", 5)
    names = rules_of(jobs(done, cfg))
    assert {"saliency", "distances", "ttests", "focus_figure", "report"} <= names
    assert not names & {"synthetic_data", "ingest", "blur_copies", "train", "evaluate", "accuracy_table"}


def test_figure_option_reruns_only_figures_and_report(done):
    cfg = done / "tiny.yaml"
    edit(cfg, "figures", "clip_percentile", 97.5)
    assert rules_of(jobs(done, cfg)) == {"focus_figure", "report"}
    edit(cfg, "report", "title", "another title")
    assert rules_of(jobs(done, cfg)) == {"focus_figure", "report"}


def test_editing_a_library_module_is_noticed(done, tmp_path):
    copy = tmp_path / "workflow-copy"
    copy.mkdir()
    for part in ("Snakefile", "config.yaml", "rules", "workflow", "src", "profiles"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, copy / part)
    cfg = done / "tiny.yaml"
    assert jobs(done, cfg, snakefile=copy / "Snakefile") == []  # same code, nothing to do
    stats_py = copy / "src" / "blurfocus" / "stats.py"
    stats_py.write_text(stats_py.read_text() + "\n# an edit\n")
    names = rules_of(jobs(done, cfg, snakefile=copy / "Snakefile"))
    assert "ttests" in names and "null_tests" in names
    assert not names & {"train", "saliency", "ingest", "evaluate"}
