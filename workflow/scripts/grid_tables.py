"""The arms x test-variants grid at the model level: accuracy, focus shift and between-arm
tables with Multi-Bootstrap CIs, and the dose-response / specificity / control tests."""

import json
from types import SimpleNamespace

import pandas as pd
import pyarrow.dataset as pads

from blurfocus import grid, modeltests
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    design = grid.GridDesign.from_json(p.design)
    rep = SimpleNamespace(**json.loads(p.replicates))  # seeds, draws, replicate_draws, design
    st = SimpleNamespace(**json.loads(p.stats))  # adjust, bootstrap, seed
    arm_models = grid.arm_model_ids(list(design.arms), rep.seeds)
    predictions = pd.concat([pd.read_parquet(f) for f in sm.input.predictions], ignore_index=True)
    accuracy = grid.accuracy_grid(predictions, arm_models, design, n_boot=st.bootstrap, seed=st.seed)
    accuracy.to_csv(sm.output.accuracy, sep="\t", index=False, float_format="%.6g")
    log("accuracy (mean over models):\n" + accuracy.pivot(index="arm", columns="test_variant",
                                                          values="accuracy").to_string())
    data = None
    if modeltests.has_noise_floors(len(rep.seeds), rep.draws, rep.replicate_draws):
        maps = pads.dataset(list(sm.input.shards), format="parquet").to_table(
            columns=["image_id", "label", "class_name", "model", "variant", "draw", "topk_rows", "topk_cols"]
        ).to_pandas()
        names = dict(maps.drop_duplicates("label")[["label", "class_name"]].itertuples(index=False))
        data = modeltests.build_model_data(maps, pd.read_parquet(sm.input.maps), arm_models, design.test_variants,
                                           names)
        log(f"grid data: {len(data.models)} models ({len(arm_models)} arms), {len(data.images)} images")
        shift = grid.shift_grid(data, design, n_boot=st.bootstrap, seed=st.seed, adjust=st.adjust)
        between = grid.between_grid(data, design, n_boot=st.bootstrap, seed=st.seed, adjust=st.adjust)
        log("focus shift beyond noise (px):\n" + shift.pivot(index="arm", columns="test_variant",
                                                             values="shift_beyond_noise").to_string())
    else:
        log("focus grid not computed: it needs >= 2 replicates per arm and >= 2 SmoothGrad draws on perturbed images "
            "(saliency.draws, saliency.replicate_draws) for each model's noise floor")
        shift = pd.DataFrame(columns=grid.SHIFT_GRID_COLUMNS)
        between = pd.DataFrame(columns=grid.BETWEEN_GRID_COLUMNS)
    shift.to_csv(sm.output.shift, sep="\t", index=False, float_format="%.6g")
    between.to_csv(sm.output.between, sep="\t", index=False, float_format="%.6g")
    tests = grid.grid_tests(data, predictions, arm_models, design, paired=rep.design == "paired",
                            n_boot=st.bootstrap, seed=st.seed, adjust=st.adjust)
    tests.to_csv(sm.output.tests, sep="\t", index=False, float_format="%.6g")
    for r in tests.itertuples():
        log(f"[{r.family}] {r.claim_id}: estimate {r.estimate:.3g} (CI {r.ci_low:.3g} to {r.ci_high:.3g}), "
            f"p {r.p:.3g}, p_adj {r.p_adj:.3g}")


run_job(snakemake, main)  # noqa: F821
