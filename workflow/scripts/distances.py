"""Per-rank focus distances of the study's comparisons, from the saliency Parquet shards."""

import json

import pyarrow.dataset as ds

from blurfocus import focus, runtime
from blurfocus.runtime import run_job


def main(sm, log):
    maps = ds.dataset(list(sm.input), format="parquet").to_table(
        columns=["image_id", "model", "variant", "draw", "topk_rows", "topk_cols"]
    ).to_pandas()
    blurs, seeds = json.loads(sm.params.test_blurs), json.loads(sm.params.seeds)
    comparisons = focus.study_comparisons(blurs, seeds[0]) + focus.null_comparisons(
        ["clear", *blurs], seeds, sm.params.draws
    )
    table = focus.distance_table(maps, comparisons)
    runtime.write_parquet(table, sm.output[0], {"training.seeds": seeds, "saliency.draws": sm.params.draws})
    summary = table.groupby("comparison")["distance"].agg(["count", "mean", "median"])
    log("\n" + summary.to_string())


run_job(snakemake, main)  # noqa: F821
