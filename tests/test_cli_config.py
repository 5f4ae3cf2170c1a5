"""Nested values changed on the command line (``snakemake --config 'figures={dpi: 80}'``) reach
the workflow as the types the schema expects (Snakemake hands them over as strings)."""

import shutil

import pytest

from helpers import dry_run_jobs, job_blocks, preset, snakemake

pytestmark = pytest.mark.e2e


def test_nested_number_boolean_and_list_from_the_command_line(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cfg = preset("tiny", work / "tiny.yaml")
    plain = dry_run_jobs(work, cfg)
    assert plain["saliency"] == 4 and plain["train"] == 2 and plain["sanity_check"] == 1
    jobs = dry_run_jobs(work, cfg, "--config", "saliency={shards: 3}", "sanity={enabled: false}",
                        "training={seeds: [0, 3]}")
    assert jobs["saliency"] == 3 * (2 * 2 + 2 * 2)  # 3 shards x 2 variants x (2 models, 2 seeds)
    assert "sanity_check" not in jobs
    assert jobs["train"] == 4


def test_a_string_that_is_no_number_still_stops_with_a_clear_error(tmp_path):
    cfg = preset("tiny", tmp_path / "tiny.yaml")
    proc = snakemake(tmp_path, "-n", "--config", "figures={dpi: eighty}", configfile=cfg, check=False)
    assert proc.returncode != 0
    assert "figures.dpi: 'eighty' is not of type 'integer'" in proc.stdout + proc.stderr


def test_figure_dpi_on_the_command_line_reruns_only_figure_and_report_jobs(tiny_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    cfg = work / "tiny.yaml"
    todo = job_blocks(snakemake(work, "-n", "--config", "figures={dpi: 80}", configfile=cfg).stdout)
    assert todo, "a new dpi must redraw the figures"
    not_figures = [j["rule"] for j in todo
                   if j["rule"] != "report" and not any(o.endswith(".png") for o in j["output"])]
    assert not_figures == [], not_figures
    assert {"contact_sheet", "focus_figure", "test_figures", "report"} <= {j["rule"] for j in todo}
    assert all("Params have changed" in j["reason"] for j in todo if j["rule"] != "report")
