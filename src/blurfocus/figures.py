"""Figures (matplotlib, Agg backend). Each function takes plain arrays/tables and writes one PNG."""

from __future__ import annotations

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


def training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], path: str, dpi: int = 110) -> None:
    """Loss and accuracy per epoch (train dashed, validation solid), one colour per model."""
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, (name, hist) in enumerate(sorted(histories.items())):
        ep = [h["epoch"] for h in hist]
        colour = f"C{k}"
        ax_l.plot(ep, [h["train_loss"] for h in hist], "--", color=colour)
        ax_l.plot(ep, [h["val_loss"] for h in hist], "-o", color=colour, label=name, ms=3)
        ax_a.plot(ep, [h["train_accuracy"] for h in hist], "--", color=colour)
        ax_a.plot(ep, [h["val_accuracy"] for h in hist], "-o", color=colour, label=name, ms=3)
    ax_l.set(xlabel="epoch", ylabel="cross-entropy", title="loss (dashed: train, solid: validation)")
    ax_a.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    ax_a.legend(fontsize=8)
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


def pvalue_figure(tests: pd.DataFrame, path: str, alpha: float = 0.05, dpi: int = 110) -> None:
    """Adjusted p-value per rank for every test (log scale), with the alpha line."""
    groups = list(tests.groupby(["test", "comparison"], sort=False))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    floor = 1e-300
    for k, ((test, comp), g) in enumerate(groups):
        y = np.clip(g["p_adj"].to_numpy(dtype=float), floor, 1)
        ax.plot(g["rank"], y, "-o", ms=3, label=f"{comp} ({test})", color=f"C{k % 10}")
    ax.axhline(alpha, color="k", ls="--", lw=1, label=f"alpha = {alpha}")
    ax.set_yscale("log")
    ax.set(xlabel="focus rank", ylabel="adjusted p-value", title=f"adjusted p-values ({tests['adjust_method'].iloc[0]})")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path, dpi)


def distance_figure(distances: pd.DataFrame, path: str, dpi: int = 110) -> None:
    """Distance per rank (median and IQR) for every comparison, and per-image mean distance."""
    comps = list(dict.fromkeys(distances["comparison"]))
    fig, (ax_r, ax_h) = plt.subplots(1, 2, figsize=(11, 4))
    for k, comp in enumerate(comps):
        g = distances[distances["comparison"] == comp]
        q = g.groupby("rank")["distance"].quantile([0.25, 0.5, 0.75]).unstack()
        ax_r.plot(q.index, q[0.5], "-o", ms=3, color=f"C{k % 10}", label=comp)
        ax_r.fill_between(q.index, q[0.25], q[0.75], color=f"C{k % 10}", alpha=0.15)
        per_image = g.groupby("image_id")["distance"].mean()
        ax_h.hist(per_image, bins=30, histtype="step", color=f"C{k % 10}", label=comp)
    ax_r.set(xlabel="focus rank", ylabel="distance (pixels)", title="distance per rank (median, IQR)")
    ax_h.set(xlabel="mean distance over ranks (pixels)", ylabel="images", title="per-image mean distance")
    ax_h.legend(fontsize=7)
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
    """Per (comparison, null) pair: median distance per rank of both, and the calibrated p."""
    pairs = tests[(tests["family"] == "per-image") & (tests["test"] == "wilcoxon")][["comparison", "null", "known_null"]]
    pairs = pairs.drop_duplicates().reset_index(drop=True)
    if pairs.empty:
        _placeholder(path, "no null comparisons (needs saliency.draws >= 2 or several training seeds)", dpi)
        return
    ncol = min(4, len(pairs))
    nrow = -(-len(pairs) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.6 * nrow), squeeze=False, sharey=True)
    med = distances.groupby(["comparison", "rank"])["distance"].median()
    for ax, pr in zip(axes.ravel(), pairs.itertuples()):
        a, b = med.loc[pr.comparison], med.loc[pr.null]
        ax.plot(a.index, a.to_numpy(), "-o", ms=2, color="C3" if not pr.known_null else "C2", label="comparison")
        ax.plot(b.index, b.to_numpy(), "--", color="0.4", label="null")
        row = tests[(tests["comparison"] == pr.comparison) & (tests["null"] == pr.null) & (tests["test"] == "wilcoxon")
                    & (tests["rank"].astype(str) == "mean")]
        p = float(row["p_adj"].iloc[0]) if len(row) else float("nan")
        tag = "known null: " if pr.known_null else ""
        ax.set_title(f"{tag}{pr.comparison}\nvs {pr.null}\np_adj(mean) = {p:.2g}" + (" *" if p < alpha else ""), fontsize=6.5)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(pairs):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.supxlabel("focus rank", fontsize=8)
    fig.supylabel("median distance (px)", fontsize=8)
    _save(fig, path, dpi)


def spread_figure(maps: pd.DataFrame, path: str, dpi: int = 110) -> None:
    """Normalized entropy and Gini of the maps (draw 0) per model and variant."""
    m = maps[maps["draw"] == 0]
    groups = list(m.groupby(["model", "variant"], sort=True))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = [f"{a}\n{b}" for (a, b), _ in groups]
    for ax, col, title in ((axes[0], "normalized_entropy", "normalized entropy (1 = uniform)"),
                           (axes[1], "gini", "Gini coefficient (0 = uniform)")):
        ax.boxplot([g[col].dropna().to_numpy() for _, g in groups], showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
        ax.set_title(title, fontsize=9)
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
