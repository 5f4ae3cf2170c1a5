"""Nested values changed on the command line (``snakemake --config 'figures={dpi: 80}'``) reach
the workflow as the types the schema expects (Snakemake hands them over as strings)."""

import shutil

import pytest
import yaml

from helpers import dry_run_jobs, job_blocks, preset, snakemake

pytestmark = pytest.mark.e2e


def test_nested_number_boolean_and_list_from_the_command_line(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cfg = preset("tiny", work / "tiny.yaml")
    tiny = yaml.safe_load(cfg.read_text())
    assert tiny["saliency"]["shards"] == 1 and tiny["sanity"].get("enabled", True)
    plain = dry_run_jobs(work, cfg)
    assert plain["saliency"] >= 4 and plain["sanity_check"] == 1
    # a nested number: three shards per map set instead of one
    assert dry_run_jobs(work, cfg, "--config", "saliency={shards: 3}")["saliency"] == 3 * plain["saliency"]
    # a boolean
    assert "sanity_check" not in dry_run_jobs(work, cfg, "--config", "sanity={enabled: false}")
    # a list: one more replicate seed than the preset has
    seeds = [*tiny["training"]["seeds"], 7]
    jobs = dry_run_jobs(work, cfg, "--config", f"training={{seeds: {seeds}}}")
    assert jobs["train"] == plain["train"] // len(tiny["training"]["seeds"]) * len(seeds)


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
    assert not {"train", "saliency", "ingest", "distances", "null_tests"} & {j["rule"] for j in todo}
