"""Every test in one table, results/stats/tests.tsv: the original study's t-tests, the per-image
tests against matching nulls (conditional on the first replicate's weights), and the model-level
tests across replicate models (results/stats/model_values.tsv holds their per-model numbers), and
the grid's dose-response, specificity and control tests (results/grid/tests.tsv)."""

import json
from types import SimpleNamespace

import pandas as pd
import pyarrow.dataset as pads

from blurfocus import analysis, focus, ids, modeltests, robust
from blurfocus.runtime import run_job


def model_level(sm, blurs, rep, st, log):
    """Model-level tests, or an empty table when the design has one replicate or one draw."""
    if not modeltests.has_noise_floors(len(rep.seeds), rep.draws, rep.replicate_draws):
        log("model-level tests skipped: they need >= 2 replicates per arm and >= 2 draws on blurred images")
        return pd.DataFrame(columns=modeltests.MODEL_COLUMNS), pd.DataFrame()
    maps = pads.dataset(list(sm.input.shards), format="parquet").to_table(
        columns=["image_id", "label", "class_name", "model", "variant", "draw", "topk_rows", "topk_cols"]
    ).to_pandas()
    names = dict(maps.drop_duplicates("label")[["label", "class_name"]].itertuples(index=False))
    arms = {arm: [ids.model_id(arm, s) for s in rep.seeds] for arm in (ids.NAIVE, ids.EXPERT)}
    data = modeltests.build_model_data(maps, pd.read_parquet(sm.input.maps), arms, blurs, names)
    log(f"model-level data: {len(data.models)} models, {len(data.images)} images")
    table = modeltests.model_level_tests(data, modeltests.study_claims(blurs), paired=rep.design == "paired",
                                         n_boot=st.bootstrap, seed=st.seed)
    return table, modeltests.per_model_values(data, blurs)


def main(sm, log):
    p = sm.params
    blurs = json.loads(p.test_blurs)
    rep = SimpleNamespace(**json.loads(p.replicates))  # seeds, draws, replicate_draws, design
    st = SimpleNamespace(**json.loads(p.stats))  # adjust, bootstrap, resamples, seed
    distances = pd.read_parquet(sm.input.distances)
    pairs = focus.null_pairs(blurs, rep.seeds, rep.draws)
    paired = robust.pair_distances(distances, pairs)
    log(f"{len(pairs)} (comparison, null) pairs, {paired['image_id'].nunique()} images")
    table = robust.paired_test_table(paired, n_resamples=st.resamples, seed=st.seed, adjust=st.adjust)
    model_table, values = model_level(sm, blurs, rep, st, log)
    grid_tests = pd.read_csv(sm.input.grid, sep="\t", dtype={"null": str})
    tests = analysis.tests_table(pd.read_csv(sm.input.ttests, sep="\t"), table, pairs, model_table, st.adjust, grid_tests)
    tests.to_csv(sm.output.tests, sep="\t", index=False, float_format="%.6g")
    values.to_csv(sm.output.values, sep="\t", index=False, float_format="%.6g")
    for r in tests[tests["unit"] == "model"].itertuples():
        log(f"[model, {r.subset}] {r.claim_id}: estimate {r.mean_diff:.3g} (CI {r.ci_low:.3g} to {r.ci_high:.3g}), "
            f"p {r.p:.3g}, p_adj {r.p_adj:.3g}, floor {r.p_floor:.3g}")


run_job(snakemake, main)  # noqa: F821
