"""Blurred copies of one split for one blur variant (uint8 arrays at model-input size), and a
JSON record of the resolved blur (severity scaling, motion-kernel centring)."""

import json
import os

import numpy as np

from blurfocus import blur, data, ingest
from blurfocus.runtime import run_job


def main(sm, log):
    variant = sm.wildcards.variant
    factor = blur.severity_scale(sm.params.scale, int(sm.params.image_size))
    steps = blur.parse_variant(json.loads(sm.params.spec), variant, scale=factor)
    record = blur.job_record(steps, sm.params.scale, int(sm.params.image_size))
    log(f"variant {variant}: {record['description']}")
    log(
        f"ImageNet-C severities: blur.scale={sm.params.scale} (pixel lengths x{factor:.4g}, "
        f"{sm.params.image_size} px vs {blur.REFERENCE_SIZE} px)"
        + ("" if record["uses_severity"] else "; not used by this variant")
    )
    rows = ingest.load_split(sm.input.manifest, sm.wildcards.split)
    clear = data.open_images(sm.input.images)
    if len(rows) != len(clear):
        raise RuntimeError(f"{sm.input.images} has {len(clear)} images, the manifest {len(rows)}; rerun ingest")
    out = blur.degrade_uint8(clear, steps, rows["image_id"].tolist(), seed=(sm.params.seed, variant))
    tmp = sm.output.images + ".tmp.npy"
    np.save(tmp, out)
    os.replace(tmp, sm.output.images)
    record.update(variant=variant, split=sm.wildcards.split, n_images=int(len(out)))
    with open(sm.output.record, "w") as fh:
        json.dump(record, fh, indent=1, sort_keys=True)
    log(f"wrote {len(out)} images to {sm.output.images}")


run_job(snakemake, main)  # noqa: F821
