"""Bad inputs seen by the whole workflow: the run stops at parse time with a clear message and
writes nothing."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torchvision

from helpers import REPO, SNAKEMAKE, preset


def dry_run(work: Path, cfg: Path, user: str | None = None) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(cfg), "-n"]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user if user != 'nobody' else 'nogroup'}", "--clear-groups", *cmd]
    env = {**os.environ, "HOME": str(work), "XDG_CACHE_HOME": str(work / ".cache")}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("kind", ["missing", "truncated", "pickle"])
def test_bad_weights_stop_the_run_before_any_job(tmp_path, kind):
    weights = tmp_path / "weights.pth"
    if kind == "truncated":
        torch.save(torchvision.models.alexnet(weights=None).state_dict(), weights)
        weights.write_bytes(weights.read_bytes()[:100_000])
    elif kind == "pickle":
        torch.save(torchvision.models.alexnet(weights=None), weights)  # a whole pickled model
    work = tmp_path / "work"
    work.mkdir()
    cfg = preset("tiny", work / "cfg.yaml", model={"weights": str(weights)})
    proc = dry_run(work, cfg)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "model.weights" in text and str(weights) in text
    expected = {"missing": "neither 'imagenet', 'none' nor an existing file", "truncated": "truncated",
                "pickle": "refused for safety"}[kind]
    assert expected in text, text[-2000:]
    assert not (work / "results").exists()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is needed to drop root")
def test_unwritable_results_folder_stops_at_parse():
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the unprivileged user 'nobody'")
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="bf-perm-"))  # pytest's own tmp folders are private to root
    try:
        os.chmod(base, 0o755)
        work = base / "work"
        (work / "results").mkdir(parents=True)
        (work / ".snakemake").mkdir()
        cfg = preset("tiny", work / "cfg.yaml")
        os.chmod(work, 0o777)
        os.chmod(work / ".snakemake", 0o777)
        os.chmod(work / "results", 0o555)  # read-only for everybody but root
        os.chmod(cfg, 0o644)
        proc = dry_run(work, cfg, user="nobody")
        text = proc.stdout + proc.stderr
        if "Permission denied" in text and "results folder" not in text:
            pytest.skip(f"the unprivileged user cannot read the repository or venv: {text[-500:]}")
        assert proc.returncode != 0
        assert "results folder" in text and "not writable" in text, text[-2000:]
        assert list((work / "results").iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
