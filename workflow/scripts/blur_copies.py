"""Blurred copies of one split for one blur variant (uint8 arrays at model-input size)."""

import json
import os

import numpy as np

from blurfocus import blur, data, ingest
from blurfocus.runtime import run_job


def main(sm, log):
    steps = blur.parse_variant(json.loads(sm.params.spec), sm.wildcards.variant)
    log(f"variant {sm.wildcards.variant}: {blur.describe(steps)}")
    rows = ingest.load_split(sm.input.manifest, sm.wildcards.split)
    clear = data.open_images(sm.input.images)
    if len(rows) != len(clear):
        raise RuntimeError(f"{sm.input.images} has {len(clear)} images, the manifest {len(rows)}; rerun ingest")
    out = blur.degrade_uint8(clear, steps, rows["image_id"].tolist(), seed=(sm.params.seed, sm.wildcards.variant))
    tmp = sm.output[0] + ".tmp.npy"
    np.save(tmp, out)
    os.replace(tmp, sm.output[0])
    log(f"wrote {len(out)} images to {sm.output[0]}")


run_job(snakemake, main)  # noqa: F821
