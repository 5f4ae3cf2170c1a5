"""Null-calibrated tests (Wilcoxon, sign-flip) of every comparison against its matching null,
next to the original study's t-tests: results/stats/tests.tsv."""

import json

import pandas as pd

from blurfocus import analysis, focus, robust
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    distances = pd.read_parquet(sm.input.distances)
    pairs = focus.null_pairs(json.loads(p.test_blurs), json.loads(p.seeds), p.draws)
    paired = robust.pair_distances(distances, pairs)
    log(f"{len(pairs)} (comparison, null) pairs, {paired['image_id'].nunique()} images")
    table = robust.paired_test_table(paired, n_resamples=p.resamples, seed=p.seed)
    tests = analysis.tests_table(pd.read_csv(sm.input.ttests, sep="\t"), table, pairs)
    tests.to_csv(sm.output[0], sep="\t", index=False, float_format="%.6g")
    for pair in pairs:
        row = tests[(tests["comparison"] == pair.comparison) & (tests["null"] == pair.null)
                    & (tests["test"] == "wilcoxon") & (tests["rank"] == "mean")]
        if len(row):
            r = row.iloc[0]
            log(f"{pair.comparison} vs {pair.null}: median diff {r['median_diff']:.2f} px, p_holm {r['p_holm']:.3g}")


run_job(snakemake, main)  # noqa: F821
