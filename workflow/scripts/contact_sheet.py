"""Contact sheet: clear and blurred versions of a few test images."""

import json

from blurfocus import data, figures, ingest
from blurfocus.runtime import run_job


def main(sm, log):
    variants = json.loads(sm.params.variants)
    rows = ingest.load_split(sm.input.manifest, "test")
    pick = figures.pick_examples(rows, sm.params.per_class)
    idx = pick["split_index"].to_numpy()
    images = {v: data.open_images(path)[idx] for v, path in zip(variants, sm.input.arrays)}
    titles = [f"{c}\n{i}" for c, i in zip(pick["class_name"], pick["image_id"])]
    figures.contact_sheet(images, titles, sm.output[0], dpi=sm.params.dpi)


run_job(snakemake, main)  # noqa: F821
