"""The blur_copies job: severity scaling and motion-kernel centring are recorded beside the
arrays (results/blur/<variant>/<split>.json), and the arrays equal the library's result."""

import json

import numpy as np
import pytest

from blurfocus import blur
from helpers import preset, snakemake

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("scale", ["size", "raw"])
def test_blur_job_records_severity_scaling(tmp_path, scale):
    cfg = preset(
        "tiny",
        tmp_path / "cfg.yaml",
        blur={
            "variants": {"m": {"kind": "motion_blur", "severity": 2}, "blur": [{"kind": "gaussian_blur", "sigma": 2.0}]},
            "sweeps": {"g": {"kind": "gaussian_blur", "param": "sigma", "values": [0.5]}},
            "train": "blur",
            "test": None,
            "scale": scale,
        },
    )
    snakemake(tmp_path, "--cores", "1", "results/blur/m/test.npy", "results/blur/g_0p5/test.npy", configfile=cfg)
    rec = json.loads((tmp_path / "results/blur/m/test.json").read_text())
    factor = 64 / 224 if scale == "size" else 1.0  # tiny.yaml: image_size 64
    assert rec["severity_scale_mode"] == scale and rec["severity_scale"] == pytest.approx(factor)
    assert rec["uses_severity"] and rec["image_size"] == 64 and rec["variant"] == "m" and rec["split"] == "test"
    step = rec["steps"][0]
    assert step["centered"] is True and step["radius"] == pytest.approx(15 * factor) and step["sigma"] == pytest.approx(5 * factor)
    log = (tmp_path / "results/logs/blur/m/test.log").read_text()
    assert f"blur.scale={scale}" in log
    # the array is the library's result for the same ids and seed
    import pandas as pd

    rows = pd.read_parquet(tmp_path / "results/data/manifest.parquet")
    ids = rows[rows["split"] == "test"].sort_values("split_index")["image_id"].tolist()
    clear = np.load(tmp_path / "results/data/clear/test.npy")
    expected = blur.degrade_uint8(clear, blur.parse_variant({"kind": "motion_blur", "severity": 2}, "m", scale=factor), ids, seed=(0, "m"))
    np.testing.assert_array_equal(np.load(tmp_path / "results/blur/m/test.npy"), expected)
    g = json.loads((tmp_path / "results/blur/g_0p5/test.json").read_text())
    assert g["steps"] == [{"kind": "gaussian_blur", "sigma": 0.5}] and not g["uses_severity"]
