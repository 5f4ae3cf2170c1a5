"""Set-level focus metrics per map (entropy, Gini, center of mass, known-answer fractions) and per
comparison (top-k IoU, matched distance, Spearman, center-of-mass shift)."""

import json

import pandas as pd
import pyarrow.dataset as pads

from blurfocus import analysis, focus, ingest, runtime, synthetic
from blurfocus.focus import Condition
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    dataset = pads.dataset(list(sm.input.shards), format="parquet")
    conditions = [Condition(m, v, d) for m, v, d in json.loads(p.sets)]
    masks = None
    if "masks" in sm.input.keys():
        test = ingest.load_split(pd.read_parquet(sm.input.manifest), "test")
        ids = test["image_id"].tolist()
        size = int(dataset.to_table(columns=["map_height"]).column(0)[0].as_py())
        tex, shp = synthetic.load_masks(sm.input.masks, ids, size)
        masks = {i: (t, s) for i, t, s in zip(ids, tex, shp)}
        log(f"ground-truth cue masks for {len(masks)} test images")
    maps = analysis.map_metrics(dataset, conditions, masks)
    seeds = {"training.seeds": json.loads(p.seeds), "saliency.draws": p.draws}
    runtime.write_parquet(maps, sm.output.maps, seeds)
    blurs, seeds = json.loads(p.test_blurs), json.loads(p.seeds)
    comparisons = focus.study_comparisons(blurs, seeds[0]) + focus.null_comparisons(["clear", *blurs], seeds, p.draws)
    pairs = analysis.pair_metrics(dataset, comparisons)
    runtime.write_parquet(pairs, sm.output.pairs, seeds)
    log("\n" + pairs.groupby("comparison", sort=False)[["topk_iou", "matched_distance", "spearman", "com_shift"]].mean().to_string())


run_job(snakemake, main)  # noqa: F821
