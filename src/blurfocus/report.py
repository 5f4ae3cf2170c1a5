"""The pipeline's own report: one self-contained HTML file (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .arms import training_arms

ASSETS = Path(__file__).parent / "assets"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
table{border-collapse:collapse;font-size:13px;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #ddd;margin:.4em 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}.small{font-size:12px;color:#555}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}figure.fig{margin:1em 0}figure.fig figcaption{font-size:13px;color:#333}
"""


def asset(name: str) -> str:
    """Text of a static asset shipped with the package (``blurfocus/assets``)."""
    return (ASSETS / name).read_text()


@dataclass
class Section:
    title: str
    body: str


def esc(text: Any) -> str:
    return html.escape(str(text))


def img_tag(path: str | Path, alt: str = "") -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def figure(path: str | Path, alt: str, caption: str) -> str:
    """An embedded figure with a caption saying what to look at."""
    return f'<figure class="fig">{img_tag(path, alt)}<figcaption>{caption}</figcaption></figure>'


def fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return "n/a"
        if v != 0 and (abs(v) < 10 ** -(digits - 1) or abs(v) >= 1e6):
            return f"{v:.{max(digits - 2, 1)}e}"
        return f"{v:.{digits}g}"
    return str(v)


def table_html(df: pd.DataFrame, max_rows: int = 200, left: Sequence[str] = (), filterable: bool = False,
               html_columns: Sequence[str] = ()) -> str:
    """Any DataFrame as a sortable HTML table (click a header); text columns left-aligned.

    ``html_columns`` hold trusted HTML (e.g. links built here), not escaped."""
    cols = list(df.columns)
    head = "".join(f'<th class="{"l" if c in left else ""}">{esc(c)}</th>' for c in cols)
    body = []
    for _, row in df.head(max_rows).iterrows():
        cells = "".join(
            f'<td class="{"l" if c in left or isinstance(row[c], str) else ""}">'
            f'{row[c] if c in html_columns else esc(fmt(row[c]))}</td>' for c in cols
        )
        body.append(f"<tr>{cells}</tr>")
    more = f'<p class="small">({len(df) - max_rows} more rows in the TSV)</p>' if len(df) > max_rows else ""
    cls = "sortable filterable" if filterable else "sortable"
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def render(title: str, sections: Iterable[Section], footer: str = "") -> str:
    toc = []
    parts = []
    for i, s in enumerate(sections):
        anchor = f"s{i}"
        toc.append(f'<li><a href="#{anchor}">{esc(s.title)}</a></li>')
        parts.append(f'<h2 id="{anchor}">{esc(s.title)}</h2>\n{s.body}')
    return (
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
        f"<style>{CSS}{asset('explorer.css')}</style></head><body><h1>{esc(title)}</h1><ul>{''.join(toc)}</ul>"
        + "\n".join(parts)
        + f'<hr><p class="small">{footer}</p><script>{asset("tables.js")}</script></body></html>\n'
    )


# ----------------------------------------------------------------- sections


def config_section(config: Mapping[str, Any]) -> Section:
    ds, m, t, s = config["dataset"], config["model"], config["training"], config["saliency"]
    blurs = "".join(
        f"<li><b>{esc(name)}</b>: {esc(json.dumps(spec))}</li>" for name, spec in config["blur"]["variants"].items()
    )
    arms = training_arms(config["blur"]["train"], list(config["blur"]["variants"]))
    arm_text = ", ".join(f"<b>{esc(a)}</b> (trained on {esc(v)})" for a, v in arms.items())
    body = f"""
<p>Data: <b>{esc(ds['source'])}</b>{' at ' + esc(ds['path']) if ds['path'] else ''}, images resized and
center-cropped to {ds['image_size']}x{ds['image_size']} px, split train/val/test
{ds['split']['train']}/{ds['split']['val']}/{ds['split']['test']} (seed {ds['seed']}).</p>
<p>Training arms ({len(arms)} x {len(t['seeds'])} models): {arm_text}; every model is tested on clear and
{esc(', '.join(config['blur']['test']))}. Variants:</p><ul>{blurs}</ul>
<p>Model: <b>{esc(m['arch'])}</b>, weights {esc(m['weights'])}, trainable {esc(m['trainable'])}; {t['epochs']} epochs,
{esc(t['optimizer'])} lr {t['lr']}, batch {t['batch_size']}, weight decay {t['weight_decay']}, keep {esc(t['keep'])},
training seeds {esc(t['seeds'])}.</p>
<p>SmoothGrad: n = {s['n_samples']} noisy copies, σ = {s['sigma']} × {'(max - min) of each image' if s['sigma_range'] == 'image' else 'the [0,1] range'},
noise added in pixel space [0, 1] before normalization; target {esc(s['target'])}
{'(the maps of both classes summed, as in the original study)' if s['target'] == 'both' else ''};
mode {esc(s['mode'])}; channels reduced by {esc(s['reduce'])}; focus = top-{s['topk']} pixels.</p>
<p>Tests: p-values adjusted with <b>{esc(config['stats']['adjust'])}</b> over the {s['topk']} ranks of each comparison; alpha {config['stats']['alpha']}.</p>
<details><summary>full resolved configuration</summary><pre>{esc(json.dumps(config, indent=2, sort_keys=True))}</pre></details>
"""
    return Section("Configuration", body)


def data_section(summary: Mapping[str, Any], rejected: pd.DataFrame, contact_sheet: str | None) -> Section:
    per_split = summary["per_split"]
    rows = [[s, *[per_split[s].get(c, 0) for c in summary["classes"]], sum(per_split[s].values())] for s in per_split]
    counts = pd.DataFrame(rows, columns=["split", *summary["classes"], "total"])
    reasons = ", ".join(f"{k}: {v}" for k, v in summary["rejected_by_reason"].items()) or "none"
    body = (
        f"<p>{summary['found']} files found, <b>{summary['used']} used</b>, <b>{summary['rejected']} rejected</b>"
        f" ({esc(reasons)})."
        f" Converted to RGB: {esc(summary['converted_to_rgb'] or 'none')}; upscaled (smaller than the input): "
        f"{summary['upscaled']}; exact duplicates kept in one split: {summary['duplicates']}.</p>"
        + table_html(counts, left=["split"])
    )
    if len(rejected):
        body += "<p>Rejected files (first 20; all in results/data/rejected.tsv):</p>" + table_html(
            rejected.head(20), left=["path", "reason"]
        )
    if contact_sheet:
        body += "<p>Clear and blurred test images:</p>" + img_tag(contact_sheet, "contact sheet")
    return Section("Data", body)


def accuracy_section(acc: pd.DataFrame, heatmap: str, curves: str) -> Section:
    pivot = acc.pivot_table(index=["model", "train_variant"], columns="test_variant", values="accuracy", sort=False)
    cols = ["clear"] + [c for c in pivot.columns if c != "clear"]
    pivot = pivot[cols].reset_index()
    body = (
        "<p>Test accuracy of every model (rows) on clear and blurred test images (columns), a table the original "
        "study did not report:</p>"
        + table_html(pivot, left=["model", "train_variant"])
        + figure(heatmap, "accuracy", "The same accuracies as a heatmap: look for the naive models' drop on blurred "
                 "images and whether the experts hold their accuracy on clear ones.")
        + figure(curves, "training curves", "Loss and accuracy per epoch, one panel per arm; the line is the median "
                 "over replicates and the band their range (dashed: training split, solid: validation split).")
        + "<details><summary>accuracy table (results/eval/accuracy.tsv)</summary>"
        + table_html(acc, max_rows=1000, left=["model", "role", "train_variant", "test_variant"]) + "</details>"
    )
    return Section("Accuracy", body)


def focus_section(focus_figures: Mapping[str, str], activation_figure: str, topk: int, percentile: float) -> Section:
    body = (
        f"<p>Figure 3 of the study: for each example, rows are the naive and expert model, columns the clear "
        f"and blurred image; left of each pair the SmoothGrad map (grayscale, clipped at its {percentile:g}th "
        f"percentile), right the map over the image with the top-{topk} focus pixels circled.</p>"
    )
    for variant, path in focus_figures.items():
        body += f"<h3>{esc(variant)}</h3>" + figure(
            path, f"focus {variant}", "Look at where the circles sit in the naive rows on clear vs blurred images "
            "and compare with the expert rows; the map explorer below shows every image this way.")
    body += (
        "<h3>Activations</h3>"
        + figure(activation_figure, "activations", "ReLU activations of the configured layers for the initial (or "
                 "pretrained), naive and expert models on one blurred test image: input, channel mean, and the most "
                 "active channels. Look at whether the expert's channels respond to the blurred shape.")
    )
    return Section("Where the models look", body)


def image_rows(tests: pd.DataFrame) -> pd.DataFrame:
    """Rows of a tests table whose unit is the image (all rows when there is no ``unit`` column)."""
    if "unit" in tests.columns:
        return tests[tests["unit"].astype(str) == "image"]
    return tests


def ttest_summary(tests: pd.DataFrame, distances: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """One row per (test, comparison) of the original study's t-tests: images, mean and median
    focus distance (px; one-sample tests) or mean difference (paired), ranks significant after
    adjustment, and the adjusted p range."""
    rows = []
    for (test, comp), g in tests.groupby(["test", "comparison"], sort=False):
        d = distances[distances["comparison"] == comp].groupby("image_id")["distance"].mean()
        rows.append({
            "test": test, "comparison": comp,
            "images": int(g["n"].max()) if "n" in g else len(d),
            "mean (px)": float(d.mean()) if test == "one_sample_t" and len(d) else float(g["mean"].mean()),
            "median (px)": float(d.median()) if test == "one_sample_t" and len(d) else float("nan"),
            "significant ranks": f"{int((g['p_adj'] < alpha).sum())} of {len(g)}",
            "smallest p_adj": float(g["p_adj"].min()), "largest p_adj": float(g["p_adj"].max()),
        })
    return pd.DataFrame(rows)


def ttest_section(tests: pd.DataFrame, distances: pd.DataFrame, alpha: float, pvalues: str, dist_fig: str) -> Section:
    summary = ttest_summary(tests, distances, alpha)
    body = (
        "<p>The original study's tests, one row per comparison (click a header to sort). One-sample t-tests "
        "of the focus distances against 0 per rank; one-sided paired t-tests that the distance due to the "
        "model exceeds the distance due to blur (mean = mean paired difference, px). The mean and median "
        "are of the per-image mean distance over ranks.</p>"
        + table_html(summary, left=["test", "comparison"])
        + '<p class="note">Focus distances are never negative, so the one-sample t-test against 0 is significant '
        "for any two maps that are not pixel-identical, including two SmoothGrad runs of the same model on the same "
        "image. These p-values reproduce the original study; they do not by themselves show a focus shift.</p>"
        + figure(pvalues, "adjusted p-values", "Adjusted p-value per focus rank, one panel per blur variant with "
                 "the study's comparisons, and the known nulls in their own panels. Look at the known nulls: "
                 "they fall below alpha as well, which is why these tests cannot say no.")
        + figure(dist_fig, "distances", "Top: distance per rank (median and interquartile range) of each study "
                 "comparison next to the SmoothGrad noise floor of the same model. Bottom: the per-image mean "
                 "distance as paired strips (one line per image). Look at how far each comparison sits above "
                 "its noise floor, not above 0.")
        + "<details><summary>all t-tests</summary>"
        + table_html(tests, max_rows=2000, left=["test", "comparison", "adjust_method", "alternative"], filterable=True)
        + "</details>"
    )
    return Section("The original study's tests", body)


def explore_link(image_id: str, a: Sequence[Any], b: Sequence[Any], text: str | None = None) -> str:
    """An HTML link that opens the map explorer on one image with panes a and b ((model, variant, draw))."""
    from urllib.parse import urlencode

    q = urlencode({"img": image_id, "a": ",".join(map(str, a)), "b": ",".join(map(str, b))})
    return f'<a href="#explore:{esc(q)}">{esc(text or image_id)}</a>'


def telling_examples(distances: pd.DataFrame, study: Sequence[tuple[str, Sequence[Any], Sequence[Any]]],
                     n: int = 3) -> dict[str, str]:
    """{comparison: links to its ``n`` images with the largest mean focus distance over ranks}."""
    out = {}
    for name, a, b in study:
        g = distances[distances["comparison"] == name]
        if g.empty:
            continue
        top = g.groupby("image_id")["distance"].mean().sort_values(ascending=False, kind="stable").head(n)
        out[name] = ", ".join(explore_link(i, a, b, f"{i} ({d:.1f} px)") for i, d in top.items())
    return out


def explorer_section(payload_json: str, examples: Mapping[str, str] | None = None) -> Section:
    """The map explorer: the embedded data (``blurfocus.explorer``) and its script."""
    ex = ""
    if examples:
        ex = ("<p>The images each study comparison moves most (mean focus distance over ranks; a click opens them "
              "here):</p><ul>" + "".join(f"<li><b>{esc(k)}</b>: {v}</li>" for k, v in examples.items()) + "</ul>")
    body = (
        "<p>Every mapped test image with the SmoothGrad map of any embedded model and draw over it. Choose two panes "
        "(model, images, draw) or a layout; the focus distance (mean over ranks of the distance between the r-th "
        "focus pixels), top-k IoU and center-of-mass shift between the panes are computed here for every image. "
        "Sort and filter the list below the panes by shift, class, correctness of each pane's model and, on the "
        "synthetic data, the known-answer cue its top-k pixels fall on; click a row to show it. The address "
        "(link to this view) reproduces the view. Maps are quantized to 8 bits (|map| / max |map|); circles "
        "mark the top-k pixels with their ranks.</p>"
        + ex
        + '<div id="bx" class="bx"></div>'
        + f'<script type="application/json" id="bx-data">{payload_json}</script>'
        + f"<script>{asset('explorer.js')}</script>"
    )
    return Section("Map explorer", body)


def provenance_footer(versions: Mapping[str, str], device: str, seeds: Mapping[str, Any] | None = None) -> str:
    v = ", ".join(f"{k} {val}" for k, val in sorted(versions.items()))
    s = ", ".join(f"{k} {val}" for k, val in (seeds or {}).items())
    return f"Produced by blurfocus on {esc(device)}; {esc(v)}. Seeds: {esc(s)} (also in results/provenance.json)."


def claims_section(claims: pd.DataFrame, tests: pd.DataFrame, alpha: float, null_figure: str,
                   examples: Mapping[str, str] | None = None, claims_figure: str | None = None) -> Section:
    """The study's claims with their model-level verdicts, the per-image and the original tests."""
    per_image = image_rows(tests)
    cal = per_image[(per_image["family"] == "per-image") & (per_image["test"] == "wilcoxon")] \
        if "family" in per_image else per_image.iloc[:0]
    p_col = "p_adj" if "p_adj" in tests.columns else "p_holm"
    known_rows = []
    if "known_null" in cal.columns:
        for (comp, null), g in cal[cal["known_null"].astype(str).isin(["True", "true", "1"])].groupby(
                ["comparison", "null"], sort=False):
            orig = per_image[(per_image["family"] == "original") & (per_image["comparison"] == comp)
                             & (per_image["test"] == "one_sample_t")]
            known_rows.append({
                "comparison (no effect by construction)": comp, "null": null,
                "calibrated Wilcoxon: significant": f"{int((g[p_col] < alpha).sum())} of {len(g)}",
                "original t-test: significant ranks": f"{int((orig[p_col] < alpha).sum())} of {len(orig)}",
            })
    known_html = ""
    if known_rows:
        known_html = ("<p>Calibration on the data itself: comparisons where nothing changes (ranks and mean, "
                      "adjusted). The calibrated test should call none significant; the original t-test calls "
                      "them all significant.</p>" + table_html(pd.DataFrame(known_rows), left=["comparison (no effect by construction)", "null"]))
    seeds = cal[(cal["rank"].astype(str) == "mean") & cal["comparison"].str.contains("-s\\d+-vs-", regex=True)] \
        if len(cal) else cal
    seed_html = ""
    if len(seeds):
        cols = [c for c in ("comparison", "null", "median_diff", "ci_low", "ci_high", p_col) if c in seeds.columns]
        seed_html = ("<p>Training-seed replicates (two models trained in the same condition), per-image tests "
                     "against their null:</p>" + table_html(seeds[cols], left=["comparison", "null"]))
    show = claims.copy()
    html_cols: list[str] = []
    if examples:
        def links(row: pd.Series) -> str:
            text = " ".join(str(v) for v in row.to_numpy() if isinstance(v, str))
            for name, html_links in examples.items():
                if name in text:
                    return html_links
            return ""

        show["examples (open in the explorer)"] = show.apply(links, axis=1)
        html_cols = ["examples (open in the explorer)"]
    main_cols = ["claim", "unit", "n_models", "n_images", "estimate", "ci_low", "ci_high", "estimate_std", "effect",
                 "p_adj", "p_floor", "verdict", "reason", "both_correct_p_adj", "p_per_image", "p_original"]
    show = show[[c for c in main_cols if c in show.columns] + html_cols]
    text_cols = [c for c in show.columns if not pd.api.types.is_numeric_dtype(show[c])]
    body = (
        "<p>Each claim of the study is about a training regime, so it is tested at the <b>model level</b>: every "
        "arm has K replicate models, each model (or pair of models) is reduced to one number, and the test asks "
        "whether those numbers differ between arms, or from each model's SmoothGrad noise floor, beyond "
        "model-to-model variation (exact sign-flip and arm-relabeling tests; <i>p_floor</i> is the smallest p "
        "each can give, before the adjustment over the claims). Estimates (px for distances) have 95% "
        "Multi-Bootstrap intervals resampling models and images; <i>estimate_std</i> is the estimate in "
        "model-to-model standard deviations. A claim is <i>supported</i> only when the adjusted p &lt; alpha "
        "and the interval excludes 0 on the claimed side.</p>"
        "<p><i>both_correct_p_adj</i>: the same test on the images every model involved classifies correctly. "
        "<i>p_per_image</i>: the per-image Wilcoxon test on the first replicate against its matching null; it is "
        "conditional on those trained weights and says nothing about the training regime. <i>p_original</i>: the "
        "study's one-sample t-test (median adjusted p over ranks), significant for any two maps that are not "
        "identical. All columns are in results/stats/claims.tsv; click a header to sort.</p>"
        + table_html(show, left=text_cols, html_columns=html_cols)
        + (figure(claims_figure, "p-values per claim", "The p-values of each claim, one row per claim: look at which "
                  "side of the alpha line each test puts it, and at the verdict on the right.") if claims_figure else "")
        + known_html + seed_html
        + figure(null_figure, "comparisons and their nulls",
                 "Each comparison next to its own null, one panel per pair: the per-image mean focus distance "
                 "over ranks of the comparison and of the null, one line per image (paired), with the adjusted "
                 "p-value of the calibrated test. A real effect shows most lines rising from null to comparison; "
                 "the known nulls (green) should not.")
        + "<details><summary>all tests (results/stats/tests.tsv)</summary>"
        + table_html(tests, max_rows=3000, left=["family", "test", "comparison", "null", "adjust_method",
                                                  "alternative", "method"], filterable=True)
        + "</details>"
    )
    return Section("The study's claims, tested at the level they are made", body)


def known_answer_section(known: pd.DataFrame, figure: str) -> Section | None:
    if known.empty:
        return None
    shape = known[(known["measure"] == "shape_topk")]
    lines = "".join(
        f"<li>{esc(r.variant)} images: top-k pixels in the shape cue {r.expert_mean:.0%} for the expert vs "
        f"{r.naive_mean:.0%} for the naive model (difference {r.mean_diff_expert_minus_naive:+.0%}, 95% CI "
        f"{r.ci_low:+.0%} to {r.ci_high:+.0%}, adjusted p {fmt(r.p_adj)}).</li>"
        for r in shape.itertuples()
    )
    tex = known[(known["measure"] == "texture_topk")]
    lines += "".join(
        f"<li>{esc(r.variant)} images: top-k pixels in the texture cue {r.naive_mean:.0%} for the naive model vs "
        f"{r.expert_mean:.0%} for the expert.</li>"
        for r in tex.itertuples()
    )
    body = (
        "<p>The synthetic images carry a texture cue that blur erases and a shape cue that survives it, with "
        "ground-truth masks. The expected answer: the expert, trained on blurred images, focuses on the shape "
        "far more than the naive model does.</p><ul>" + lines + "</ul>"
        + img_tag(figure, "known answer")
        + '<p class="small">Fraction of top-k pixels on each cue, naive vs expert, per test variant: look for the '
        "naive bars on the texture cue on clear images and the expert bars on the shape cue.</p>"
        + table_html(known, left=["variant", "measure"])
    )
    return Section("Known answer (synthetic data)", body)


def metrics_section(pairs: pd.DataFrame, spread: str) -> Section:
    summary = pairs.groupby(["comparison", "kind"], sort=False)[["topk_iou", "matched_distance", "spearman", "com_shift"]].mean()
    summary = summary.reset_index()
    body = (
        "<p>Set-level focus metrics, mean over images: top-k intersection over union, mean distance between the "
        "two top-k sets under optimal one-to-one matching (px), Spearman correlation of the full maps, shift of "
        "the maps' center of mass (px).</p>"
        + table_html(summary, left=["comparison", "kind"])
        + figure(spread, "spread of the maps", "Normalized entropy and Gini of the maps, one panel per test variant: "
                 "boxes are the first replicate's images, dots each replicate's median. A more spread-out focus "
                 "has higher entropy and lower Gini.")
    )
    return Section("Focus metrics", body)


def sanity_section(verdicts: pd.DataFrame, path: str) -> Section:
    """The sanity checks of results/sanity/verdict.tsv: one row per test with its verdict by the
    configured thresholds, and the overall sentence."""
    overall = verdicts[verdicts["test"] == "overall"]
    sentence = str(overall["sentence"].iloc[0]) if len(overall) else ""
    cls = "note" if sentence.upper().startswith("RED FLAG") else ""
    cols = [c for c in ("test", "model", "reference", "variant", "n", "spearman_mean", "ssim_mean", "red_flag_spearman",
                        "red_flag_ssim", "verdict", "train_accuracy") if c in verdicts.columns]
    rows = verdicts[verdicts["test"] != "overall"][cols]
    body = (
        "<p>Two checks of Adebayo et al. (2018). <b>Model randomization</b>: the layers of the first naive and "
        "expert replicates are re-initialized from the top down, cumulatively, and the maps of the same images "
        "(clear and blurred, the same SmoothGrad noise) are recomputed. <b>Data randomization</b>: a model trained "
        "on permuted labels, from the first naive replicate's own seeds (same initialization and data order, only "
        "the labels differ), is mapped on the same images and compared with that model, map by map. Maps that "
        "stay similar (mean Spearman of the absolute maps or mean SSIM above the configured thresholds "
        "sanity.red_flag_spearman and sanity.red_flag_ssim) do not explain the model: a red flag.</p>"
        f'<p class="{cls}"><b>{esc(sentence)}</b></p>' + table_html(rows, left=["test", "model", "reference", "variant", "verdict"])
        + figure(path, "sanity", "Similarity of the maps to the trained model's after each randomization step, per "
                 "arm and variant, and of the permuted-label model's maps; a method that explains the model falls "
                 "towards 0 as layers are randomized.")
    )
    return Section("Sanity checks of the saliency method", body)


def _cell(est: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{fmt(est, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def _matrix(table: pd.DataFrame, value: str, digits: int = 3) -> pd.DataFrame:
    """arm (trained on) x test variant, cells 'estimate [CI]'."""
    if table.empty:
        return pd.DataFrame()
    t = table.copy()
    t["cell"] = [_cell(e, lo, hi, digits) for e, lo, hi in zip(t[value], t["ci_low"], t["ci_high"])]
    t["arm (trained on)"] = t["arm"] + " (" + t["train_variant"] + ")"
    pivot = t.pivot_table(index="arm (trained on)", columns="test_variant", values="cell", aggfunc="first", sort=False)
    return pivot[list(dict.fromkeys(t["test_variant"]))].reset_index()


def variants_table(variants: Mapping[str, Any], image_size: int, scale_mode: str) -> pd.DataFrame:
    """Every variant's steps with their resolved parameters (pixels of the model input, or [0, 1]
    for noise), whether ImageNet-C severities were scaled to the input size, and whether it is a
    non-blur control."""
    from . import blur  # the kernels module; only its parsing is used here

    scale = blur.severity_scale(scale_mode, image_size)
    rows = []
    for name, spec in variants.items():
        steps = blur.parse_variant(spec, name, scale)
        rows.append({
            "variant": name,
            "steps": "; ".join(", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in s.as_dict().items()) for s in steps),
            "control (not a blur)": blur.is_control(spec),
        })
    note = (f"ImageNet-C severities scaled by {image_size}/224 = {scale:.3g} (blur.scale: size)" if scale_mode == "size"
            else "ImageNet-C severities at their 224 px values (blur.scale: raw)")
    out = pd.DataFrame(rows)
    out.attrs["note"] = note
    return out


def grid_section(accuracy: pd.DataFrame, shift: pd.DataFrame, between: pd.DataFrame, claims: pd.DataFrame,
                 figure_path: str, dose_figure: str | None, variants: pd.DataFrame, chance: float) -> Section:
    """Arms x test variants: accuracy and focus-shift matrices, between-arm distances, and the
    dose-response, specificity and control verdicts. ``chance``: 1 / number of classes."""
    grid_claims = claims[claims["claim_id"].astype(str).str.match(r"^(trend|trend_accuracy|specificity|control):")]
    verdict_cols = ["claim", "n_models", "estimate", "ci_low", "ci_high", "p_adj", "p_floor", "verdict", "reason"]
    control = grid_claims[grid_claims["claim_id"].str.startswith("control:")]
    from .grid import arms_at_chance  # the grid's rule: one home for "did not learn"

    control_html = "".join(
        f'<p class="note"><b>{esc(a)}</b> did not learn its training images ({esc(v)}: accuracy {fmt(acc, 3)}, '
        f"CI {fmt(lo, 3)} to {fmt(hi, 3)}, chance {fmt(chance, 3)}): comparisons with this arm say nothing about "
        "what training on its perturbation does.</p>" for a, (v, acc, lo, hi) in arms_at_chance(accuracy, chance).items())
    for r in control.itertuples():
        arm, ctrl = r.claim_id.split(":")[1:3]
        if ctrl in str(r.arms_at_chance).split(","):  # the claim's own flag (claims.tsv)
            control_html += (f'<p class="note"><b>{esc(arm)}</b> vs the non-blur control <b>{esc(ctrl)}</b>: '
                             f"{esc(r.verdict)}, uninformative: the control arm is at chance.</p>")
        elif r.verdict == "supported":
            control_html += (f"<p><b>{esc(arm)}</b>: its focus is more stable under its own blur than that of the "
                             f"non-blur control arm <b>{esc(ctrl)}</b> (estimate {fmt(r.estimate, 3)} px, CI "
                             f"{fmt(r.ci_low, 3)} to {fmt(r.ci_high, 3)}): the stability is specific to blur.</p>")
        else:
            control_html += (f'<p class="note"><b>{esc(arm)}</b> vs the non-blur control <b>{esc(ctrl)}</b>: '
                             f"{esc(r.verdict)} (estimate {fmt(r.estimate, 3)} px, CI {fmt(r.ci_low, 3)} to "
                             f"{fmt(r.ci_high, 3)}). <b>\"Blur structure\" is not shown</b>: a model trained on a "
                             "non-blur perturbation of matched strength is as stable under this blur.</p>")
    between_show = between[[c for c in ("test_variant", "arm_a", "arm_b", "n_models", "between", "within",
                                        "between_minus_within", "ci_low", "ci_high", "p", "p_adj") if c in between]]
    body = (
        "<p>Every training arm (K replicate models fine-tuned on one variant) evaluated and mapped on every test "
        "variant. Cells: the mean over the arm's models with a 95% Multi-Bootstrap interval (models within the arm "
        "and images resampled). Focus shift: the distance (px, mean over the top-k ranks) between a model's maps of "
        "the clear and the perturbed image minus that model's SmoothGrad noise floor on the perturbed image (same "
        "sigma); 0 means the perturbation moves the focus no more than redrawing the noise.</p>"
        + "<h3>Accuracy (whole test split)</h3>" + table_html(_matrix(accuracy, "accuracy"), left=["arm (trained on)"])
        + "<h3>Focus shift beyond the noise floor (px)</h3>"
        + (table_html(_matrix(shift, "shift_beyond_noise"), left=["arm (trained on)"]) if len(shift)
           else "<p>Not computed: it needs two replicates per arm and two SmoothGrad draws per perturbed image.</p>")
        + figure(figure_path, "grid", "Left: accuracy; right: focus shift beyond noise, per training arm (rows) and "
                 "test variant (columns), with the 95% interval under each value. Look along each column: the arm "
                 "trained on that variant should hold its accuracy and its focus best.")
        + (figure(dose_figure, "dose-response", "Accuracy and focus shift against the strength of the swept blur, one "
                  "line per arm with its 95% band; the trend tests are below.") if dose_figure else "")
        + "<h3>Dose-response, specificity and control tests (model level)</h3>"
        + ("<p>Trend: the least-squares slope of each model's value over the tested strengths, a sign-flip test over "
           "the arm's models. Specificity: each model's shift on the arm's own kind minus its mean shift on the other "
           "kinds, compared with the naive models' (which removes how hard each kind is for any model), exact arm "
           "relabeling. Control: on the blur expert's own blur, the non-blur control arm's shift minus the expert's. "
           "Each family is adjusted on its own (tests.tsv, adjust_family).</p>"
           + table_html(grid_claims[[c for c in verdict_cols if c in grid_claims]], left=["claim", "verdict", "reason"])
           if len(grid_claims) else
           "<p>This configuration has no strength sweep, no second perturbed arm and no control arm, so there are no "
           "dose-response, specificity or control tests (see presets/dose-response.yaml and blur-kinds.yaml).</p>")
        + control_html
        + "<details><summary>between-arm vs within-arm focus distance (results/grid/between.tsv)</summary>"
        + "<p>Mean distance between models of two arms minus mean distance between models of the same arm (px), "
          "exact arm-relabeling test, Holm over the table.</p>"
        + table_html(between_show, left=["test_variant", "arm_a", "arm_b"]) + "</details>"
        + "<details><summary>the variants (resolved parameters)</summary>"
        + f"<p>{esc(variants.attrs.get('note', ''))}</p>" + table_html(variants, left=["variant", "steps"])
        + "</details>"
    )
    return Section("Training conditions: arms x test variants", body)
