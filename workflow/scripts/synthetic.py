"""Generate the known-answer synthetic data set (see blurfocus.synthetic)."""

import json

from blurfocus import synthetic
from blurfocus.runtime import run_job


def main(sm, log):
    spec = json.loads(sm.params.spec)  # the config's dataset.synthetic section, size resolved
    synthetic.generate(sm.output.images.rsplit("/images", 1)[0], **spec, log_fn=log)


run_job(snakemake, main)  # noqa: F821
