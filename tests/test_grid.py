"""Training arms and the arms x test-variants grid: arm naming, the design read from the config,
and the grid's statistics against independent computations (scipy, hand-worked examples)."""

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from blurfocus import arms, blur, evaluate, grid, ids, modeltests, stats
from blurfocus.config import ConfigError, validate_config
from helpers import REPO

# ---------------------------------------------------------------------------- arms


def test_the_original_two_arms_in_both_spellings():
    two = {"naive": "clear", "expert": "blur"}
    assert arms.training_arms("blur", ["blur"]) == two
    assert arms.training_arms(["clear", "blur"], ["blur"]) == two
    assert arms.training_arms(["blur"], ["blur"]) == two  # naive is always trained (the reference)
    assert arms.training_arms(None, ["blur", "other"]) == two
    assert list(arms.training_arms(["blur", "clear"], ["blur"])) == ["naive", "expert"]  # naive first


def test_several_arms_are_named_in_order():
    got = arms.training_arms(["clear", "g", "d", {"arm": "ctl", "variant": "n"}], ["g", "d", "n"])
    assert got == {"naive": "clear", "expert": "g", "expert_d": "d", "ctl": "n"}
    assert list(got) == ["naive", "expert", "expert_d", "ctl"]
    assert arms.blurred_arms(got) == ["expert", "expert_d", "ctl"]
    # a named expert need not come first
    named = arms.training_arms(["d", {"arm": "expert", "variant": "g"}], ["g", "d"])
    assert named == {"naive": "clear", "expert_d": "d", "expert": "g"}


@pytest.mark.parametrize("train, fragment", [
    (["clear", "nope"], "blur.train[1]: 'nope' is not a defined blur variant"),
    ([{"arm": "expert", "variant": "g"}, {"arm": "expert", "variant": "d"}], "the arm 'expert' is named twice"),
    (["g", "g"], "'g' already has an arm (expert)"),
    ([{"arm": "naive", "variant": "g"}], "'naive' is the clear arm's name"),
    ([{"arm": "shuffled", "variant": "g"}, "d"], "taken by the sanity check"),
    ("clear", "'clear' alone gives no expert"),
    ([{"arm": "a", "variant": "g"}], "no arm is called 'expert'"),
    ([{"arm": "x y", "variant": "g"}], "use letters, digits and _"),
    ([{"arm": "clr", "variant": "clear"}, "g"], "the clear arm is called 'naive'"),
])
def test_bad_arms_are_named(train, fragment):
    with pytest.raises(arms.ArmsError) as err:
        arms.training_arms(train, ["g", "d"])
    assert fragment in str(err.value)


def test_config_validation_reports_bad_arms():
    with pytest.raises(ConfigError) as err:
        validate_config({"blur": {"train": ["clear", "missing"]}})
    assert "blur.train[1]: 'missing' is not a defined blur variant" in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate_config({"blur": {"train": [{"arm": "a", "variant": "blur", "extra": 1}]}})
    assert "blur.train" in str(err.value)
    ok = validate_config({"blur": {"train": ["clear", "blur"]}})
    assert ok["blur"]["train"] == ["clear", "blur"]


def test_is_control():
    assert blur.is_control({"kind": "gaussian_noise", "sigma": 0.1})
    assert blur.is_control([{"kind": "translate", "dx": 2, "dy": 0}, {"kind": "gaussian_noise", "sigma": 0.1}])
    assert not blur.is_control([{"kind": "gaussian_blur", "sigma": 2}, {"kind": "gaussian_noise", "sigma": 0.02}])
    assert not blur.is_control({"kind": "motion_blur", "radius": 5, "sigma": 2})


# ---------------------------------------------------------------------------- design


def _design(preset: str) -> grid.GridDesign:
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw["blur"] = yaml.safe_load((REPO / "presets" / f"{preset}.yaml").read_text())["blur"]
    cfg = validate_config(raw)
    return grid.GridDesign.from_config(cfg, arms.training_arms(cfg["blur"]["train"], list(cfg["blur"]["variants"])))


def test_design_of_the_presets():
    default = grid.GridDesign.from_config(validate_config({}), {"naive": "clear", "expert": "blur"})
    assert default.sweeps == [] and default.controls == [] and grid.all_claims(default) == []
    dose = _design("dose-response")
    (sweep,) = dose.sweeps
    assert sweep.variants == ("gauss_0p5", "gauss_1", "gauss_2", "gauss_3", "gauss_4")
    assert sweep.strengths == (0.5, 1, 2, 3, 4) and dose.strength("gauss_3") == 3 and dose.strength("clear") == 0
    assert [c.claim_id for c in grid.all_claims(dose)] == [
        "trend_accuracy:naive:gauss", "trend_accuracy:expert:gauss", "trend:naive:gauss", "trend:expert:gauss"]
    kinds = _design("blur-kinds")
    assert list(kinds.arms) == ["naive", "expert", "expert_defocus", "expert_motion", "expert_control"]
    assert kinds.controls == ["control"] and kinds.kinds == ["gauss", "defocus", "motion", "control"]
    claims = {c.claim_id: c for c in grid.all_claims(kinds)}
    assert sorted(k for k in claims if k.startswith("specificity")) == [
        "specificity:expert", "specificity:expert_control", "specificity:expert_defocus", "specificity:expert_motion"]
    assert sorted(k for k in claims if k.startswith("control")) == [
        "control:expert:expert_control", "control:expert_defocus:expert_control", "control:expert_motion:expert_control"]
    spec = claims["specificity:expert_defocus"]
    assert spec.variants == ("defocus", "gauss", "motion", "control") and (spec.arm, spec.other) == ("naive", "expert_defocus")
    assert grid.GridDesign.from_json(kinds.to_json()) == kinds  # arm order survives the JSON param
    assert list(grid.GridDesign.from_json(kinds.to_json()).arms) == list(kinds.arms)


# ---------------------------------------------------------------------------- statistics


def test_slopes_match_scipy_linregress():
    rng = np.random.default_rng(0)
    s = np.array([0.5, 1, 2, 3, 4])
    x = rng.normal(size=(3, 5, 4))  # (R, V, M)
    got = modeltests.slopes(x, s)
    for r in range(3):
        for m in range(4):
            assert got[r, m] == pytest.approx(sps.linregress(s, x[r, :, m]).slope)


def test_own_minus_others_by_hand():
    x = np.array([[[1.0, 10.0], [3.0, 0.0], [5.0, 2.0]]])  # (R=1, V=3, M=2), own kind first
    assert modeltests.own_minus_others(x).tolist() == [[1 - 4, 10 - 1]]


def _predictions(correct: dict) -> pd.DataFrame:
    """{(model, variant): [0/1 per image]} -> prediction rows (label 0)."""
    frames = []
    for (model, variant), c in correct.items():
        c = np.asarray(c)
        frames.append(evaluate.prediction_table(model, variant, np.array([f"i{k}" for k in range(len(c))]),
                                                np.zeros(len(c), int), 1 - c))
    return pd.concat(frames, ignore_index=True)


def test_accuracy_grid_and_trend_by_hand():
    design = grid.GridDesign({"naive": "clear", "expert": "g2"}, ["g1", "g2", "g3"],
                             [grid.Sweep("g", "gaussian_blur", "sigma", ("g1", "g2", "g3"), (1.0, 2.0, 3.0))])
    models = grid.arm_model_ids(["naive", "expert"], [0, 1, 2])
    rng = np.random.default_rng(1)
    correct = {}
    for m in models["naive"]:  # accuracy falls from 1 to 0.25 over the strengths
        for v, acc in zip(["clear", "g1", "g2", "g3"], [1.0, 0.75, 0.5, 0.25]):
            correct[(m, v)] = rng.permutation([1] * int(acc * 8) + [0] * (8 - int(acc * 8)))
    for m in models["expert"]:  # holds every image
        for v in ["clear", "g1", "g2", "g3"]:
            correct[(m, v)] = np.ones(8, int)
    pred = _predictions(correct)
    acc = grid.accuracy_grid(pred, models, design, n_boot=500, seed=0)
    assert list(acc["arm"].unique()) == ["naive", "expert"]
    naive = acc[acc["arm"] == "naive"].set_index("test_variant")
    assert naive["accuracy"].tolist() == [1.0, 0.75, 0.5, 0.25]
    assert (naive["ci_low"] <= naive["accuracy"]).all() and (naive["accuracy"] <= naive["ci_high"]).all()
    expert = acc[acc["arm"] == "expert"]
    assert (expert["ci_low"] == 1).all() and (expert["ci_high"] == 1).all()
    assert acc["strength"].tolist()[:4] == [0.0, 1.0, 2.0, 3.0] and acc["n_images"].eq(8).all()
    trend = grid.accuracy_trend_tests(pred, models, design, n_boot=500, seed=0).set_index("claim_id")
    row = trend.loc["trend_accuracy:naive:g"]
    assert row["estimate"] == pytest.approx(0.25)  # minus the slope: 0.25 accuracy per px of sigma
    assert row["p"] == pytest.approx(1 / 8) and row["p_floor"] == pytest.approx(1 / 8)  # K = 3: every sign positive
    assert trend.loc["trend_accuracy:expert:g", "estimate"] == 0


def _model_data(shift: dict, floor: float = 1.0, k: int = 4, n: int = 6, seed: int = 0) -> modeltests.ModelData:
    """ModelData whose per-model shift on each variant is ``shift[arm][variant]`` + noise (px)."""
    rng = np.random.default_rng(seed)
    arm_models = grid.arm_model_ids(list(shift), range(k))
    models = [m for ms in arm_models.values() for m in ms]
    variants = list(next(iter(shift.values())))
    data = modeltests.ModelData(models, arm_models, [f"i{j}" for j in range(n)], np.zeros(n, int), {0: "cat"})
    for v in variants:
        data.shift[v] = np.stack([floor + shift[ids.parse_model_id(m)[0]][v] + rng.normal(0, 0.1, n) for m in models])
        data.floor[v] = np.full((len(models), n), floor)
        data.correct[v] = np.ones((len(models), n), bool)
    data.correct[ids.CLEAR] = np.ones((len(models), n), bool)
    return data


def test_specificity_and_control_tests():
    # naive: every kind moves the focus by 4 px; the gauss expert: 1 px on gauss, 4 on the others;
    # the noise-trained control: 4 px on gauss, 1 on noise
    shift = {"naive": {"gauss": 4.0, "defocus": 4.0, "noise": 4.0},
             "expert": {"gauss": 1.0, "defocus": 4.0, "noise": 4.0},
             "expert_noise": {"gauss": 4.0, "defocus": 4.0, "noise": 1.0}}
    data = _model_data(shift)
    design = grid.GridDesign({"naive": "clear", "expert": "gauss", "expert_noise": "noise"},
                             ["gauss", "defocus", "noise"], [], ["noise"])
    claims = grid.grid_claims(design)
    table = modeltests.model_level_tests(data, claims, n_boot=300, seed=0, subsets=["all"]).set_index("claim_id")
    floor = 1 / math.comb(8, 4)
    spec = table.loc["specificity:expert"]
    # naive's own-minus-others is 0, the expert's 1 - 4 = -3: estimate 0 - (-3) = 3
    assert spec["estimate"] == pytest.approx(3.0, abs=0.2) and spec["p"] == pytest.approx(floor)
    assert spec["ci_low"] > 0 and spec["n"] == 8
    assert table.loc["specificity:expert_noise", "estimate"] == pytest.approx(3.0, abs=0.2)
    ctrl = table.loc["control:expert:expert_noise"]  # on gauss: the control's 4 px minus the expert's 1 px
    assert ctrl["estimate"] == pytest.approx(3.0, abs=0.2) and ctrl["p"] == pytest.approx(floor)
    # the same control test when the control arm is as stable as the expert: no effect
    same = dict(shift, expert_noise={"gauss": 1.0, "defocus": 4.0, "noise": 1.0})
    t2 = modeltests.model_level_tests(_model_data(same), claims, n_boot=300, seed=0, subsets=["all"])
    row = t2.set_index("claim_id").loc["control:expert:expert_noise"]
    assert abs(row["estimate"]) < 0.3 and row["p"] > 0.05 and row["ci_low"] < 0 < row["ci_high"]


def test_focus_trend_and_shift_grid():
    strengths = (1.0, 2.0, 3.0)
    shift = {"naive": {"g1": 1.0, "g2": 2.0, "g3": 3.0}, "expert": {"g1": 0.5, "g2": 0.5, "g3": 0.5}}
    data = _model_data(shift, k=5)
    design = grid.GridDesign({"naive": "clear", "expert": "g2"}, ["g1", "g2", "g3"],
                             [grid.Sweep("g", "gaussian_blur", "sigma", ("g1", "g2", "g3"), strengths)])
    tests = modeltests.model_level_tests(data, grid.grid_claims(design), n_boot=300, seed=0, subsets=["all"])
    t = tests.set_index("claim_id")
    assert t.loc["trend:naive:g", "estimate"] == pytest.approx(1.0, abs=0.1)
    assert t.loc["trend:naive:g", "p"] == pytest.approx(1 / 32)
    assert abs(t.loc["trend:expert:g", "estimate"]) < 0.1
    sg = grid.shift_grid(data, design, n_boot=300, seed=0).set_index(["arm", "test_variant"])
    assert sg.loc[("naive", "g3"), "shift_beyond_noise"] == pytest.approx(3.0, abs=0.1)
    assert sg.loc[("naive", "g3"), "noise_floor"] == 1.0 and sg.loc[("naive", "g3"), "strength"] == 3.0
    assert sg["p_adj"].tolist() == pytest.approx(stats.adjust_pvalues(sg["p"], "holm").tolist())


def test_grid_tests_adjust_within_each_family():
    shift = {"naive": {"g1": 1.0, "g2": 2.0, "n": 3.0}, "expert": {"g1": 0.5, "g2": 0.5, "n": 3.0},
             "expert_n": {"g1": 2.0, "g2": 2.0, "n": 0.5}}
    data = _model_data(shift, k=4)
    design = grid.GridDesign({"naive": "clear", "expert": "g2", "expert_n": "n"}, ["g1", "g2", "n"],
                             [grid.Sweep("g", "gaussian_blur", "sigma", ("g1", "g2"), (1.0, 2.0))], ["n"])
    models = grid.arm_model_ids(list(design.arms), range(4))
    pred = _predictions({(m, v): np.ones(6, int) for ms in models.values() for m in ms
                         for v in ["clear", "g1", "g2", "n"]})
    out = grid.grid_tests(data, pred, models, design, n_boot=200, seed=0)
    assert list(dict.fromkeys(out["family"])) == ["dose-response", "specificity", "control"]
    for fam, g in out.groupby("adjust_family"):
        assert g["p_adj"].tolist() == pytest.approx(stats.adjust_pvalues(g["p"], "holm").tolist())
    assert set(out["adjust_family"]) == {"model-level dose-response, subset all", "model-level specificity, subset all",
                                         "model-level control, subset all"}
    # merged into the tests table without touching the study's families
    merged = pd.concat([out.assign(unit="model")])
    assert (merged["unit"] == "model").all()


def test_arms_at_chance_reads_each_arm_on_its_own_variant():
    acc = pd.DataFrame({"arm": ["naive", "expert", "ctl", "ctl"], "train_variant": ["clear", "g", "n", "n"],
                        "test_variant": ["clear", "g", "n", "clear"], "accuracy": [0.96, 0.97, 0.50, 0.90],
                        "ci_low": [0.92, 0.95, 0.46, 0.85], "ci_high": [0.99, 0.99, 0.54, 0.95]})
    assert grid.arms_at_chance(acc) == {"ctl": ("n", 0.5, 0.46, 0.54)}
    assert grid.arms_at_chance(acc.iloc[:2]) == {}
    assert grid.arms_at_chance(acc, chance=1 / 3) == {}  # three classes: 0.46 is above chance


def test_claims_about_an_arm_at_chance_are_inconclusive_and_flagged():
    from blurfocus import analysis, modeltests

    claims = [modeltests.Claim("control:expert:ctl", "", "control", "g", "ctl", other="expert"),
              modeltests.Claim("shift:naive:g", "", "shift", "g", "naive"),
              modeltests.Claim("differ:g", "", "between", "g"),
              modeltests.Claim("trend_accuracy:ctl:s", "", "trend_accuracy", "g", "ctl")]
    assert [modeltests.claim_arms(c) for c in claims] == [("ctl", "expert"), ("naive",), ("naive", "expert"), ()]
    rows = [{"unit": "model", "claim_id": c.claim_id, "subset": "all", "n": 8, "n_images": 40, "mean_diff": 3.0,
             "ci_low": 1.0, "ci_high": 5.0, "estimate_std": 1.2, "std_ci_low": 0.5, "std_ci_high": 2.0, "p": 0.001,
             "p_floor": 1 / 12870, "p_adj": 0.004, "test": "relabel_models", "family": "model",
             "comparison": c.comparison, "null": c.null, "rank": "mean"} for c in claims]
    tests = pd.DataFrame(rows)
    plain = analysis.claims_table(tests, claims, 0.05).set_index("claim_id")
    assert (plain["verdict"] == "supported").all() and (plain["arms_at_chance"] == "").all()
    at_chance = {"ctl": ("n", 0.499, 0.455, 0.545)}
    flagged = analysis.claims_table(tests, claims, 0.05, at_chance).set_index("claim_id")
    assert list(flagged.columns) == analysis.CLAIM_COLUMNS[1:]
    ctl = flagged.loc["control:expert:ctl"]
    assert ctl["verdict"] == "inconclusive" and ctl["arms_at_chance"] == "ctl"
    assert "ctl did not learn its training images (ctl on n: accuracy 0.499, CI 0.455 to 0.545" in ctl["reason"]
    assert "the test alone: supported" in ctl["reason"]
    # claims about arms that learned, and the accuracy claim of the arm at chance, keep their verdicts
    assert (flagged.drop("control:expert:ctl")["verdict"] == "supported").all()
    assert flagged.loc["trend_accuracy:ctl:s", "arms_at_chance"] == ""


