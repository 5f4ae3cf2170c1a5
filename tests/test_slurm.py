"""The tiny synthetic run through profiles/slurm on a real single-node Slurm cluster on localhost
(tests/slurm_cluster.py) gives the same results as the same run on local cores.

Needs root and Debian's slurm-wlm and munge packages (`apt-get install -y slurm-wlm munge`, which
.ci/run does); without them the module is SKIPPED with a WARNING, never passed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO, SNAKEMAKE, loud_skip, preset

pytestmark = pytest.mark.slurm

PROFILE = REPO / "profiles" / "slurm"
# rules that run on the submit host (the Snakefile's `localrules:`); every other job goes to Slurm
LOCAL_RULES = set(
    re.findall(r"\w+", re.search(r"^localrules:\n((?:[ \t]+\w+,?[ \t]*\n)+)", (REPO / "Snakefile").read_text(), re.M).group(1))
)
GPU_RULES = {"train", "evaluate", "saliency"}


def skip_loudly(pytestconfig, reason: str) -> None:
    loud_skip(pytestconfig, f"WARNING: the Slurm test is SKIPPED, nothing was run on Slurm: {reason}")


@pytest.fixture(scope="module")
def cluster(pytestconfig):
    from slurm_cluster import LocalSlurm, SlurmUnavailable

    try:
        local_slurm = LocalSlurm().start()
    except SlurmUnavailable as exc:
        skip_loudly(pytestconfig, str(exc))
    yield local_slurm
    local_slurm.stop()


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """presets/tiny.yaml through `--profile profiles/slurm` (device: cpu, so GPU rules ask gpu=0)."""
    work = tmp_path_factory.mktemp("tiny-slurm")
    cfg = preset("tiny", work / "tiny.yaml")
    cmd = [
        SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(cfg),
        "--profile", str(PROFILE),
        # the profile's first status check comes after 20 s and backs off by 10 s: fine on a real
        # cluster, slow for two dozen short jobs; squeue is still used (MinJobAge=600 > 3 x 2 s)
        "--slurm-init-seconds-before-status-checks", "2",
    ]
    env = {**cluster.env, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p.relative_to(work)}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted((work / ".snakemake" / "slurm_logs").rglob("*.log"))[-6:]
        )
        pytest.fail(
            f"snakemake on Slurm failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-8000:]}\n"
            f"{logs}\n{cluster.log_tail()}",
            pytrace=False,
        )
    return work, proc


def slurm_jobs(cluster) -> pd.DataFrame:
    """Every job the cluster has seen (finished ones stay MinJobAge = 600 s): id, state, comment, start, end."""
    out = cluster.run("squeue", "--states=all", "--noheader", "--format=%i|%T|%k|%S|%e").stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    jobs = pd.DataFrame(rows, columns=["id", "state", "comment", "start", "end"])
    for col in ("start", "end"):
        jobs[col] = pd.to_datetime(jobs[col], errors="coerce")
    jobs["rule"] = jobs["comment"].str.extract(r"^rule_(\w+?)(?:_wildcards_.*)?$", expand=False)
    return jobs


def test_jobs_ran_on_slurm_two_at_a_time(cluster, slurm_run):
    work, proc = slurm_run
    jobs = slurm_jobs(cluster)
    assert not jobs.empty, "no job reached the Slurm cluster"
    assert set(jobs["state"]) == {"COMPLETED"}, jobs.to_string()
    log = proc.stdout + proc.stderr
    remote_rules = set(re.findall(r"^rule (\w+):", log, re.M))  # Snakemake prints `localrule X:` for local jobs
    assert set(jobs["rule"]) == remote_rules, jobs.to_string()
    assert GPU_RULES <= remote_rules and not remote_rules & LOCAL_RULES
    assert set(re.findall(r"^localrule (\w+):", log, re.M)) <= LOCAL_RULES
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert sorted(submitted, key=int) == sorted(jobs["id"], key=int), "Snakemake's and Slurm's job lists differ"
    # two 1-CPU jobs fit on the 2-CPU node at once (the three blur_copies jobs are independent)
    ordered = jobs.sort_values("start").reset_index(drop=True)
    print(ordered[["id", "rule", "start", "end"]].to_string())  # shown with pytest -rP
    overlaps = sum(ordered.loc[i + 1, "start"] < ordered.loc[i, "end"] for i in range(len(ordered) - 1))
    assert overlaps > 0, f"Slurm never ran two jobs at the same time:\n{ordered.to_string()}"
    # the plugin read job states with squeue (this cluster has no accounting storage for sacct)
    assert "Falling back to 'sacct'" not in log
    assert (work / "results" / "report.html").exists()


def test_slurm_results_equal_local_results(slurm_run, request):
    slurm_results = slurm_run[0] / "results"
    # the local run of the same config (--cores 2, conftest.py), shared with test_e2e.py; asked for
    # only now, so that a machine without Slurm skips before spending a minute on it
    local_results = Path(request.getfixturevalue("tiny_run")) / "results"

    a = pd.read_parquet(slurm_results / "data" / "manifest.parquet")
    b = pd.read_parquet(local_results / "data" / "manifest.parquet")
    pd.testing.assert_frame_equal(a, b)

    for name in ("eval/accuracy.tsv", "stats/ttests.tsv"):
        a = pd.read_csv(slurm_results / name, sep="\t")
        b = pd.read_csv(local_results / name, sep="\t")
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)

    a = pd.read_parquet(slurm_results / "stats" / "distances.parquet")
    b = pd.read_parquet(local_results / "stats" / "distances.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True, obj="distances.parquet")


# ---------------------------------------------------------------- the profile itself (no cluster needed)
def profile() -> dict:
    import yaml

    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def test_profile_names_existing_rules_and_squeue():
    rules = set(re.findall(r"^rule (\w+):", "\n".join(p.read_text() for p in (REPO / "rules").glob("*.smk")), re.M))
    prof = profile()
    assert prof["executor"] == "slurm"
    assert prof["slurm-status-command"] == "squeue"
    assert set(prof["set-resources"]) <= rules - LOCAL_RULES, "set-resources names a rule that does not exist or runs locally"
    assert {"mem_mb", "runtime"} <= set(prof["default-resources"])


def test_gpu_resources_become_sbatch_options():
    """What the plugin sends for the mappings described in profiles/slurm/config.yaml and docs/slurm.md."""
    slurm_utils = pytest.importorskip("snakemake_executor_plugin_slurm.utils")
    validation = pytest.importorskip("snakemake_executor_plugin_slurm.validation")
    from snakemake_interface_common.exceptions import WorkflowError

    class Resources(dict):
        __getattr__ = dict.__getitem__

    def job(**resources):
        return type("Job", (), {"resources": Resources(resources)})()

    assert slurm_utils.set_gres_string(job(gpu=1)).split() == ["--gpus=1"]
    assert slurm_utils.set_gres_string(job(gpu=0)).split() == []  # device: cpu
    assert slurm_utils.set_gres_string(job(gpu=1, gpu_model="a100")).split() == ["--gpus=a100:1"]
    assert slurm_utils.set_gres_string(job(gpu=0, gres="gpu:1")).split() == ["--gres=gpu:1"]
    assert slurm_utils.set_gres_string(job(gpu=0, gres="gpu:a100:1")).split() == ["--gres=gpu:a100:1"]
    with pytest.raises(WorkflowError):
        validation.validate_slurm_extra(job(slurm_extra="--gres=gpu:1"))
