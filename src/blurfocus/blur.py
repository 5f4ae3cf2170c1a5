"""Blur kernels and degradations: B = K * L + N, at model-input resolution.

Images are float32 arrays in [0, 1], shape (N, H, W, C) (channels last, as stored); all sizes
(sigma, radius) are in pixels of the model input. Kernels are float64 HxW arrays that sum to 1.

ImageNet-C severities (Hendrycks & Dietterich, 2019), as in its ``make_imagenet_c.py``:

==============  ===============================================================
kind            severity 1..5
==============  ===============================================================
gaussian_blur   sigma 1, 2, 3, 4, 6
defocus_blur    (radius, alias_sigma) (3, .1), (4, .5), (6, .5), (8, .5), (10, .5)
motion_blur     (radius, sigma) (10, 3), (15, 5), (15, 8), (15, 12), (20, 15);
                angle uniform in [-45, 45] degrees, seeded per image
gaussian_noise  sigma .08, .12, .18, .26, .38 on the [0, 1] scale
==============  ===============================================================

Borders are handled by half-sample symmetric reflection (``scipy.ndimage`` mode ``reflect``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .seeding import rng_for

KINDS = ("gaussian_blur", "defocus_blur", "motion_blur", "gaussian_noise")

SEVERITY: dict[str, list[dict[str, float]]] = {
    "gaussian_blur": [{"sigma": s} for s in (1.0, 2.0, 3.0, 4.0, 6.0)],
    "defocus_blur": [
        {"radius": r, "alias_sigma": a}
        for r, a in ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
    ],
    "motion_blur": [
        {"radius": r, "sigma": s} for r, s in ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))
    ],
    "gaussian_noise": [{"sigma": s} for s in (0.08, 0.12, 0.18, 0.26, 0.38)],
}

# parameters each kind takes (required unless a default is given) and their lower bounds
_PARAMS: dict[str, dict[str, tuple[float | None, float, bool]]] = {
    # name: (default, lower bound, strict lower bound)
    "gaussian_blur": {"sigma": (None, 0.0, True)},
    "defocus_blur": {"radius": (None, 0.0, True), "alias_sigma": (0.5, 0.0, True)},
    "motion_blur": {"radius": (None, 0.0, True), "sigma": (None, 0.0, True)},
    "gaussian_noise": {"sigma": (None, 0.0, False)},
}


class BlurSpecError(ValueError):
    """A blur step that cannot be built; the message names the key and the allowed values."""


@dataclass(frozen=True)
class BlurStep:
    """One degradation: ``kind`` plus its resolved parameters (pixels, or [0,1] for noise)."""

    kind: str
    params: Mapping[str, float] = field(default_factory=dict)
    angle: float | None = None  # motion_blur only; None = seeded random per image

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, **{k: float(v) for k, v in self.params.items()}}
        if self.kind == "motion_blur":
            d["angle"] = None if self.angle is None else float(self.angle)
        return d


def parse_step(spec: Mapping[str, Any], where: str = "blur step") -> BlurStep:
    """Resolve a config blur step (explicit parameters or an ImageNet-C ``severity``)."""
    if not isinstance(spec, Mapping):
        raise BlurSpecError(f"{where}: expected a mapping with 'kind', got {spec!r}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise BlurSpecError(f"{where}.kind: {kind!r} is not a blur kind; allowed: {', '.join(KINDS)}")
    allowed = set(_PARAMS[kind]) | {"kind", "severity"} | ({"angle"} if kind == "motion_blur" else set())
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise BlurSpecError(
            f"{where}: key(s) {', '.join(unknown)} do not apply to {kind}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    severity = spec.get("severity")
    explicit = {k: spec[k] for k in _PARAMS[kind] if k in spec}
    if severity is not None:
        if explicit:
            raise BlurSpecError(
                f"{where}: give either severity or {', '.join(explicit)}, not both"
            )
        if not isinstance(severity, int) or isinstance(severity, bool) or not 1 <= severity <= 5:
            raise BlurSpecError(f"{where}.severity: {severity!r} must be an integer 1-5")
        params = dict(SEVERITY[kind][severity - 1])
    else:
        params = {}
        for name, (default, low, strict) in _PARAMS[kind].items():
            value = explicit.get(name, default)
            if value is None:
                raise BlurSpecError(
                    f"{where}: {kind} needs '{name}' (or 'severity' 1-5)"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise BlurSpecError(f"{where}.{name}: {value!r} must be a number")
            if value < low or (strict and value == low):
                op = ">" if strict else ">="
                raise BlurSpecError(f"{where}.{name}: {value!r} must be {op} {low:g}")
            params[name] = float(value)
    angle = spec.get("angle")
    if angle is not None and (isinstance(angle, bool) or not isinstance(angle, (int, float)) or not math.isfinite(angle)):
        raise BlurSpecError(f"{where}.angle: {angle!r} must be a number of degrees or null")
    return BlurStep(kind, params, None if angle is None else float(angle))


def parse_variant(spec: Any, name: str = "variant") -> list[BlurStep]:
    """A variant is one step or a list of steps, applied in order."""
    steps = spec if isinstance(spec, (list, tuple)) else [spec]
    if not steps:
        raise BlurSpecError(f"blur.variants.{name}: needs at least one step")
    return [parse_step(s, f"blur.variants.{name}[{i}]") for i, s in enumerate(steps)]


# --------------------------------------------------------------------------- kernels


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalized 1-D Gaussian, radius ``int(truncate*sigma + 0.5)`` as in scipy.ndimage."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / sigma) ** 2)
    return phi / phi.sum()


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """2-D isotropic Gaussian kernel (outer product of :func:`gaussian_kernel1d`)."""
    k = gaussian_kernel1d(sigma, truncate)
    return np.outer(k, k)


def _cv2_gaussian_1d(ksize: int, sigma: float) -> np.ndarray:
    x = np.arange(ksize, dtype=np.float64) - (ksize - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def defocus_kernel(radius: float, alias_sigma: float = 0.5) -> np.ndarray:
    """ImageNet-C ``disk``: a flat disc of ``radius`` pixels, anti-aliased by a small Gaussian.

    As in ImageNet-C, the support is 17x17 for radius <= 8 (else 2*radius+1) and the alias
    Gaussian is a 3x3 (or 5x5) kernel of std ``alias_sigma``. Normalized to sum 1.
    """
    half = 8 if radius <= 8 else int(math.ceil(radius))
    coords = np.arange(-half, half + 1, dtype=np.float64)
    xx, yy = np.meshgrid(coords, coords)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    g = _cv2_gaussian_1d(3 if radius <= 8 else 5, alias_sigma)
    out = _convolve2d_same(disk, np.outer(g, g))
    return out / out.sum()


def motion_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick/Wand ``motion_blur`` kernel, as ImageNet-C uses it.

    A one-sided line of ``2*ceil(radius)+1`` taps from the centre in direction ``angle``
    (degrees, counter-clockwise from +x), weighted by exp(-i^2 / (2 sigma^2)) for tap i,
    each tap placed at its rounded pixel offset. Normalized to sum 1.
    """
    width = int(2 * math.ceil(radius) + 1)
    w = np.exp(-(np.arange(width, dtype=np.float64) ** 2) / (2 * sigma**2))
    theta = math.radians(angle)
    dx = np.rint(np.arange(width) * math.cos(theta)).astype(int)
    dy = np.rint(-np.arange(width) * math.sin(theta)).astype(int)  # image rows grow downwards
    half = int(max(np.abs(dx).max(), np.abs(dy).max()))
    k = np.zeros((2 * half + 1, 2 * half + 1))
    np.add.at(k, (dy + half, dx + half), w)
    return k / k.sum()


def _convolve2d_same(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Zero-padded 'same' 2-D correlation of a small array (used to build kernels only)."""
    kh, kw = kernel.shape
    pad = np.pad(img, ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros_like(img)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * pad[i : i + img.shape[0], j : j + img.shape[1]]
    return out


# --------------------------------------------------------------------------- filtering


def _reflect_index(n: int, before: int, after: int) -> np.ndarray:
    """Indices of a half-sample symmetric ('reflect' in scipy) padding of an axis of length n."""
    idx = np.arange(-before, n + after)
    period = 2 * n
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - 1 - idx, idx)


def filter_images(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of (N, H, W, C) float images with a 2-D ``kernel``.

    True convolution (kernel flipped), borders reflected as scipy.ndimage's ``reflect``.
    """
    import torch
    import torch.nn.functional as F

    n, h, w, c = images.shape
    kh, kw = kernel.shape
    rows = _reflect_index(h, kh // 2, kh - 1 - kh // 2)
    cols = _reflect_index(w, kw // 2, kw - 1 - kw // 2)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
    x = x[:, :, rows][:, :, :, cols].reshape(n * c, 1, h + kh - 1, w + kw - 1)
    k = torch.from_numpy(np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32))[None, None]
    if kh > 1 and kw > 1 and np.linalg.matrix_rank(kernel) == 1:
        # separable: two 1-D passes (much faster for large Gaussians)
        u, s, vt = np.linalg.svd(kernel[::-1, ::-1])
        kv = torch.from_numpy((u[:, 0] * math.sqrt(s[0])).astype(np.float32)).view(1, 1, kh, 1)
        kh_ = torch.from_numpy((vt[0] * math.sqrt(s[0])).astype(np.float32)).view(1, 1, 1, kw)
        y = F.conv2d(F.conv2d(x, kv), kh_)
    else:
        y = F.conv2d(x, k)
    return y.reshape(n, c, h, w).permute(0, 2, 3, 1).numpy()


def apply_step(
    images: np.ndarray, step: BlurStep, image_ids: Sequence[str], seed: Iterable[object] = ()
) -> np.ndarray:
    """Apply one step to float (N, H, W, C) images in [0, 1]; returns float32, clipped to [0, 1].

    Randomness (noise, motion angles) comes from a generator seeded per image from
    ``(*seed, kind, image_id)``, so the result does not depend on batch composition.
    """
    seed = tuple(seed)
    p = step.params
    if step.kind == "gaussian_blur":
        out = filter_images(images, gaussian_kernel(p["sigma"]))
    elif step.kind == "defocus_blur":
        out = filter_images(images, defocus_kernel(p["radius"], p["alias_sigma"]))
    elif step.kind == "motion_blur":
        out = np.empty_like(images, dtype=np.float32)
        for i, image_id in enumerate(image_ids):
            angle = step.angle
            if angle is None:
                angle = float(rng_for(*seed, "motion_blur", image_id).uniform(-45, 45))
            out[i] = filter_images(images[i : i + 1], motion_kernel(p["radius"], p["sigma"], angle))[0]
    elif step.kind == "gaussian_noise":
        out = np.empty_like(images, dtype=np.float32)
        for i, image_id in enumerate(image_ids):
            rng = rng_for(*seed, "gaussian_noise", image_id)
            out[i] = images[i] + rng.normal(0.0, p["sigma"], size=images[i].shape)
    else:  # pragma: no cover - parse_step rejects unknown kinds
        raise BlurSpecError(f"unknown blur kind {step.kind!r}")
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def degrade_uint8(
    images: np.ndarray,
    steps: Sequence[BlurStep],
    image_ids: Sequence[str],
    seed: Iterable[object] = (),
    chunk: int = 128,
) -> np.ndarray:
    """Apply a chain of steps to uint8 (N, H, W, C) images; returns uint8 of the same shape.

    Works in float32 [0, 1], rounds to the nearest uint8 at the end, in chunks of ``chunk``
    images so memory stays bounded.
    """
    if len(image_ids) != len(images):
        raise ValueError(f"{len(image_ids)} image ids for {len(images)} images")
    seed = tuple(seed)
    out = np.empty(images.shape, dtype=np.uint8)
    for start in range(0, len(images), chunk):
        x = np.asarray(images[start : start + chunk], dtype=np.float32) / 255.0
        ids = image_ids[start : start + chunk]
        for step in steps:
            x = apply_step(x, step, ids, seed)
        out[start : start + chunk] = np.rint(x * 255.0).astype(np.uint8)
    return out


def describe(steps: Sequence[BlurStep]) -> str:
    """Human-readable chain, e.g. ``gaussian_blur(sigma=2) -> gaussian_noise(sigma=0.02)``."""
    parts = []
    for s in steps:
        args = ", ".join(f"{k}={v:g}" for k, v in s.params.items())
        if s.kind == "motion_blur":
            args += ", angle=" + ("random" if s.angle is None else f"{s.angle:g}")
        parts.append(f"{s.kind}({args})")
    return " -> ".join(parts)
