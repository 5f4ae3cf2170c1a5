"""Crash and resume, determinism, and provenance."""

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from blurfocus import train
from helpers import REPO, SNAKEMAKE, preset, snakemake

TABLES = ["data/manifest.parquet", "eval/accuracy.tsv", "stats/distances.parquet", "stats/ttests.tsv", "stats/tests.tsv"]


def assert_same_tables(a: Path, b: Path, byte_identical: bool = True) -> None:
    for rel in TABLES:
        fa, fb = a / "results" / rel, b / "results" / rel
        if byte_identical:
            assert fa.read_bytes() == fb.read_bytes(), f"{rel} differs"
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(fa), pd.read_parquet(fb), check_exact=True)
        else:
            pd.testing.assert_frame_equal(pd.read_csv(fa, sep="\t"), pd.read_csv(fb, sep="\t"), check_exact=True)


# ------------------------------------------------------------------ resumable fine-tuning


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 6 * 6, 2))


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    return x, torch.randint(0, 2, (n,), generator=g)


@pytest.mark.parametrize("keep", ["best", "last"])
def test_resume_after_a_crash_ends_with_the_same_weights(tmp_path, keep):
    s = train.TrainSettings(epochs=4, batch_size=8, optimizer="adam", lr=1e-2, momentum=0.9, weight_decay=0.0,
                            seed=3, keep=keep, hflip=True)
    (tx, ty), (vx, vy) = data(40, 1), data(16, 2)
    quiet = lambda m: None  # noqa: E731
    full = tiny_model()
    r_full = train.fine_tune(full, tx, ty, vx, vy, s, torch.device("cpu"), log_fn=quiet)
    resume = tmp_path / "resume.pt"
    crashed = tiny_model()
    train.fine_tune(crashed, tx, ty, vx, vy, s, torch.device("cpu"), resume_path=resume, resume_key="k",
                    log_fn=quiet, stop_after_epoch=2)
    assert resume.exists()
    logs = []
    again = tiny_model()  # a fresh process: new model object, same initialization
    r_again = train.fine_tune(again, tx, ty, vx, vy, s, torch.device("cpu"), resume_path=resume, resume_key="k",
                              log_fn=logs.append)
    assert any("resuming" in m and "after epoch 2" in m for m in logs)
    for (n1, p1), (n2, p2) in zip(full.state_dict().items(), again.state_dict().items()):
        assert torch.equal(p1, p2), n1
    def untimed(history):
        return [{k: v for k, v in h.items() if k not in ("seconds", "images_per_second")} for h in history]

    assert untimed(r_full.history) == untimed(r_again.history)
    assert r_full.kept_epoch == r_again.kept_epoch


def test_resume_file_for_other_settings_is_ignored(tmp_path):
    s = train.TrainSettings(epochs=2, batch_size=8, optimizer="sgd", lr=1e-2, momentum=0.9, weight_decay=0.0, seed=0)
    (tx, ty), (vx, vy) = data(24, 1), data(8, 2)
    resume = tmp_path / "resume.pt"
    train.fine_tune(tiny_model(), tx, ty, vx, vy, s, torch.device("cpu"), resume_path=resume, resume_key="old",
                    log_fn=lambda m: None, stop_after_epoch=1)
    logs = []
    train.fine_tune(tiny_model(), tx, ty, vx, vy, s, torch.device("cpu"), resume_path=resume, resume_key="new",
                    log_fn=logs.append)
    assert any("other settings" in m for m in logs) and not any("resuming" in m for m in logs)
    resume.write_bytes(b"garbage")  # a half-written file from a crash
    logs.clear()
    train.fine_tune(tiny_model(), tx, ty, vx, vy, s, torch.device("cpu"), resume_path=resume, resume_key="new",
                    log_fn=logs.append)
    assert any("unreadable" in m for m in logs)


# ------------------------------------------------------------------ end to end


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended ({proc.returncode}) before {path} said {text!r}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {text!r} in {path}")


def kill_run(proc: subprocess.Popen) -> None:
    """SIGKILL the whole run (Snakemake and its jobs), like a node that dies."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.e2e
def test_killed_jobs_leave_nothing_complete_and_a_rerun_equals_an_uninterrupted_run(tmp_path, tiny_run):
    work = tmp_path / "crash"
    work.mkdir()
    cfg = preset("tiny", work / "tiny.yaml")
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(cfg), "--cores", "1"]
    results = work / "results"

    # 1. kill in the middle of fine-tuning (after its first epoch)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = results / "logs" / "train" / "naive-s0.log"
    model_dir = results / "models" / "naive-s0"
    wait_for(log, "epoch 1/2", proc)
    end = time.time() + 120
    while not (model_dir / "resume.pt").exists() and time.time() < end:  # epoch 1's state is being saved
        time.sleep(0.05)
    kill_run(proc)
    assert not (model_dir / "model.pt").exists() and not (model_dir / "metrics.json").exists()
    assert (model_dir / "resume.pt").exists()

    # a SIGKILLed Snakemake leaves its lock behind: the next run stops and says what to do
    locked = snakemake(work, "--cores", "1", configfile=cfg, check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    snakemake(work, "--unlock", configfile=cfg)

    # 2. rerun; kill it again in the middle of a saliency shard
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    sal_log = results / "logs" / "saliency" / "naive-s0" / "clear" / "shard0.log"
    wait_for(sal_log, "wrote 16 maps", proc, timeout=600)  # the first of 3 row groups (one per draw)
    kill_run(proc)
    assert "resuming from" in log.read_text()
    shard = results / "saliency" / "naive-s0" / "clear" / "shard0.parquet"
    assert not shard.exists()  # only the temporary file may be there

    # 3. the dry run lists the killed jobs again (nothing incomplete is taken as complete)
    dry = snakemake(work, "-n", configfile=cfg).stdout
    assert "rule saliency:" in dry
    snakemake(work, "--unlock", configfile=cfg)

    # 4. finish; the tables equal those of the uninterrupted run
    snakemake(work, "--cores", "2", configfile=cfg)
    assert shard.exists() and not (model_dir / "resume.pt").exists()
    assert_same_tables(work, tiny_run)


@pytest.mark.e2e
def test_two_runs_from_scratch_are_identical_and_record_provenance(tmp_path, tiny_run):
    work = tmp_path / "again"
    work.mkdir()
    cfg = preset("tiny", work / "tiny.yaml")
    snakemake(work, "--cores", "2", configfile=cfg)
    assert_same_tables(work, tiny_run, byte_identical=True)
    import json

    import pyarrow.parquet as pq

    for rel in ("data/manifest.parquet", "stats/distances.parquet"):
        meta = json.loads(pq.read_schema(work / "results" / rel).metadata[b"blurfocus.provenance"])
        assert meta["versions"]["torch"] == torch.__version__.split("+")[0]
        assert "seeds" in meta
    prov = json.loads((work / "results" / "provenance.json").read_text())
    assert prov["seeds"]["training"] == [0, 1] and "device" in prov and "versions" in prov
    html = (work / "results" / "report.html").read_text()
    assert "torch" in html and "seeds" in html.lower()
