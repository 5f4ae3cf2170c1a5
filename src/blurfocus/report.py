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

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
table{border-collapse:collapse;font-size:13px;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #ddd;margin:.4em 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}.small{font-size:12px;color:#555}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}
"""


@dataclass
class Section:
    title: str
    body: str


def esc(text: Any) -> str:
    return html.escape(str(text))


def img_tag(path: str | Path, alt: str = "") -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return "n/a"
        if v != 0 and (abs(v) < 10 ** -(digits - 1) or abs(v) >= 1e6):
            return f"{v:.{max(digits - 2, 1)}e}"
        return f"{v:.{digits}g}"
    return str(v)


def table_html(df: pd.DataFrame, max_rows: int = 200, left: Sequence[str] = ()) -> str:
    cols = list(df.columns)
    head = "".join(f'<th class="{"l" if c in left else ""}">{esc(c)}</th>' for c in cols)
    body = []
    for _, row in df.head(max_rows).iterrows():
        cells = "".join(
            f'<td class="{"l" if c in left or isinstance(row[c], str) else ""}">{esc(fmt(row[c]))}</td>' for c in cols
        )
        body.append(f"<tr>{cells}</tr>")
    more = f'<p class="small">({len(df) - max_rows} more rows in the TSV)</p>' if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def render(title: str, sections: Iterable[Section], footer: str = "") -> str:
    toc = []
    parts = []
    for i, s in enumerate(sections):
        anchor = f"s{i}"
        toc.append(f'<li><a href="#{anchor}">{esc(s.title)}</a></li>')
        parts.append(f'<h2 id="{anchor}">{esc(s.title)}</h2>\n{s.body}')
    return (
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1><ul>{''.join(toc)}</ul>"
        + "\n".join(parts)
        + f'<hr><p class="small">{footer}</p></body></html>\n'
    )


# ----------------------------------------------------------------- sections


def config_section(config: Mapping[str, Any]) -> Section:
    ds, m, t, s = config["dataset"], config["model"], config["training"], config["saliency"]
    blurs = "".join(
        f"<li><b>{esc(name)}</b>: {esc(json.dumps(spec))}</li>" for name, spec in config["blur"]["variants"].items()
    )
    body = f"""
<p>Data: <b>{esc(ds['source'])}</b>{' at ' + esc(ds['path']) if ds['path'] else ''}, images resized and
center-cropped to {ds['image_size']}x{ds['image_size']} px, split train/val/test
{ds['split']['train']}/{ds['split']['val']}/{ds['split']['test']} (seed {ds['seed']}).</p>
<p>Blur variants (expert trained on <b>{esc(config['blur']['train'])}</b>, tested on clear and
{esc(', '.join(config['blur']['test']))}):</p><ul>{blurs}</ul>
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
    lines = []
    for model, g in acc.groupby("model", sort=False):
        parts = ", ".join(f"{r.test_variant} {r.accuracy:.1%}" for r in g.itertuples())
        lines.append(f"<li><b>{esc(model)}</b> (trained on {esc(g['train_variant'].iloc[0])}): {esc(parts)}</li>")
    body = (
        "<p>Test accuracy of every model on clear and blurred test images (a table the original study "
        "did not report):</p><ul>" + "".join(lines) + "</ul>"
        + table_html(acc, left=["model", "role", "train_variant", "test_variant"])
        + img_tag(heatmap, "accuracy") + img_tag(curves, "training curves")
    )
    return Section("Accuracy", body)


def focus_section(focus_figures: Mapping[str, str], activation_figure: str, topk: int, percentile: float) -> Section:
    body = (
        f"<p>Figure 3 of the study: for each example, rows are the naive and expert model, columns the clear "
        f"and blurred image; left of each pair the SmoothGrad map (grayscale, clipped at its {percentile:g}th "
        f"percentile), right the map over the image with the top-{topk} focus pixels circled.</p>"
    )
    for variant, path in focus_figures.items():
        body += f"<h3>{esc(variant)}</h3>" + img_tag(path, f"focus {variant}")
    body += (
        "<h3>Activations</h3><p>ReLU activations of the configured layers for the initial (or pretrained), "
        "naive and expert models on one blurred test image: input, channel mean, and the most active channels.</p>"
        + img_tag(activation_figure, "activations")
    )
    return Section("Where the models look", body)


def ttest_section(tests: pd.DataFrame, distances: pd.DataFrame, alpha: float, pvalues: str, dist_fig: str) -> Section:
    lines = []
    for (test, comp), g in tests.groupby(["test", "comparison"], sort=False):
        sig = int((g["p_adj"] < alpha).sum())
        k = len(g)
        if test == "one_sample_t":
            d = distances[distances["comparison"] == comp]["distance"]
            lines.append(
                f"<li><b>{esc(comp)}</b>: mean focus distance {d.mean():.2f} px (median {d.median():.2f}) over "
                f"{d.size // max(k, 1)} images; one-sample t-test against 0 significant at {sig} of {k} ranks "
                f"(largest adjusted p {fmt(g['p_adj'].max())}).</li>"
            )
        else:
            lines.append(
                f"<li><b>{esc(comp)}</b> (one-sided paired t-test, distance due to the model &gt; distance due "
                f"to blur): mean difference {g['mean'].mean():.2f} px; significant at {sig} of {k} ranks "
                f"(smallest adjusted p {fmt(g['p_adj'].min())}).</li>"
            )
    body = (
        "<ul>" + "".join(lines) + "</ul>"
        '<p class="note">Focus distances are never negative, so the one-sample t-test against 0 is significant '
        "for any two maps that are not pixel-identical, including two SmoothGrad runs of the same model on the same "
        "image. These p-values reproduce the original study; they do not by themselves show a focus shift.</p>"
        + img_tag(pvalues, "adjusted p-values") + img_tag(dist_fig, "distances")
        + "<details><summary>all t-tests</summary>"
        + table_html(tests, max_rows=1000, left=["test", "comparison", "adjust_method", "alternative"])
        + "</details>"
    )
    return Section("The original study's tests", body)


def provenance_footer(versions: Mapping[str, str], device: str, seeds: Mapping[str, Any] | None = None) -> str:
    v = ", ".join(f"{k} {val}" for k, val in sorted(versions.items()))
    s = ", ".join(f"{k} {val}" for k, val in (seeds or {}).items())
    return f"Produced by blurfocus on {esc(device)}; {esc(v)}. Seeds: {esc(s)} (also in results/provenance.json)."


def claims_section(claims: pd.DataFrame, tests: pd.DataFrame, alpha: float, null_figure: str) -> Section:
    """The study's claims with verdicts under the original and the null-calibrated tests."""
    known = tests[(tests["family"] == "per-image") & (tests["known_null"].astype(bool))
                  & (tests["test"] == "wilcoxon")]
    lines = []
    for (comp, null), g in known.groupby(["comparison", "null"], sort=False):
        sig = int((g["p_adj"] < alpha).sum())
        orig = tests[(tests["family"] == "original") & (tests["comparison"] == comp) & (tests["null"] == "0")]
        osig = int((orig["p_adj"] < alpha).sum()) if len(orig) else 0
        lines.append(
            f"<li><b>{esc(comp)}</b> (a comparison with no effect by construction) against {esc(null)}: "
            f"null-calibrated Wilcoxon significant at {sig} of {len(g)} tests (ranks and mean, Holm); "
            f"the original one-sample t-test calls it significant at {osig} of {len(orig)} ranks.</li>"
        )
    known_html = ("<p>Calibration on the data itself, comparisons where nothing changes:</p><ul>" + "".join(lines) + "</ul>") if lines else ""
    seeds = tests[(tests["family"] == "per-image") & (tests["test"] == "wilcoxon") & (tests["rank"].astype(str) == "mean")
                  & tests["comparison"].str.contains("-s\\d+-vs-", regex=True)]
    seed_lines = "".join(
        f"<li><b>{esc(r.comparison)}</b>: original one-sample t-test significant at every rank; against "
        f"{esc(r.null)}: median difference {fmt(r.median_diff)} px, p_adj {fmt(r.p_adj)}"
        f" ({'significant' if r.p_adj < alpha else 'not significant'}).</li>"
        for r in seeds.itertuples()
    )
    seed_html = ("<p>Training-seed replicates (two models trained in the same condition):</p><ul>" + seed_lines + "</ul>") if seed_lines else ""
    show = claims[["claim", "unit", "n_models", "n_images", "estimate", "ci_low", "ci_high", "estimate_std", "effect",
                   "p_adj", "p_floor", "verdict", "reason", "p_per_image", "p_original"]]
    body = (
        "<p>Each claim of the study is about a training regime, so it is tested at the model level: every arm "
        "has K replicate models, each model is reduced to one number (an image mean, or a model-pair distance), "
        "and the test asks whether those numbers differ between arms, or from each model's SmoothGrad noise floor, "
        "beyond model-to-model variation (exact sign-flip and arm-relabeling tests; p_floor is the smallest p each "
        "can give). Estimates (px for distances) have 95% Multi-Bootstrap intervals resampling models and images; "
        "estimate_std is the estimate in model-to-model standard deviations. A claim is <i>supported</i> only when "
        "the adjusted p &lt; alpha and the interval excludes 0 on the claimed side.</p>"
        "<p>p_per_image: the per-image Wilcoxon test on the first replicate against its matching null (two SmoothGrad "
        "draws, or two replicates); conditional on those trained weights, it says nothing about the regime. "
        "p_original: the study's one-sample t-test (median adjusted p over ranks), significant for any two maps "
        "that are not identical.</p>"
        + table_html(show, left=["claim", "contrast", "verdict"])
        + known_html + seed_html + img_tag(null_figure, "comparisons and their nulls")
    )
    return Section("Statistics that can say no: the study's claims, tested against nulls", body)


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
        + table_html(summary, left=["comparison", "kind"]) + img_tag(spread, "spread of the maps")
    )
    return Section("Focus metrics", body)


def sanity_section(summary: pd.DataFrame, sentence: str, figure: str) -> Section:
    cls = "note" if sentence.startswith("RED FLAG") else ""
    body = (
        "<p>Cascading model-parameter randomization (Adebayo et al., 2018): the layers of the trained model are "
        "re-initialized from the top down, cumulatively, and the maps of the same images are recomputed.</p>"
        f'<p class="{cls}"><b>{esc(sentence)}</b></p>' + table_html(summary, left=["layer"]) + img_tag(figure, "sanity")
    )
    return Section("Sanity check of the saliency method", body)
