"""Sanity check of the saliency method: cascading model-parameter randomization (Adebayo et al.,
"Sanity Checks for Saliency Maps", NeurIPS 2018).

Starting from the trained model, the layers with parameters are re-initialized one after the
other from the top (the logits) down to the input; after each step the saliency maps of the
same images are recomputed (same noise) and compared with the trained model's maps by the
Spearman rank correlation of the absolute maps and by SSIM (maps scaled to [0, 1]). Maps that
barely change when the model's weights are destroyed do not explain the model.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage, stats

if TYPE_CHECKING:  # torch only where the randomization runs, so the report can use the verdict without it
    from torch import nn


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, sigma: float = 1.5) -> float:
    """Mean structural similarity of two HxW images (Wang et al., 2004).

    Gaussian window (std ``sigma``, truncated at 3.5 std), K1 = 0.01, K2 = 0.03, population
    covariances; the border of half a window is left out. Matches
    ``skimage.metrics.structural_similarity(a, b, data_range=..., gaussian_weights=True,
    use_sample_covariance=False)``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")

    def filt(x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x, sigma=sigma, mode="nearest", truncate=3.5)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ua, ub = filt(a), filt(b)
    va = filt(a * a) - ua * ua
    vb = filt(b * b) - ub * ub
    vab = filt(a * b) - ua * ub
    s = ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua**2 + ub**2 + c1) * (va + vb + c2))
    pad = (int(2 * int(3.5 * sigma + 0.5) + 1) - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean()) if min(a.shape) > 2 * pad else float(s.mean())


def unit_scale(m: np.ndarray) -> np.ndarray:
    """|map| divided by its maximum (all-zero maps stay zero)."""
    m = np.abs(np.asarray(m, dtype=np.float64))
    hi = m.max()
    return m / hi if hi > 0 else m


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the absolute maps (NaN if either is constant)."""
    a, b = np.abs(np.ravel(a)), np.abs(np.ravel(b))
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def cascade_layers(net: nn.Module, max_steps: int = 12) -> list[list[str]]:
    """Cascade steps from the output back to the input: each step is a list of modules that own
    parameters (names inside ``net``), re-initialized together.

    Small networks (AlexNet: 8 layers) get one module per step; deeper ones are grouped by name
    prefix (e.g. timm's ``blocks.3``) into at most about ``max_steps`` blocks, as Adebayo et
    al. did for Inception.
    """
    names = [n for n, m in net.named_modules() if n and any(True for _ in m.parameters(recurse=False))]

    def group_by(level: int) -> list[list[str]]:
        groups: dict[str, list[str]] = {}
        for n in names:
            groups.setdefault(".".join(n.split(".")[:level]), []).append(n)
        return list(groups.values())

    depth = max((n.count(".") + 1 for n in names), default=1)
    steps = group_by(1)
    for level in range(2, depth + 1):  # the finest grouping with at most max_steps steps
        finer = group_by(level)
        if len(finer) > max_steps:
            break
        steps = finer
    return steps[::-1]


def step_name(group: Sequence[str]) -> str:
    """A step's label: the module name, or the common prefix of a block of modules."""
    if len(group) == 1:
        return group[0]
    parts = [g.split(".") for g in group]
    common = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ".".join(common) or "+".join(group[:2])


def cascading_randomization(
    model: nn.Module,
    maps_fn: Callable[[nn.Module], np.ndarray],
    layers: Sequence[Sequence[str]],
    seed: int = 0,
    log_fn: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Re-initialize the steps in ``layers`` cumulatively (each a list of module names inside
    ``model.net``) and compare maps.

    ``maps_fn(model)`` returns the (N, H, W) maps of the fixed images. Returns a table
    ``step, layer, image, spearman, ssim`` (step 0 = the trained model compared with itself)
    and the maps of every step keyed by the step's name (its common prefix; "trained" for step 0).
    """
    import torch

    work = copy.deepcopy(model)
    reference = maps_fn(work)
    all_maps = {"trained": reference}
    rows = []
    for i in range(len(reference)):
        rows.append((0, "trained", i, 1.0, 1.0))
    torch.manual_seed(seed)
    for step, group in enumerate(layers, start=1):
        name = step_name(group)
        for module_name in group:
            module = work.net.get_submodule(module_name)
            if not hasattr(module, "reset_parameters"):
                raise ValueError(f"layer {module_name!r} cannot be re-initialized (no reset_parameters)")
            module.reset_parameters()
        maps = maps_fn(work)
        all_maps[name] = maps
        for i in range(len(maps)):
            rows.append((step, name, i, spearman_abs(reference[i], maps[i]), ssim(unit_scale(reference[i]), unit_scale(maps[i]))))
        last = rows[-len(maps):]
        log_fn(f"step {step}: randomized down to {name}: mean Spearman {np.nanmean([r[3] for r in last]):.3f}, "
               f"mean SSIM {np.mean([r[4] for r in last]):.3f}")
    return pd.DataFrame(rows, columns=["step", "layer", "image", "spearman", "ssim"]), all_maps


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of the similarities per cascade step."""
    g = table.groupby(["step", "layer"], sort=False)
    return g.agg(
        spearman_mean=("spearman", "mean"), spearman_sd=("spearman", "std"),
        ssim_mean=("ssim", "mean"), ssim_sd=("ssim", "std"), n=("image", "count"),
    ).reset_index()


def verdict(summary: pd.DataFrame, threshold: float, ssim_threshold: float = 0.5) -> tuple[bool, str]:
    """(red_flag, sentence) about the fully randomized model's maps.

    Red flag: both the mean Spearman correlation (absolute maps) and the mean SSIM with the
    trained model's maps stay above their thresholds: the maps hardly changed. When only the
    rank correlation stays high, the sentence says so: the coarse layout follows the image
    (edges, objects) while the fine structure follows the weights.
    """
    final = summary.iloc[-1]
    rho, s = float(final["spearman_mean"]), float(final["ssim_mean"])
    if rho > threshold and s > ssim_threshold:
        return True, (
            f"RED FLAG: after randomizing every layer the maps are still similar to the trained model's "
            f"(mean Spearman {rho:.2f} > {threshold:g}, mean SSIM {s:.2f} > {ssim_threshold:g}); they reflect "
            "the input more than the model."
        )
    if rho > threshold:
        return False, (
            f"Partly passed: randomizing every layer changes the maps' structure (mean SSIM {s:.2f} <= "
            f"{ssim_threshold:g}), but their pixel ranking still correlates with the trained model's maps (mean "
            f"Spearman {rho:.2f} > {threshold:g}): the coarse layout of the maps follows the image itself "
            "(edges and objects), so read the focus together with the null-calibrated tests."
        )
    return False, (
        f"Passed: randomizing the layers changes the maps (mean Spearman {rho:.2f} and SSIM {s:.2f} "
        f"after randomizing every layer, thresholds {threshold:g} and {ssim_threshold:g})."
    )
