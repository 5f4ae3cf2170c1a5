"""The map explorer's embedded data (results/explorer/explorer.json) from the saliency shards."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from blurfocus import data, explorer, focus, ingest, mapstore, synthetic
from blurfocus.runtime import run_job

COLUMNS = ["image_id", "label", "model", "variant", "draw", "pred", "topk_rows", "topk_cols", "map_height", "map_width"]


def main(sm, log):
    p = sm.params
    e = json.loads(p.explorer)  # report.explorer, defaults filled by config validation
    variants, seeds = json.loads(p.variants), json.loads(p.seeds)
    dataset = ds.dataset(list(sm.input.shards), format="parquet")
    index = dataset.to_table(columns=["model", "variant", "draw", "image_id"]).to_pandas()
    test = ingest.load_split(pd.read_parquet(sm.input.manifest), "test")
    mapped = set(index["image_id"])
    rows = test[test["image_id"].isin(mapped)].sort_values(["label", "split_index"])
    if e["images_per_class"]:
        rows = rows.groupby("label", sort=True).head(e["images_per_class"])
    rows = rows.reset_index(drop=True)
    classes = test.drop_duplicates("label").sort_values("label")["class_name"].tolist()
    arrays = dict(zip(variants, sm.input.arrays))
    pictures = {v: np.asarray(data.open_images(arrays[v])[rows["split_index"].to_numpy()]) for v in variants}

    conditions = {}
    for (model, variant, draw), _ in index.groupby(["model", "variant", "draw"], sort=True):
        key = explorer.ConditionKey(model, variant, int(draw))
        table = dataset.to_table(
            columns=COLUMNS + ["map"],
            filter=(ds.field("model") == model) & (ds.field("variant") == variant) & (ds.field("draw") == int(draw)),
        )
        conditions[key] = (table.drop(["map"]).to_pandas(), mapstore.read_maps(table))
    costs = {k: explorer.estimate_condition_bytes(m) for k, (_, m) in conditions.items()}
    fixed = sum(len(explorer.b64_png(x)) for v in variants for x in pictures[v][:4]) * len(rows) // 4
    plan = explorer.plan_conditions(conditions, costs.__getitem__, e["max_mb"] * 1e6, seeds, e["replicates"],
                                    e["draws"], fixed_bytes=fixed)
    log(f"{len(rows)} images, {len(plan.include)} of {len(conditions)} map sets embedded")
    for line in plan.left_out:
        log(f"left out: {line}")

    study = [(c.name, explorer.ConditionKey(c.a.model, c.a.variant, c.a.draw),
              explorer.ConditionKey(c.b.model, c.b.variant, c.b.draw))
             for c in focus.study_comparisons(variants[1:], seeds[0])]
    pre = explorer.precomputed_distances(pd.read_parquet(sm.input.distances), study, rows["image_id"].tolist())
    masks = None
    if "masks" in sm.input.keys():
        masks = synthetic.load_masks(sm.input.masks, rows["image_id"].tolist(), pictures["clear"].shape[1])
    settings = {k: e[k] for k in ("replicates", "draws", "max_mb", "opacity", "clip")}
    payload = explorer.build_payload(rows, classes, variants, pictures, conditions, plan, p.topk, pre, masks, settings)
    text = explorer.to_json(payload)
    Path(sm.output[0]).parent.mkdir(parents=True, exist_ok=True)
    Path(sm.output[0]).write_text(text)
    log(f"explorer data written ({len(text) / 1e6:.2f} MB)")


run_job(snakemake, main)  # noqa: F821
