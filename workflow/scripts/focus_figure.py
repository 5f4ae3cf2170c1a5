"""The study's Figure 3 for one blur variant: maps and top-k focus, naive/expert x clear/blurred."""

import json

import pandas as pd
import pyarrow.dataset as ds

from blurfocus import data, figures, ingest, mapstore, selection
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    variant = sm.wildcards.variant
    models = json.loads(p.models)
    rows = selection.select_images(ingest.load_split(pd.read_parquet(sm.input.manifest), "test"), p.limit_per_class)
    pick = figures.pick_examples(rows, p.per_class)
    ids = pick["image_id"].tolist()
    dataset = ds.dataset(list(sm.input.shards), format="parquet")
    table = dataset.to_table(filter=(ds.field("draw") == 0) & ds.field("image_id").isin(ids))
    maps = mapstore.read_maps(table)
    meta = table.select(["image_id", "model", "variant", "topk_rows", "topk_cols"]).to_pandas()
    images = {"clear": data.open_images(sm.input.clear_images), variant: data.open_images(sm.input.blurred_images)}
    index = dict(zip(pick["image_id"], pick["split_index"]))
    panels = {}
    for i, r in meta.iterrows():
        panels[(r["image_id"], r["model"], r["variant"])] = {
            "image": images[r["variant"]][index[r["image_id"]]],
            "map": maps[i], "rows": r["topk_rows"], "cols": r["topk_cols"],
        }
    figures.focus_figure(panels, ids, models, ["clear", variant], sm.output[0], p.percentile, p.dpi)
    log(f"figure of {len(ids)} images written")


run_job(snakemake, main)  # noqa: F821
