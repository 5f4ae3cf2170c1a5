import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from blurfocus import metrics, sanity
from blurfocus.models import Normalized


def test_spearman_abs_and_unit_scale():
    a = np.array([[1.0, -3.0], [2.0, 0.5]])
    assert sanity.spearman_abs(a, np.abs(a) * 7) == pytest.approx(1.0)
    assert np.isnan(sanity.spearman_abs(a, np.ones((2, 2))))
    np.testing.assert_allclose(sanity.unit_scale(a), [[1 / 3, 1.0], [2 / 3, 1 / 6]])


def tiny_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    return Normalized(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()


def test_cascade_layers_top_down_and_randomization_changes_maps():
    model = tiny_net()
    assert sanity.cascade_layers(model.net) == [["3"], ["0"]]
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))

    def maps_fn(m):
        inp = x.clone().requires_grad_(True)
        out = m(inp)
        (g,) = torch.autograd.grad(out[:, 0].sum(), inp)
        return g.abs().sum(1).numpy()

    before = [p.clone() for p in model.parameters()]
    table, maps = sanity.cascading_randomization(model, maps_fn, [["3"], ["0"]], seed=0, log_fn=lambda m: None)
    # the caller's model is untouched
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert list(maps) == ["trained", "3", "0"]
    assert set(table["step"]) == {0, 1, 2} and len(table) == 9
    summary = sanity.summarize(table)
    assert summary["spearman_mean"].iloc[0] == pytest.approx(1.0)
    assert summary["spearman_mean"].iloc[-1] < 0.9  # a linear model's gradient is its weights: they changed
    # the table's similarities are the independent metrics of the maps returned per step
    final = table[table["step"] == 2]
    assert final["spearman"].tolist() == pytest.approx([sanity.spearman_abs(maps["trained"][i], maps["0"][i])
                                                        for i in range(3)])


def test_cascade_steps_for_alexnet_and_a_deep_network():
    from blurfocus import models

    alex, _ = models.build_model("alexnet", "none", 2)
    steps = sanity.cascade_layers(alex.net)
    assert steps == [["classifier.6"], ["classifier.4"], ["classifier.1"], ["features.10"], ["features.8"],
                     ["features.6"], ["features.3"], ["features.0"]]
    eff, _ = models.build_model("efficientnet_lite0", "none", 2)
    steps = sanity.cascade_layers(eff.net)
    assert 4 <= len(steps) <= 12
    flat = [n for g in steps for n in g]
    owners = [n for n, m in eff.net.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    assert sorted(flat) == sorted(owners)  # every layer is randomized exactly once
    assert steps[0] == ["classifier"] or "classifier" in steps[0]
    assert sanity.step_name(["blocks.3.0.conv", "blocks.3.1.bn"]) == "blocks.3"


T = sanity.Thresholds(spearman=0.5, ssim=0.5)


def test_issue_case_spearman_above_its_threshold_is_a_red_flag():
    # issue 10: mean Spearman 0.59 with threshold 0.5 after full randomization, SSIM 0.11
    assert sanity.judge(0.59, 0.11, T) == sanity.RED_FLAG
    assert sanity.judge(0.59, 0.11, sanity.Thresholds(spearman=0.6, ssim=0.5)) == sanity.PASSED


@pytest.mark.parametrize(
    "rho, s, t_rho, t_s, expected",
    [
        (0.4, 0.4, 0.5, 0.5, "passed"),
        (0.5, 0.5, 0.5, 0.5, "passed"),  # "above" is strict
        (0.51, 0.1, 0.5, 0.5, "red flag"),
        (0.1, 0.51, 0.5, 0.5, "red flag"),  # SSIM alone flags too
        (0.9, 0.9, 1.0, 1.0, "passed"),  # 1 never flags
        (0.2, 0.3, 0.1, 0.9, "red flag"),
        (float("nan"), 0.1, 0.5, 0.5, "inconclusive"),
        (float("nan"), 0.7, 0.5, 0.5, "red flag"),
    ],
)
def test_judge_is_a_function_of_values_and_thresholds(rho, s, t_rho, t_s, expected):
    assert sanity.judge(rho, s, sanity.Thresholds(t_rho, t_s)) == expected


def test_thresholds_from_config_and_bad_values():
    from blurfocus.config import validate_config

    cfg = validate_config({"sanity": {"red_flag_spearman": 0.3}})
    t = sanity.Thresholds.from_config(cfg["sanity"])
    assert (t.spearman, t.ssim) == (0.3, cfg["sanity"]["red_flag_ssim"])
    with pytest.raises(KeyError, match="sanity.red_flag_ssim"):
        sanity.Thresholds.from_config({"red_flag_spearman": 0.5})
    with pytest.raises(ValueError, match="red_flag_ssim"):
        sanity.Thresholds(0.5, 1.5)


def test_overall_verdict():
    assert sanity.overall(["passed", "red flag", "inconclusive"]) == "red flag"
    assert sanity.overall(["passed", "inconclusive"]) == "inconclusive"
    assert sanity.overall(["passed", "passed"]) == "passed"
    assert sanity.overall([]) == "inconclusive"


def _cascade_table(finals):
    """A cascade table whose last step has, per (model, variant), the given per-image values."""
    rows = []
    for (model, variant), (rhos, ssims) in finals.items():
        for i, (r, s) in enumerate(zip(rhos, ssims)):
            rows.append((model, variant, 0, "trained", i, 1.0, 1.0))
            rows.append((model, variant, 1, "fc", i, 0.9, 0.9))
            rows.append((model, variant, 2, "conv", i, r, s))
    return pd.DataFrame(rows, columns=["model", "variant", "step", "layer", "image", "spearman", "ssim"])


def test_verdict_table_rows_per_model_variant_and_data_test():
    rng = np.random.default_rng(0)
    finals = {(m, v): (rng.uniform(0, 1, 4), rng.uniform(0, 1, 4))
              for m in ("naive-s0", "expert-s0") for v in ("clear", "blur")}
    finals["expert-s0", "blur"] = (np.array([0.59, 0.59, 0.59, 0.59]), np.array([0.11, 0.1, 0.12, 0.11]))
    finals["naive-s0", "clear"] = (np.array([0.1, 0.2, np.nan, 0.3]), np.array([0.1, 0.1, 0.1, 0.1]))
    cascade = sanity.summarize(_cascade_table(finals))
    data = pd.DataFrame({"model": "shuffled-s0", "reference": "naive-s0", "variant": ["clear"] * 3,
                         "image": range(3), "spearman": [0.2, 0.1, 0.3], "ssim": [0.2, 0.2, 0.2]})
    dsum = sanity.summarize(data).assign(train_accuracy=0.61)
    table = sanity.verdict_table(cascade, dsum, T)
    assert table["test"].tolist() == ["model_randomization"] * 4 + ["data_randomization", "overall"]
    model_rows = table[table["test"] == "model_randomization"].set_index(["model", "variant"])
    for key, (rhos, ssims) in finals.items():
        row = model_rows.loc[key]
        assert row["layer"] == "conv" and row["n"] == 4
        assert row["spearman_mean"] == pytest.approx(np.nanmean(rhos))
        assert row["ssim_mean"] == pytest.approx(np.mean(ssims))
        assert row["verdict"] == sanity.judge(np.nanmean(rhos), np.mean(ssims), T)
    assert model_rows.loc[("expert-s0", "blur"), "verdict"] == "red flag"
    assert "Spearman" in model_rows.loc[("expert-s0", "blur"), "sentence"]
    assert model_rows.loc[("naive-s0", "clear"), "n_spearman"] == 3
    d = table[table["test"] == "data_randomization"].iloc[0]
    assert (d["model"], d["reference"], d["verdict"], d["train_accuracy"]) == ("shuffled-s0", "naive-s0", "passed", 0.61)
    assert d["spearman_mean"] == pytest.approx(0.2)
    assert table.iloc[-1]["verdict"] == "red flag" and "expert-s0 on blur" in table.iloc[-1]["sentence"]
    assert (table["red_flag_spearman"] == 0.5).all() and (table["red_flag_ssim"] == 0.5).all()
    # the same measurements under looser thresholds pass (and only the thresholds changed)
    loose = sanity.verdict_table(cascade, dsum, sanity.Thresholds(1.0, 1.0))
    assert set(loose["verdict"]) == {"passed"}


def test_compare_maps_against_independent_computations():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3, 12, 12)), rng.normal(size=(3, 12, 12))
    table = sanity.compare_maps(a, b)
    stats = pytest.importorskip("scipy.stats")
    for i in range(3):
        expected = stats.spearmanr(np.abs(a[i]).ravel(), np.abs(b[i]).ravel()).statistic
        assert table["spearman"][i] == pytest.approx(expected)
        assert table["ssim"][i] == pytest.approx(metrics.ssim(np.abs(a[i]) / np.abs(a[i]).max(),
                                                             np.abs(b[i]) / np.abs(b[i]).max()))
    with pytest.raises(ValueError, match="equal shape"):
        sanity.compare_maps(a, b[:2])


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_permute_labels_keeps_class_counts_and_is_seeded(seed):
    from blurfocus import train

    labels = torch.as_tensor([0] * 30 + [1] * 20 + [2] * 5)
    out = train.permute_labels(labels, seed)
    assert torch.equal(torch.bincount(out), torch.bincount(labels))
    assert torch.equal(out, train.permute_labels(labels, seed))  # deterministic
    assert not torch.equal(out, labels)  # the labels moved
    assert (out != labels).float().mean() > 0.2
    assert not torch.equal(out, train.permute_labels(labels, seed + 100))


@pytest.mark.e2e
def test_sanity_outputs_of_the_tiny_run(tiny_run):
    """Both arms on both variants, the data test, and verdicts recomputed from the raw tables."""
    import json

    import yaml

    from blurfocus.config import validate_config
    from blurfocus.models import load_checkpoint

    results = tiny_run / "results"
    cfg = validate_config(yaml.safe_load((tiny_run / "tiny.yaml").read_text()))
    t = sanity.Thresholds.from_config(cfg["sanity"])
    cascade = pd.read_csv(results / "sanity" / "randomization.tsv", sep="\t")
    data = pd.read_csv(results / "sanity" / "data_randomization.tsv", sep="\t")
    verdicts = pd.read_csv(results / "sanity" / "verdict.tsv", sep="\t", keep_default_na=False, na_values=[""])
    assert set(zip(cascade["model"], cascade["variant"])) == {(m, v) for m in ("naive-s0", "expert-s0")
                                                               for v in ("clear", "blur")}
    assert cascade.groupby(["model", "variant"]).size().nunique() == 1
    assert (cascade.groupby(["model", "variant", "step"])["image"].count() == cfg["sanity"]["images"]).all()
    assert set(data["variant"]) == {"clear", "blur"} and set(data["model"]) == {"shuffled-s0"}
    assert set(data["reference"]) == {"naive-s0"}
    # verdicts follow from the per-image tables and the configured thresholds
    last = cascade[cascade["step"] == cascade["step"].max()]
    for (model, variant), g in last.groupby(["model", "variant"]):
        row = verdicts[(verdicts["test"] == "model_randomization") & (verdicts["model"] == model)
                       & (verdicts["variant"] == variant)].iloc[0]
        assert row["spearman_mean"] == pytest.approx(g["spearman"].mean(), abs=1e-5)
        assert row["verdict"] == sanity.judge(g["spearman"].mean(), g["ssim"].mean(), t)
    for variant, g in data.groupby("variant"):
        row = verdicts[(verdicts["test"] == "data_randomization") & (verdicts["variant"] == variant)].iloc[0]
        assert row["verdict"] == sanity.judge(g["spearman"].mean(), g["ssim"].mean(), t)
        assert 0 <= row["train_accuracy"] <= 1
    assert verdicts.iloc[-1]["verdict"] == sanity.overall(verdicts["verdict"].iloc[:-1].tolist())
    # the permuted-label model: same recipe, labels permuted (class counts kept), last epoch kept
    metrics = json.loads((results / "models" / "shuffled-s0" / "metrics.json").read_text())
    naive = json.loads((results / "models" / "naive-s0" / "metrics.json").read_text())
    assert metrics["role"] == "shuffled" and metrics["kept"] == "last" and metrics["train_variant"] == "clear"
    assert metrics["init_seed"] == naive["init_seed"] and metrics["epoch"] == cfg["training"]["epochs"]
    _, meta = load_checkpoint(str(results / "models" / "shuffled-s0" / "model.pt"), "cpu")
    assert meta["role"] == "shuffled"
    log = (results / "logs" / "train" / "shuffled-s0.log").read_text()
    assert "training labels permuted" in log
