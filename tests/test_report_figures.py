"""Figures stay readable (at most six series per panel, nothing dropped), the report's tables
and links, and the map explorer's embedded data (8-bit maps, budgeted selection)."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from blurfocus import explorer, figures, metrics, report

RNG = np.random.default_rng(7)
BLURS = ["blur", "motion"]
SEEDS = list(range(8))  # 8 replicates per arm, as the default may have


def study(b: str) -> list[str]:
    return [f"naive:clear-vs-{b}", f"expert:clear-vs-{b}", f"{b}:naive-vs-expert"]


def comparison_names() -> list[str]:
    names = [n for b in BLURS for n in study(b)] + ["clear:naive-vs-expert"]
    for v in ["clear", *BLURS]:
        for role in ("naive", "expert"):
            names += [f"{role}:{v}:draw0-vs-draw1", f"{role}:{v}:draw1-vs-draw2"]
            names += [f"{v}:{role}-s{a}-vs-{role}-s{a + 1}" for a in SEEDS[:-1]]
    return names


@pytest.fixture(scope="module")
def distances() -> pd.DataFrame:
    ids = [f"img{i:02d}" for i in range(12)]
    rows = [(c, i, r, float(RNG.gamma(2, 3))) for c in comparison_names() for i in ids for r in range(1, 6)]
    return pd.DataFrame(rows, columns=["comparison", "image_id", "rank", "distance"])


@pytest.fixture(scope="module")
def ttests(distances) -> pd.DataFrame:
    rows = []
    for c in distances["comparison"].unique():
        for r in range(1, 6):
            rows.append(("one_sample_t", c, r, 12, 3.0, 1e-3 * r, "holm"))
    for b in BLURS:
        for other in (f"naive:clear-vs-{b}", f"expert:clear-vs-{b}"):
            for r in range(1, 6):
                rows.append(("paired_t", f"{b}:naive-vs-expert>{other}", r, 12, 0.5, 0.3, "holm"))
    return pd.DataFrame(rows, columns=["test", "comparison", "rank", "n", "mean", "p_adj", "adjust_method"])


@pytest.fixture(scope="module")
def tests_tsv(distances) -> pd.DataFrame:
    rows = []
    pairs = [(c, c.replace("draw0-vs-draw1", "draw1-vs-draw2"), True) for c in comparison_names() if "draw0-vs-draw1" in c]
    pairs += [(f"naive:clear-vs-{b}", f"naive:{b}:draw0-vs-draw1", False) for b in BLURS]
    for comp, null, known in pairs:
        for rank in ["1", "2", "mean"]:
            for unit in ("image", "model"):
                rows.append(dict(family="per-image", test="wilcoxon", comparison=comp, null=null, known_null=known,
                                 rank=rank, unit=unit, p_adj=0.5, median_diff=0.1, ci_low=-1.0, ci_high=1.0))
        rows.append(dict(family="original", test="one_sample_t", comparison=comp, null="0", known_null=known,
                         rank="1", unit="image", p_adj=1e-4, median_diff=np.nan, ci_low=np.nan, ci_high=np.nan))
    rows.append(dict(family="per-image", test="wilcoxon", comparison="model-only", null="x", known_null=False,
                     rank="mean", unit="model", p_adj=0.01, median_diff=1, ci_low=0, ci_high=2))
    return pd.DataFrame(rows)


@pytest.fixture()
def captured(monkeypatch):
    """Figures handed to figures._save, kept open for inspection."""
    figs = {}

    def keep(fig, path, dpi):
        figs[str(path)] = fig

    monkeypatch.setattr(figures, "_save", keep)
    yield figs
    import matplotlib.pyplot as plt

    for fig in figs.values():
        plt.close(fig)


def series(ax) -> list[str]:
    """Labelled data series of a panel; unlabelled lines with more than two points count each."""
    labels = []
    for artist in [*ax.lines, *ax.collections, *ax.patches]:
        label = artist.get_label() or ""
        if not label.startswith("_"):
            labels.append(label)
        elif hasattr(artist, "get_xdata") and len(artist.get_xdata()) > 2:
            labels.append(f"unlabelled line {id(artist)}")
    return list(dict.fromkeys(labels))


def check_panels(fig) -> list[list[str]]:
    panels = [series(ax) for ax in fig.axes if ax.axison]
    assert panels
    for s in panels:
        assert len(s) <= figures.MAX_SERIES, s
    return panels


def test_pvalue_figure_small_multiples_keep_every_test(captured, ttests):
    figures.pvalue_figure(ttests, "p.png")
    panels = check_panels(captured["p.png"])
    drawn = [lab for s in panels for lab in s]
    expected = [c if t == "one_sample_t" else f"{c} (paired)"
                for t, c in ttests[["test", "comparison"]].drop_duplicates().itertuples(index=False)]
    assert set(drawn) == set(expected)  # every test drawn
    repeated = {lab for lab in drawn if drawn.count(lab) > 1}
    assert repeated == {"clear:naive-vs-expert"}  # only the comparison shared by every blur variant's panel
    assert len(panels) >= -(-len(expected) // figures.MAX_SERIES)
    first = panels[0]
    assert set(study("blur")) | {"clear:naive-vs-expert"} <= set(first)  # a variant's claims share a panel


def test_distance_figure_pairs_each_comparison_with_its_nulls(captured, distances):
    figures.distance_figure(distances, "d.png")
    fig = captured["d.png"]
    panels = check_panels(fig)
    titles = [ax.get_title() for ax in fig.axes[: len(fig.axes) // 2]]
    assert titles == list(dict.fromkeys(n for b in BLURS for n in [*study(b), "clear:naive-vs-expert"]))
    top = dict(zip(titles, panels))
    assert "naive:blur:draw0-vs-draw1" in top["naive:clear-vs-blur"]
    assert "clear:naive-s0-vs-naive-s1" in top["clear:naive-vs-expert"]
    # the bottom row's strips: one line per image between the comparison and its first null
    strips = fig.axes[len(titles)]
    lines = [c for c in strips.collections if c.get_label() == "one image"][0]
    assert len(lines.get_segments()) == distances["image_id"].nunique()
    per_image = distances[distances["comparison"] == "naive:clear-vs-blur"].groupby("image_id")["distance"].mean()
    assert sorted(seg[0][1] for seg in lines.get_segments()) == pytest.approx(sorted(per_image))


def test_null_figure_uses_the_per_image_rows_only(captured, tests_tsv, distances):
    figures.null_figure(tests_tsv, distances, "n.png")
    fig = captured["n.png"]
    check_panels(fig)
    titled = [ax for ax in fig.axes if ax.axison]
    image_pairs = tests_tsv[(tests_tsv["unit"] == "image") & (tests_tsv["family"] == "per-image")]
    assert len(titled) == len(image_pairs[["comparison", "null"]].drop_duplicates())
    assert not any("model-only" in ax.get_title() for ax in titled)


def test_spread_and_training_curves_summarize_replicates(captured):
    models = [f"{r}-s{s}" for r in ("naive", "expert") for s in SEEDS]
    maps = pd.DataFrame([dict(model=m, variant=v, draw=0, image_id=f"i{i}", normalized_entropy=RNG.random(),
                              gini=RNG.random()) for m in models for v in ["clear", *BLURS] for i in range(10)])
    figures.spread_figure(maps, "s.png")
    fig = captured["s.png"]
    check_panels(fig)
    assert len(fig.axes) == 2 * (1 + len(BLURS))
    dots = [c for c in fig.axes[0].collections if c.get_label() == "one replicate's median"][0]
    assert len(dots.get_offsets()) == len(models)  # every replicate's median is shown
    hist = {m: [dict(epoch=e, train_loss=RNG.random(), val_loss=RNG.random(), train_accuracy=RNG.random(),
                     val_accuracy=RNG.random()) for e in (1, 2, 3)] for m in models}
    figures.training_curves(hist, "c.png")
    fig = captured["c.png"]
    check_panels(fig)
    ax = fig.axes[1]  # loss of the second arm (expert)
    val = [ln for ln in ax.lines if ln.get_label() == "validation (median)"][0]
    expected = np.median([[h["val_loss"] for h in hist[m]] for m in models if m.startswith("expert")], 0)
    assert np.allclose(val.get_ydata(), expected)


# ----------------------------------------------------------------- report


def test_ttest_summary_is_one_row_per_test(ttests, distances):
    summary = report.ttest_summary(ttests, distances, alpha=0.05)
    assert len(summary) == len(ttests[["test", "comparison"]].drop_duplicates())
    row = summary[(summary["test"] == "one_sample_t") & (summary["comparison"] == "naive:clear-vs-blur")].iloc[0]
    per_image = distances[distances["comparison"] == "naive:clear-vs-blur"].groupby("image_id")["distance"].mean()
    assert row["mean (px)"] == pytest.approx(per_image.mean())
    assert row["median (px)"] == pytest.approx(per_image.median())
    assert row["significant ranks"] == "5 of 5"
    paired = summary[summary["test"] == "paired_t"].iloc[0]
    assert paired["significant ranks"] == "0 of 5"


def test_tables_are_sortable_and_escaped():
    df = pd.DataFrame({"name": ["<b>x</b>", "y"], "value": [1.5, 2.0], "link": ['<a href="#a">a</a>', ""]})
    html = report.table_html(df, html_columns=["link"])
    assert 'class="sortable"' in html and "<thead>" in html and "<tbody>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and '<a href="#a">a</a>' in html


def test_telling_examples_link_the_largest_distances(distances):
    name = "naive:clear-vs-blur"
    links = report.telling_examples(distances, [(name, ("naive-s0", "clear", 0), ("naive-s0", "blur", 0))], n=2)
    per_image = distances[distances["comparison"] == name].groupby("image_id")["distance"].mean()
    top = per_image.sort_values(ascending=False).index[:2]
    hrefs = re.findall(r'href="#explore:([^"]+)"', links[name])
    assert [h.split("&amp;")[0] for h in hrefs] == [f"img={t}" for t in top]
    assert "a=naive-s0%2Cclear%2C0" in hrefs[0]


def test_explorer_section_embeds_json_safely():
    payload = explorer.to_json({"images": [{"id": "a</script><script>alert(1)"}]})
    section = report.explorer_section(payload)
    assert section.body.count("</script>") == 2  # the data block's and the script's, no more
    start = section.body.index('id="bx-data">') + len('id="bx-data">')
    text = section.body[start: section.body.index("</script>", start)]
    assert json.loads(text)["images"][0]["id"] == "a</script><script>alert(1)"


# ----------------------------------------------------------------- explorer data


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_quantize_map():
    m = np.array([[0.0, -2.0], [1.0, 4.0]])
    q, top = explorer.quantize_map(m)
    assert top == 4.0 and q.dtype == np.uint8
    assert q.tolist() == [[0, 128], [64, 255]]  # round(255 * |m| / 4)
    z, zt = explorer.quantize_map(np.zeros((3, 3)))
    assert zt == 0 and not z.any()


def key(model: str, variant: str = "clear", draw: int = 0) -> explorer.ConditionKey:
    return explorer.ConditionKey(model, variant, draw)


def test_plan_fills_tiers_within_the_budget():
    avail = [key(f"{r}-s{s}", v, d) for r in ("naive", "expert") for s in range(4) for v in ("clear", "blur")
             for d in range(3 if s == 0 else 1)]
    plan = explorer.plan_conditions(avail, lambda k: 100, max_bytes=1e9, seeds=[0, 1, 2, 3])
    assert set(plan.include) == set(avail) and plan.left_out == []
    assert plan.include[:4] == sorted([key("naive-s0", v) for v in ("clear", "blur")]
                                      + [key("expert-s0", v) for v in ("clear", "blur")],
                                      key=lambda k: (k.model, k.variant))  # first replicate, draw 0 first
    # 4 (s0 draw 0) + 4 (s1) + 4 (s2) = 12 map sets fit in 1500 bytes, s3 does not, nor anything after it
    plan = explorer.plan_conditions(avail, lambda k: 100, max_bytes=1500, seeds=[0, 2, 1, 3])
    assert {k.model for k in plan.include} == {f"{r}-s{s}" for r in ("naive", "expert") for s in (0, 1, 2)}
    assert len(plan.include) == 12 and all(k.draw == 0 for k in plan.include)
    assert [k.model for k in plan.include[4:6]] == ["expert-s2", "expert-s2"]  # seeds in the given order
    assert any("replicates s3, draw 0" in line and "max_mb" in line for line in plan.left_out)
    assert any("draws 1+" in line and "max_mb" in line for line in plan.left_out)
    # with room for them, the first replicate's other draws come after every replicate's draw 0
    plan = explorer.plan_conditions(avail, lambda k: 100, max_bytes=2400, seeds=[0, 1, 2, 3])
    assert len(plan.include) == 24 and all(k.draw == 0 for k in plan.include[:16])
    # the first replicate's draw 0 always goes in, even over the budget
    plan = explorer.plan_conditions(avail, lambda k: 100, max_bytes=1)
    assert len(plan.include) == 4 and all(k.draw == 0 and k.model.endswith("s0") for k in plan.include)
    plan = explorer.plan_conditions(avail, lambda k: 100, max_bytes=1e9, replicates=2, draws="none")
    assert {k.model for k in plan.include} == {"naive-s0", "expert-s0", "naive-s1", "expert-s1"}
    assert all(k.draw == 0 for k in plan.include) and len(plan.left_out) == 2
    with pytest.raises(ValueError, match="report.explorer.draws"):
        explorer.plan_conditions(avail, lambda k: 1, 1, draws="some")


def test_payload_round_trips_maps_focus_and_cues():
    n, size, k = 3, 8, 4
    rows = pd.DataFrame({"image_id": ["a", "b", "c"], "label": [0, 1, 1], "class_name": ["cat", "dog", "dog"]})
    maps = RNG.random((n, size, size)).astype(np.float32)
    tr = [RNG.choice(size * size, k, replace=False) for _ in range(n)]
    table = pd.DataFrame({"image_id": ["c", "a", "b"], "label": [1, 0, 1], "pred": [1, 1, 1],
                          "topk_rows": [t // size for t in tr], "topk_cols": [t % size for t in tr]})
    pictures = {"clear": RNG.integers(0, 256, (n, size, size, 3), dtype=np.uint8)}
    tex = np.zeros((n, size, size), bool)
    tex[:, :4] = True
    shp = ~tex
    cond = key("naive-s0")
    plan = explorer.Plan(include=[cond])
    payload = explorer.build_payload(rows, ["cat", "dog"], ["clear"], pictures, {cond: (table, maps)}, plan, k,
                                     masks=(tex, shp))
    json.loads(explorer.to_json(payload))
    c = payload["conditions"][0]
    for page_i, image_id in enumerate(rows["image_id"]):
        j = table.index[table["image_id"] == image_id][0]  # the table's row of this image
        assert np.array_equal(decode(c["png"][page_i]), explorer.quantize_map(maps[j])[0])
        assert c["topk"][page_i][0::2] == table["topk_rows"][j].tolist()
        assert c["topk"][page_i][1::2] == table["topk_cols"][j].tolist()
        assert c["com"][page_i] == pytest.approx(metrics.center_of_mass(maps[j]).tolist(), abs=1e-3)
        assert c["cue"]["texture"][page_i] == pytest.approx(np.mean(table["topk_rows"][j] < 4))
        assert c["cue"]["shape"][page_i] == pytest.approx(1 - np.mean(table["topk_rows"][j] < 4))
        assert c["pred"][page_i] == 1
        assert np.array_equal(decode(payload["pictures"]["clear"][page_i]), pictures["clear"][page_i])
        assert np.array_equal(decode(payload["masks"][page_i]), np.where(tex[page_i], 1, 2))
    assert len(payload["lut"]) == 768


def test_claims_figure_one_row_per_claim(captured):
    claims = pd.DataFrame({"claim": [f"claim {i}" for i in range(5)], "p_original": [1e-6, 0.2, 0.01, 1.0, 0.04],
                           "p_calibrated": [0.5, 0.01, 0.9, 1.0, np.nan], "p_text": ["x"] * 5,
                           "verdict": ["supported", "not supported", "inconclusive", "n/a", "n/a"]})
    figures.claims_figure(claims, "k.png", alpha=0.05)
    fig = captured["k.png"]
    ax = fig.axes[0]
    assert series(ax) == ["p_original", "p_calibrated"]  # numeric p columns only
    pts = {c.get_label(): c.get_offsets() for c in ax.collections}
    assert np.allclose(pts["p_original"][:, 0], claims["p_original"])
    order = np.argsort(-pts["p_original"][:, 1])  # rows from the top = claims in table order
    assert np.array_equal(order, np.arange(5))
    at = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]))
    assert [at[y] for y in sorted(at, reverse=True)] == claims["claim"].tolist()  # top to bottom


def test_grid_section_names_arms_at_chance_from_the_claims_and_the_chance_level(tmp_path):
    png = tmp_path / "grid.png"
    Image.new("RGB", (4, 4)).save(png)
    acc = pd.DataFrame({"arm": ["naive", "expert", "ctl"], "train_variant": ["clear", "g", "n"],
                        "test_variant": ["clear", "g", "n"], "accuracy": [0.96, 0.97, 0.34],
                        "ci_low": [0.92, 0.95, 0.30], "ci_high": [0.99, 0.99, 0.38]})
    claims = pd.DataFrame({"claim_id": ["control:expert:ctl", "control:expert:other"], "claim": ["c1", "c2"],
                           "n_models": [5, 5], "estimate": [0.1, -0.2], "ci_low": [-1.0, -1.1],
                           "ci_high": [1.0, 0.9], "p_adj": [0.5, 0.6], "p_floor": [0.004, 0.004],
                           "verdict": ["inconclusive", "not supported"], "reason": ["r1", "r2"],
                           "arms_at_chance": ["ctl", np.nan]})  # as read back from claims.tsv
    empty = pd.DataFrame()
    variants = pd.DataFrame({"variant": ["g"], "steps": ["gaussian_blur"]})
    html = report.grid_section(acc, empty, empty, claims, str(png), None, variants, chance=1 / 3).body
    assert "did not learn its training images (n: accuracy 0.34, CI 0.3 to 0.38, chance 0.333)" in html
    assert "<b>expert</b> vs the non-blur control <b>ctl</b>: inconclusive, uninformative" in html
    assert "<b>other</b>: inconclusive" not in html and "\"Blur structure\" is not shown" in html
    # four classes: the same arm (CI 0.30 to 0.38) is above chance, and no note names it
    assert "did not learn" not in report.grid_section(acc, empty, empty, claims.iloc[1:], str(png), None,
                                                      variants, chance=0.25).body
