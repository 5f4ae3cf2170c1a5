"""Verdicts on the original study's claims and the grid's dose-response, specificity and control
claims (all at the model level), known-answer scores, and their figures."""

import json
from types import SimpleNamespace

import pandas as pd

from blurfocus import analysis, figures, grid, modeltests
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    st = SimpleNamespace(**json.loads(p.stats))  # adjust, alpha, resamples, seed
    distances = pd.read_parquet(sm.input.distances)
    tests = pd.read_csv(sm.input.tests, sep="\t", dtype={"rank": str, "null": str})
    maps = pd.read_parquet(sm.input.maps)
    blurs = json.loads(p.test_blurs)
    claim_list = modeltests.study_claims(blurs) + grid.all_claims(grid.GridDesign.from_json(p.grid))
    n_classes = pd.read_parquet(sm.input.manifest, columns=["label"])["label"].nunique()
    chance = 1.0 / n_classes
    at_chance = grid.arms_at_chance(pd.read_csv(sm.input.accuracy, sep="\t"), chance)
    for arm, (variant, acc, lo, hi) in at_chance.items():
        log(f"WARNING: {arm} did not learn its training images ({variant}: accuracy {acc:.3g}, CI {lo:.3g} to "
            f"{hi:.3g}, chance {chance:.3g}); its focus claims are inconclusive")
    claims = analysis.claims_table(tests, claim_list, st.alpha, at_chance, chance)
    claims.to_csv(sm.output.claims, sep="\t", index=False, float_format="%.6g")
    for r in claims.itertuples():
        log(f"{r.claim}: {r.verdict} ({r.reason}; estimate {r.estimate:.3g}, CI {r.ci_low:.3g} to {r.ci_high:.3g}, "
            f"p_adj {r.p_adj:.3g})")
    if p.synthetic and "shape_topk" in maps.columns:
        known = analysis.known_answer_table(maps, p.seed, st.alpha, st.resamples, st.seed, st.adjust)
    else:
        known = pd.DataFrame(columns=["variant", "measure", "naive_mean", "expert_mean", "n"])
    known.to_csv(sm.output.known, sep="\t", index=False, float_format="%.6g")
    figures.known_answer_figure(known, sm.output.known_figure, dpi=p.dpi)
    figures.null_figure(tests, distances, sm.output.null_figure, alpha=st.alpha, dpi=p.dpi)
    figures.spread_figure(maps, sm.output.spread_figure, dpi=p.dpi)


run_job(snakemake, main)  # noqa: F821
