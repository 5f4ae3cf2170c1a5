"""Figures (matplotlib, Agg backend). Each function takes plain arrays/tables and writes one PNG."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: str | Path, dpi: int) -> None:
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def pick_examples(rows: pd.DataFrame, per_class: int) -> pd.DataFrame:
    """The first ``per_class`` rows of each class (rows in array order)."""
    return rows.groupby("label", sort=True, group_keys=False).head(per_class).sort_values(["label", "split_index"])


def contact_sheet(images: Mapping[str, np.ndarray], titles: Sequence[str], path: str, dpi: int = 110) -> None:
    """Grid: one row per image, one column per variant. ``images[variant]`` is uint8 (N, H, W, 3)."""
    variants = list(images)
    n = len(titles)
    fig, axes = plt.subplots(n, len(variants), figsize=(2.0 * len(variants), 2.0 * n), squeeze=False)
    for j, v in enumerate(variants):
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(images[v][i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(v, fontsize=9)
            if j == 0:
                ax.set_ylabel(titles[i], fontsize=7)
    _save(fig, path, dpi)


def _role(model: str) -> str:
    """``naive-s3`` -> ``naive`` (the arm); other names unchanged."""
    m = re.match(r"^(.*)-s\d+$", model)
    return m.group(1) if m else model


def _seed(model: str) -> int:
    m = re.match(r"^.*-s(\d+)$", model)
    return int(m.group(1)) if m else -1


def training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], path: str, dpi: int = 110) -> None:
    """Loss and accuracy per epoch, one column per arm (naive, expert): the median over the arm's
    replicates (train dashed, validation solid) and the range of the replicates' validation curve."""
    roles = sorted({_role(m) for m in histories}, key=lambda r: (r != "naive", r))
    fig, axes = plt.subplots(2, len(roles), figsize=(4.6 * len(roles), 6.0), squeeze=False, sharex=True,
                             layout="constrained")
    for j, role in enumerate(roles):
        hists = [h for m, h in sorted(histories.items()) if _role(m) == role]
        n_ep = min(len(h) for h in hists)
        ep = [h["epoch"] for h in hists[0][:n_ep]]
        for i, (metric, ylabel) in enumerate((("loss", "cross-entropy"), ("accuracy", "accuracy"))):
            ax = axes[i, j]
            tr = np.array([[e[f"train_{metric}"] for e in h[:n_ep]] for h in hists])
            va = np.array([[e[f"val_{metric}"] for e in h[:n_ep]] for h in hists])
            colour = "C0" if role == "naive" else "C1"
            ax.plot(ep, np.median(tr, 0), "--", color=colour, label="train (median)")
            ax.plot(ep, np.median(va, 0), "-o", ms=3, color=colour, label="validation (median)")
            if len(hists) > 1:
                ax.fill_between(ep, va.min(0), va.max(0), color=colour, alpha=0.2, label="validation (range)")
            ax.set(ylabel=ylabel, title=f"{role}: {metric} ({len(hists)} replicate{'s' if len(hists) > 1 else ''})")
            ax.xaxis.get_major_locator().set_params(integer=True)
            if metric == "accuracy":
                ax.set(ylim=(0, 1.02), xlabel="epoch")
            ax.legend(fontsize=7)
    _save(fig, path, dpi)


def accuracy_heatmap(table: pd.DataFrame, path: str, dpi: int = 110) -> None:
    """Models (rows) x test variants (columns), cells = accuracy."""
    pivot = table.pivot(index="model", columns="test_variant", values="accuracy")
    cols = ["clear"] + [c for c in pivot.columns if c != "clear"]
    pivot = pivot[cols]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(cols), 0.9 + 0.5 * len(pivot)))
    im = ax.imshow(pivot.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(pivot.to_numpy()):
        ax.text(j, i, f"{v:.3f}", ha="center", va="center", color="white" if v < 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(pivot)), pivot.index)
    ax.set_xlabel("test images")
    ax.set_title("test accuracy")
    fig.colorbar(im, ax=ax, fraction=0.05)
    _save(fig, path, dpi)


def clip_map(m: np.ndarray, percentile: float) -> np.ndarray:
    """Map scaled to [0, 1] after clipping at its ``percentile``-th percentile (0 stays 0)."""
    m = np.asarray(m, dtype=np.float64)
    hi = np.percentile(m, percentile)
    lo = min(0.0, float(m.min()))
    if hi <= lo:
        return np.zeros_like(m)
    return np.clip((m - lo) / (hi - lo), 0, 1)


def focus_figure(
    panels: Mapping[tuple[str, str, str], dict],
    image_ids: Sequence[str],
    models: Sequence[str],
    variants: Sequence[str],
    path: str,
    percentile: float = 99.0,
    dpi: int = 110,
) -> None:
    """The study's Figure 3: rows = (image, model), columns = (variant x [map, overlay]).

    ``panels[(image_id, model, variant)]`` holds ``image`` uint8 (H, W, 3), ``map`` (H, W) and
    ``rows``/``cols`` of the top-k pixels.
    """
    nrows, ncols = len(image_ids) * len(models), 2 * len(variants)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 1.9 * nrows), squeeze=False)
    for a, image_id in enumerate(image_ids):
        for b, model in enumerate(models):
            r = a * len(models) + b
            for c, variant in enumerate(variants):
                p = panels[(image_id, model, variant)]
                ax_m, ax_o = axes[r, 2 * c], axes[r, 2 * c + 1]
                ax_m.imshow(clip_map(p["map"], percentile), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax_o.imshow(p["image"], interpolation="nearest")
                ax_o.imshow(clip_map(p["map"], percentile), cmap="inferno", alpha=0.45, vmin=0, vmax=1, interpolation="nearest")
                ax_o.scatter(p["cols"], p["rows"], s=9, facecolors="none", edgecolors="cyan", linewidths=0.8)
                for ax in (ax_m, ax_o):
                    ax.set_xticks([])
                    ax.set_yticks([])
                if r == 0:
                    ax_m.set_title(f"{variant}: map", fontsize=8)
                    ax_o.set_title(f"{variant}: top-k", fontsize=8)
                if c == 0:
                    ax_m.set_ylabel(f"{model}\n{image_id}", fontsize=6)
    _save(fig, path, dpi)


def activation_figure(
    acts: Mapping[tuple[str, str], np.ndarray],
    models: Sequence[str],
    layers: Sequence[str],
    image: np.ndarray,
    channels: int,
    path: str,
    dpi: int = 110,
) -> None:
    """Rows = (layer, model); columns = input, channel mean, then the most active channels.

    ``acts[(model, layer)]`` is a (C, h, w) post-ReLU activation of one image.
    """
    nrows, ncols = len(layers) * len(models), 2 + channels
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.35 * ncols, 1.4 * nrows), squeeze=False)
    for i, layer in enumerate(layers):
        for j, model in enumerate(models):
            r = i * len(models) + j
            a = acts[(model, layer)]
            axes[r, 0].imshow(image, interpolation="nearest")
            axes[r, 0].set_ylabel(f"{layer}\n{model}", fontsize=7)
            axes[r, 1].imshow(a.mean(0), cmap="magma", interpolation="nearest")
            if r == 0:
                axes[r, 1].set_title("channel mean", fontsize=7)
            top = np.argsort(-a.reshape(a.shape[0], -1).mean(1), kind="stable")[:channels]
            for k in range(channels):
                ax = axes[r, 2 + k]
                if k < len(top):
                    ax.imshow(a[top[k]], cmap="magma", interpolation="nearest")
                    ax.set_title(f"ch {top[k]}", fontsize=6)
            for ax in axes[r]:
                ax.set_xticks([])
                ax.set_yticks([])
    _save(fig, path, dpi)


MAX_SERIES = 6  # overlaid series per panel, at most


def study_names(comparisons: Sequence[str]) -> dict[str, list[str]]:
    """{blur variant: the study's comparisons for it, in order} among ``comparisons`` (names as
    ``blurfocus.focus.study_comparisons``: ``naive:clear-vs-b``, ``expert:clear-vs-b``,
    ``b:naive-vs-expert``, ``clear:naive-vs-expert``)."""
    have = list(dict.fromkeys(comparisons))
    blurs = [m.group(1) for c in have if (m := re.match(r"^naive:clear-vs-(\w+)$", c))]
    out = {}
    for b in blurs:
        names = [f"naive:clear-vs-{b}", f"expert:clear-vs-{b}", f"{b}:naive-vs-expert", "clear:naive-vs-expert"]
        out[b] = [n for n in names if n in have]
    return out


def _chunks(items: Sequence, n: int) -> list[list]:
    return [list(items[i:i + n]) for i in range(0, len(items), n)]


def _grid(n: int, ncol: int, w: float, h: float, **kw):
    ncol = max(1, min(ncol, n))
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(w * ncol, h * nrow), squeeze=False, layout="constrained", **kw)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()[:n]


def pvalue_figure(tests: pd.DataFrame, path: str, alpha: float = 0.05, dpi: int = 110) -> None:
    """Adjusted p-value per rank (log scale) of the original study's t-tests: one panel per blur
    variant with its study comparisons and paired tests, the other comparisons (nulls) in panels
    of at most six; the alpha line in each."""
    comps = list(dict.fromkeys(tests["comparison"]))
    study = study_names([c for c in comps if ">" not in c])
    panels: list[tuple[str, list[tuple[str, str]]]] = []
    used: set[tuple[str, str]] = set()
    for b, names in study.items():
        series = [("one_sample_t", n) for n in names]
        series += [(t, c) for t, c in tests[["test", "comparison"]].drop_duplicates().itertuples(index=False)
                   if t != "one_sample_t" and c.startswith(f"{b}:naive-vs-expert")]
        series = series[:MAX_SERIES]
        used |= set(series)
        panels.append((f"the study's comparisons, {b}", series))
    rest = sorted((t, c) for t, c in tests[["test", "comparison"]].drop_duplicates().itertuples(index=False)
                  if (t, c) not in used)
    for k, chunk in enumerate(_chunks(rest, MAX_SERIES)):
        panels.append((f"nulls and other comparisons ({k + 1})" if len(rest) > MAX_SERIES else "nulls and other comparisons", chunk))
    if not panels:
        _placeholder(path, "no t-tests", dpi)
        return
    fig, axes = _grid(len(panels), 2, 5.6, 3.6, sharey=True)
    floor = 1e-300
    method = tests["adjust_method"].iloc[0] if "adjust_method" in tests and len(tests) else "adjusted"
    for ax, (title, series) in zip(axes, panels):
        for k, (test, comp) in enumerate(series):
            g = tests[(tests["test"] == test) & (tests["comparison"] == comp)]
            y = np.clip(g["p_adj"].to_numpy(dtype=float), floor, 1)
            label = comp if test == "one_sample_t" else f"{comp} (paired)"
            ax.plot(g["rank"], y, "-o", ms=3, label=label, color=f"C{k}")
        ax.axhline(alpha, color="k", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set(xlabel="focus rank", title=title)
        ax.title.set_fontsize(9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=6.5, loc="lower right")
    axes[0].set_ylabel(f"p-value ({method}-adjusted); dashed: alpha {alpha}")
    _save(fig, path, dpi)


def _references(name: str, available: Sequence[str]) -> list[str]:
    """Null comparisons to draw beside a study comparison: the SmoothGrad noise floor (draw 0 vs
    1) of each model involved, on the variant(s) involved, and the first seed-replicate null of
    each arm there (whichever of these exist in ``available``)."""
    have = set(available)
    m = re.match(r"^(naive|expert):clear-vs-(\w+)$", name)
    out = []
    if m:
        role, b = m.groups()
        out = [f"{role}:{b}:draw0-vs-draw1", f"{role}:clear:draw0-vs-draw1"]
    m = re.match(r"^(\w+):naive-vs-expert$", name)
    if m:
        v = m.group(1)
        seed_nulls = [c for c in available if re.match(rf"^{re.escape(v)}:(naive|expert)-s\d+-vs-\1-s\d+$", c)]
        firsts = [next((c for c in seed_nulls if c.startswith(f"{v}:{r}-")), None) for r in ("naive", "expert")]
        out = [c for c in firsts if c] + [f"naive:{v}:draw0-vs-draw1", f"expert:{v}:draw0-vs-draw1"]
    return [c for c in dict.fromkeys(out) if c in have][: MAX_SERIES - 3]  # + comparison, lines, medians


def _paired_strips(ax, values: Sequence[pd.Series], labels: Sequence[str], colours: Sequence[str]) -> None:
    """Violins of per-image values at x = 0, 1, ... with one grey line per image joining them."""
    common = sorted(set.intersection(*[set(v.dropna().index) for v in values])) if values else []
    data = [v.loc[common].to_numpy(dtype=float) for v in values]
    if common:
        from matplotlib.collections import LineCollection

        xs = np.arange(len(values), dtype=float)
        segs = [np.column_stack([xs, [d[i] for d in data]]) for i in range(len(common))]
        ax.add_collection(LineCollection(segs, colors="0.55", linewidths=0.5, alpha=0.5, label="one image"))
        parts = ax.violinplot(data, positions=xs, widths=0.7, showextrema=False, showmedians=False)
        for body, c, lab in zip(parts["bodies"], colours, labels):
            body.set_facecolor(c)
            body.set_alpha(0.35)
            body.set_label(lab)
        ax.scatter(xs, [np.median(d) for d in data], color="k", s=14, zorder=3, label="median")
    ax.set_xticks(range(len(values)), [_wrap(lab) for lab in labels], fontsize=6)
    ax.set_xlim(-0.6, len(values) - 0.4)


def _wrap(text: str, width: int = 18) -> str:
    parts, line = [], ""
    for tok in re.split(r"(?<=[:> -])", text):
        if len(line) + len(tok) > width and line:
            parts.append(line)
            line = ""
        line += tok
    return "\n".join(parts + [line])


def distance_figure(distances: pd.DataFrame, path: str, dpi: int = 110) -> None:
    """Per study comparison (columns): top, the distance per rank (median and IQR) beside its
    noise floors and seed nulls; bottom, the per-image mean distance over ranks as paired strips
    (comparison and its nulls, one line per image)."""
    comps = list(dict.fromkeys(distances["comparison"]))
    names = list(dict.fromkeys(n for ns in study_names(comps).values() for n in ns))
    if not names:
        names = comps[:4]
    if not names:
        _placeholder(path, "no focus distances", dpi)
        return
    fig, axes = plt.subplots(2, len(names), figsize=(3.6 * len(names), 6.4), squeeze=False, layout="constrained")
    per_image = distances.groupby(["comparison", "image_id"])["distance"].mean()
    for j, name in enumerate(names):
        refs = _references(name, comps)
        ax = axes[0, j]
        for k, comp in enumerate([name, *refs]):
            g = distances[distances["comparison"] == comp]
            q = g.groupby("rank")["distance"].quantile([0.25, 0.5, 0.75]).unstack()
            colour = "C3" if k == 0 else f"C{k - 1 if k - 1 < 3 else k}"
            ax.plot(q.index, q[0.5], "-o" if k == 0 else "--", ms=2.5, color=colour, label=comp)
            if k == 0:
                ax.fill_between(q.index, q[0.25], q[0.75], color=colour, alpha=0.15, label=f"{comp} IQR")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("focus rank", fontsize=8)
        ax.legend(fontsize=5.5)
        series = [per_image.loc[c] for c in [name, *refs]]
        colours = ["C3"] + [f"C{k if k < 3 else k + 1}" for k in range(len(refs))]
        _paired_strips(axes[1, j], series, [name, *refs], colours)
    axes[0, 0].set_ylabel("distance (px)")
    axes[1, 0].set_ylabel("per-image mean distance (px)")
    _save(fig, path, dpi)


def sanity_figure(summary: pd.DataFrame, data_summary: pd.DataFrame | None, example_maps: Mapping[str, np.ndarray],
                  thresholds, path: str, percentile: float = 99.0, dpi: int = 110) -> None:
    """Sanity checks (Adebayo et al., 2018): similarity to the trained maps per cascade step (Spearman
    and SSIM panels, one series per model and variant), the permuted-label model's similarity to the
    naive model's maps per variant, the red-flag thresholds (dashed), and one image's maps (HxW each,
    absolute value, clipped at ``percentile``). ``summary``/``data_summary`` come from
    ``blurfocus.sanity.summarize``; ``thresholds`` is a ``blurfocus.sanity.Thresholds``."""
    steps = list(example_maps)
    fig = plt.figure(figsize=(max(11.0, 1.15 * len(steps)), 6.6))
    grid = fig.add_gridspec(2, 1, height_ratios=[1.5, 1.0], hspace=0.45)
    top = grid[0].subgridspec(1, 3, width_ratios=[1.0, 1.0, 0.62], wspace=0.3)
    models_ = list(dict.fromkeys(summary["model"]))
    variants = list(dict.fromkeys(summary["variant"]))
    styles = ["-", "--", ":", "-."]
    for k, (col, label, limit) in enumerate((("spearman", "Spearman (|map|)", thresholds.spearman),
                                             ("ssim", "SSIM", thresholds.ssim))):
        ax = fig.add_subplot(top[0, k])
        for mi, m in enumerate(models_):
            for vi, v in enumerate(variants):
                g = summary[(summary["model"] == m) & (summary["variant"] == v)].sort_values("step")
                ax.plot(g["step"], g[f"{col}_mean"], styles[vi % 4], marker="o", ms=3, color=f"C{mi}",
                        label=f"{m}, {v}")
        layers = summary.drop_duplicates("step").sort_values("step")
        ax.set_xticks(layers["step"], layers["layer"], rotation=35, ha="right", fontsize=7)
        ax.axhline(limit, color="C3", ls="--", lw=1, label=f"red flag above {limit:g}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set(ylabel=f"{label}, mean over images", ylim=(-0.2, 1.05),
               title=f"model randomization: {label}", xlabel="randomized down to (cumulative, from the top)")
        ax.title.set_fontsize(9)
        if k == 0:
            ax.legend(fontsize=7)
    ax = fig.add_subplot(top[0, 2])
    if data_summary is None or data_summary.empty:
        ax.text(0.5, 0.5, "data randomization off\n(sanity.data_randomization)", ha="center", va="center", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        x = np.arange(len(data_summary))
        for j, (col, label, limit) in enumerate((("spearman", "Spearman", thresholds.spearman),
                                                 ("ssim", "SSIM", thresholds.ssim))):
            ax.errorbar(x + (j - 0.5) * 0.2, data_summary[f"{col}_mean"], yerr=data_summary[f"{col}_sd"].fillna(0),
                        fmt="o", ms=4, capsize=3, color=f"C{4 + j}", label=label)
            ax.axhline(limit, color=f"C{4 + j}", ls="--", lw=1)
        ax.set_xticks(x, data_summary["variant"], fontsize=8)
        ax.set_xlim(-0.6, len(x) - 0.4)
        first = data_summary.iloc[0]
        title = f"data randomization:\n{first['model']} vs {first['reference']}"
        if "train_accuracy" in data_summary:
            title += f"\n(train acc. on permuted labels {float(first['train_accuracy']):.2f})"
        ax.set(ylim=(-0.2, 1.05), title=title, ylabel="similarity (mean, sd); dashed: red flag")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    bottom = grid[1].subgridspec(1, max(len(steps), 1))
    for i, step in enumerate(steps):
        a = fig.add_subplot(bottom[0, i])
        a.imshow(clip_map(np.abs(example_maps[step]), percentile), cmap="gray", interpolation="nearest")
        a.set_title(step.replace(": ", ":\n"), fontsize=6)
        a.set_xticks([])
        a.set_yticks([])
    _save(fig, path, dpi)


def _placeholder(path: str, text: str, dpi: int) -> None:
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10)
    _save(fig, path, dpi)


def null_figure(tests: pd.DataFrame, distances: pd.DataFrame, path: str, alpha: float = 0.05, dpi: int = 110) -> None:
    """Per (comparison, null) pair of the per-image calibrated tests: the per-image mean distance
    over ranks of the null and of the comparison as paired strips, with the adjusted p-value."""
    t = tests[tests["unit"].astype(str) == "image"] if "unit" in tests.columns else tests
    cal = t[(t["family"] == "per-image") & (t["test"] == "wilcoxon")] if "family" in t else t.iloc[:0]
    pairs = cal[["comparison", "null"] + (["known_null"] if "known_null" in cal else [])].drop_duplicates()
    per_image = distances.groupby(["comparison", "image_id"])["distance"].mean()
    have = set(per_image.index.get_level_values(0))
    pairs = pairs[pairs["comparison"].isin(have) & pairs["null"].isin(have)].reset_index(drop=True)
    if pairs.empty:
        _placeholder(path, "no null comparisons (needs saliency.draws >= 2 or several training seeds)", dpi)
        return
    p_col = "p_adj" if "p_adj" in cal.columns else "p_holm"
    fig, axes = _grid(len(pairs), 4, 3.3, 3.4)
    for ax, pr in zip(axes, pairs.itertuples()):
        known = bool(getattr(pr, "known_null", False)) and str(getattr(pr, "known_null", "")) not in ("False", "0")
        colour = "C2" if known else "C3"
        _paired_strips(ax, [per_image.loc[pr.null], per_image.loc[pr.comparison]], ["null", "comparison"],
                       ["0.5", colour])
        row = cal[(cal["comparison"] == pr.comparison) & (cal["null"] == pr.null) & (cal["rank"].astype(str) == "mean")]
        p = float(row[p_col].iloc[0]) if len(row) else float("nan")
        tag = "known null: " if known else ""
        ax.set_title(f"{tag}{pr.comparison}\nvs {pr.null}\np (mean over ranks) = {p:.2g}" + (" *" if p < alpha else ""),
                     fontsize=6.5)
        ax.tick_params(labelsize=7)
    fig.supylabel("per-image mean focus distance (px)", fontsize=8)
    _save(fig, path, dpi)


def spread_figure(maps: pd.DataFrame, path: str, dpi: int = 110) -> None:
    """Normalized entropy and Gini of the maps (draw 0), one panel per (measure, test variant):
    per arm, the first replicate's images as a violin and every replicate's median as a dot."""
    m = maps[maps["draw"] == 0]
    variants = list(dict.fromkeys(m["variant"]))
    variants = ["clear"] + [v for v in variants if v != "clear"] if "clear" in variants else variants
    models = list(dict.fromkeys(m["model"]))
    roles = sorted({_role(x) for x in models}, key=lambda r: (r != "naive", r))
    measures = (("normalized_entropy", "normalized entropy (1 = uniform)"), ("gini", "Gini coefficient (0 = uniform)"))
    fig, axes = plt.subplots(len(measures), len(variants), figsize=(3.4 * len(variants), 5.6), squeeze=False,
                             layout="constrained")
    for i, (col, title) in enumerate(measures):
        for j, v in enumerate(variants):
            ax = axes[i, j]
            g = m[m["variant"] == v]
            data, meds = [], []
            for role in roles:
                ms = sorted({x for x in models if _role(x) == role}, key=_seed)
                first = g[g["model"] == ms[0]][col].dropna().to_numpy() if ms else np.array([])
                data.append(first if len(first) else np.array([np.nan]))
                meds.append([g[g["model"] == x][col].median() for x in ms])
            parts = ax.violinplot(data, positions=range(len(roles)), widths=0.7, showextrema=False)
            for body, role in zip(parts["bodies"], roles):
                body.set_facecolor("C0" if role == "naive" else "C1")
                body.set_alpha(0.35)
                body.set_label(f"{role}: first replicate's images")
            xs = np.concatenate([np.full(len(md), k, dtype=float) for k, md in enumerate(meds)]) if meds else []
            ax.scatter(xs, np.concatenate(meds) if meds else [], color="k", s=12, zorder=3, label="one replicate's median")
            ax.set_xticks(range(len(roles)), roles, fontsize=8)
            ax.set_title(f"{v} images: {title}", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    _save(fig, path, dpi)


def known_answer_figure(known: pd.DataFrame, path: str, dpi: int = 110) -> None:
    """Mean fraction of top-k pixels in the texture and shape cues, naive vs expert, per variant."""
    k = known[known["measure"].isin(["texture_topk", "shape_topk"])] if len(known) else known
    if len(k) == 0:
        _placeholder(path, "no ground-truth masks for this data set (known-answer scoring needs the synthetic source)", dpi)
        return
    variants = list(dict.fromkeys(k["variant"]))
    fig, axes = plt.subplots(1, len(variants), figsize=(4.2 * len(variants), 3.4), squeeze=False, sharey=True)
    for ax, v in zip(axes[0], variants):
        g = k[k["variant"] == v].set_index("measure")
        x = np.arange(2)
        for j, (model, col, colour) in enumerate((("naive", "naive_mean", "C0"), ("expert", "expert_mean", "C1"))):
            ax.bar(x + (j - 0.5) * 0.38, [g.loc["texture_topk", col], g.loc["shape_topk", col]], width=0.38,
                   color=colour, label=model)
        ax.set_xticks(x, ["texture cue", "shape cue"])
        ax.set_ylim(0, 1)
        ax.set_title(f"{v} test images", fontsize=9)
    axes[0, 0].set_ylabel("fraction of top-k pixels in the cue")
    axes[0, 0].legend(fontsize=8)
    _save(fig, path, dpi)


def claims_figure(claims: pd.DataFrame, path: str, alpha: float = 0.05, dpi: int = 110) -> None:
    """The study's claims, one row each. Left (when ``claims.tsv`` has model-level estimates):
    the standardized estimate (model-to-model SDs) with its 95% Multi-Bootstrap interval, coloured
    by verdict. Right: the p-values per claim (log scale), one marker per p-value column
    (``p_*``, at most six: the model-level adjusted p, the per-image and the original test's),
    with the alpha line."""
    p_cols = [c for c in claims.columns if c.startswith("p_") and pd.api.types.is_numeric_dtype(claims[c])]
    p_cols = [c for c in p_cols if c != "p_floor"][:MAX_SERIES]
    if claims.empty or not p_cols:
        _placeholder(path, "no claims with p-values", dpi)
        return
    label_col = "claim" if "claim" in claims.columns else claims.columns[0]
    n = len(claims)
    forest = "estimate_std" in claims.columns
    fig, axes = plt.subplots(1, 2 if forest else 1, figsize=(13 if forest else 9.5, 0.9 + 0.42 * n),
                             layout="constrained", squeeze=False, sharey=True)
    y = np.arange(n)[::-1]
    if forest:
        ax = axes[0, 0]
        colours = {"supported": "#1a7f37", "not supported": "#b42318", "inconclusive": "#9a6700"}
        verdicts = claims["verdict"].astype(str) if "verdict" in claims.columns else pd.Series(["?"] * n)
        for yi, (_, r), v in zip(y, claims.iterrows(), verdicts):
            col = colours.get(v, "0.5")
            lo, hi, est = (float(r.get(k, np.nan)) for k in ("std_ci_low", "std_ci_high", "estimate_std"))
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([lo, hi], [yi, yi], color=col, lw=2)
            if np.isfinite(est):
                ax.plot([est], [yi], "o", color=col)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, [_wrap(str(c), 48) for c in claims[label_col]], fontsize=7)
        ax.set_xlabel("estimate in model-to-model SDs, 95% Multi-Bootstrap CI")
        ax.legend(handles=[plt.Line2D([], [], color=c, marker="o", lw=2, label=k) for k, c in colours.items()],
                  fontsize=7, loc="lower right")
        ax.set_title("effect per claim, across replicate models (right of 0: the claimed direction)", fontsize=9)
    ax = axes[0, -1]
    markers = "osD^vP"
    for k, col in enumerate(p_cols):
        p = np.clip(claims[col].to_numpy(dtype=float), 1e-300, 1)
        ax.scatter(p, y + (k - (len(p_cols) - 1) / 2) * 0.12, marker=markers[k], color=f"C{k}", s=22, label=col, zorder=3)
    ax.axvline(alpha, color="k", ls="--", lw=1)
    ax.set_xscale("log")
    if not forest:
        ax.set_yticks(y, [_wrap(str(c), 48) for c in claims[label_col]], fontsize=7)
    if "verdict" in claims.columns:
        ax2 = ax.twinx()
        ax2.set_ylim(ax.get_ylim())
        ax2.set_yticks(y, [_wrap(str(v), 30) for v in claims["verdict"]], fontsize=6.5)
    ax.set_xlabel(f"p-value (log scale); dashed: alpha {alpha}")
    ax.set_title("p-values per claim (left of the line: significant)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    _save(fig, path, dpi)


def grid_figure(accuracy: pd.DataFrame, shift: pd.DataFrame, path: str, dpi: int = 110) -> None:
    """The arm x test-variant matrices: accuracy (left) and focus shift beyond the noise floor
    (px, right), each cell the arm's mean over its models with the Multi-Bootstrap CI."""
    arms = list(dict.fromkeys(accuracy["arm"]))
    variants = list(dict.fromkeys(accuracy["test_variant"]))
    blurred = [v for v in variants if v != "clear"]
    fig, axes = plt.subplots(1, 2, figsize=(2.4 + 1.5 * (len(variants) + len(blurred)), 1.4 + 0.6 * len(arms)),
                             gridspec_kw={"width_ratios": [max(1, len(variants)), max(1, len(blurred))]})
    panels = ((axes[0], accuracy, variants, "accuracy", "test accuracy (mean over models)", "viridis", 0.0, 1.0),
              (axes[1], shift, blurred, "shift_beyond_noise", "focus shift beyond noise (px)", "magma", None, None))
    for ax, table, cols, col, title, cmap, vmin, vmax in panels:
        if table.empty or not cols:
            ax.axis("off")
            ax.set_title(title + ": not computed")
            continue
        key = table.set_index(["arm", "test_variant"])
        values = np.array([[key.loc[(a, v), col] for v in cols] for a in arms], float)
        im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        finite = values[np.isfinite(values)]
        mid = (np.nanmin(finite) + np.nanmax(finite)) / 2 if finite.size else 0
        for (i, j), v in np.ndenumerate(values):
            lo, hi = key.loc[(arms[i], cols[j]), ["ci_low", "ci_high"]]
            fmt = "{:.2f}" if col == "accuracy" else "{:.1f}"
            ax.text(j, i, f"{fmt.format(v)}\n[{fmt.format(lo)}, {fmt.format(hi)}]", ha="center", va="center",
                    fontsize=8, color="white" if (col == "accuracy" and v < 0.6) or (col != "accuracy" and v < mid)
                    else "black")
        ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
        ax.set_yticks(range(len(arms)), [f"{a} ({key.loc[(a, cols[0]), 'train_variant']})" for a in arms])
        ax.set_xlabel("test images")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.05)
    axes[0].set_ylabel("training arm (trained on)")
    fig.subplots_adjust(wspace=0.45)  # room for the right panel's arm labels
    _save(fig, path, dpi)


def dose_response_figure(accuracy: pd.DataFrame, shift: pd.DataFrame, sweeps: Sequence, path: str,
                         dpi: int = 110) -> None:
    """Accuracy and focus shift beyond the noise floor against blur strength, one line per arm
    with its Multi-Bootstrap 95% band; one row of panels per strength sweep (``sweeps``:
    :class:`blurfocus.grid.Sweep`). Accuracy on clear images is drawn at strength 0."""
    fig, axes = plt.subplots(len(sweeps), 2, figsize=(11, 3.8 * len(sweeps)), squeeze=False)
    arms = list(dict.fromkeys(accuracy["arm"]))
    for row, sweep in zip(axes, sweeps):
        for ax, table, col, label, with_clear in (
                (row[0], accuracy, "accuracy", "test accuracy", True),
                (row[1], shift, "shift_beyond_noise", "focus shift beyond noise (px)", False)):
            for i, arm in enumerate(arms):
                keep = list(sweep.variants) + (["clear"] if with_clear else [])
                t = table[(table["arm"] == arm) & table["test_variant"].isin(keep)].sort_values("strength")
                if t.empty:
                    continue
                x = t["strength"].to_numpy(float)
                ax.plot(x, t[col], "o-", color=f"C{i}", label=f"{arm} (trained on {t['train_variant'].iloc[0]})")
                ax.fill_between(x, t["ci_low"], t["ci_high"], color=f"C{i}", alpha=0.2, linewidth=0)
            if col == "shift_beyond_noise":
                ax.axhline(0, color="0.5", lw=0.8, ls="--")
            ax.set_xlabel(f"{sweep.name}: {sweep.kind} {sweep.param}" + (" (0 = clear)" if with_clear else ""))
            ax.set_ylabel(label)
            ax.legend(fontsize=8)
        row[0].set_title("accuracy vs strength", fontsize=10)
        row[1].set_title("focus shift vs strength (clear vs perturbed, minus noise floor)", fontsize=10)
    fig.suptitle("mean over each arm's models; bands: 95% Multi-Bootstrap intervals (models and images resampled)",
                 fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi)
