"""Blur kernels and degradations: B = K * L + N, at model-input resolution.

Images are float32 arrays in [0, 1], shape (N, H, W, C) (channels last, as stored); all sizes
(sigma, radius, dx, dy) are in pixels of the model input. Kernels are float64 HxW arrays that
sum to 1, in convolution form (the kernel is the image of a single bright pixel).

ImageNet-C severities (Hendrycks & Dietterich, 2019), as in its ``make_imagenet_c.py``:

=====================  ==========================================================
kind                   severity 1..5 (defined for 224 px images)
=====================  ==========================================================
gaussian_blur          sigma 1, 2, 3, 4, 6
defocus_blur           (radius, alias_sigma) (3, .1), (4, .5), (6, .5), (8, .5), (10, .5)
motion_blur            (radius, sigma) (10, 3), (15, 5), (15, 8), (15, 12), (20, 15);
motion_blur_imagenetc  angle uniform in [-45, 45] degrees, seeded per image
gaussian_noise         sigma .08, .12, .18, .26, .38 on the [0, 1] scale
=====================  ==========================================================

Severities are defined at 224 px: with ``scale`` (``blur.scale: size``, the default) their
lengths in pixels (blur sigma, disc and streak radius, streak sigma) are multiplied by
``image_size / 224``; ``raw`` keeps the 224 px values. Explicit parameters are never scaled.

``motion_blur`` is the ImageMagick / ImageNet-C streak moved back by its centre of mass (a
sub-pixel, bilinear shift of the kernel), so it blurs without translating the picture;
``motion_blur_imagenetc`` is the one-sided ImageMagick kernel itself, which also translates
the content by 2-11 px at severities 1-5 (224 px). ``translate`` (whole pixels) and
``gaussian_noise`` are non-blur controls; :func:`match_strength` picks a control's strength
by equal mean SSIM to the clear images.

Images are filtered with half-sample symmetric borders (``scipy.ndimage`` mode ``reflect``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .metrics import ssim  # the project's one SSIM
from .seeding import rng_for

KINDS = (
    "gaussian_blur",
    "defocus_blur",
    "motion_blur",
    "motion_blur_imagenetc",
    "gaussian_noise",
    "translate",
)
MOTION_KINDS = ("motion_blur", "motion_blur_imagenetc")
CONTROL_KINDS = ("gaussian_noise", "translate")  # perturbations that are not a blur (matched controls)

REFERENCE_SIZE = 224  # ImageNet-C severities are defined for 224 x 224 images
SCALES = ("size", "raw")

_MOTION_SEVERITY = [{"radius": r, "sigma": s} for r, s in ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))]
SEVERITY: dict[str, list[dict[str, float]]] = {
    "gaussian_blur": [{"sigma": s} for s in (1.0, 2.0, 3.0, 4.0, 6.0)],
    "defocus_blur": [
        {"radius": r, "alias_sigma": a}
        for r, a in ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
    ],
    "motion_blur": _MOTION_SEVERITY,
    "motion_blur_imagenetc": _MOTION_SEVERITY,
    "gaussian_noise": [{"sigma": s} for s in (0.08, 0.12, 0.18, 0.26, 0.38)],
}

# severity parameters that are lengths in pixels, scaled by image_size / 224 (the defocus
# alias_sigma smooths the pixel grid, not the scene, and is not scaled)
SIZE_SCALED: dict[str, tuple[str, ...]] = {
    "gaussian_blur": ("sigma",),
    "defocus_blur": ("radius",),
    "motion_blur": ("radius", "sigma"),
    "motion_blur_imagenetc": ("radius", "sigma"),
}

# parameters each kind takes (required unless a default is given) and their lower bounds
_PARAMS: dict[str, dict[str, tuple[float | None, float | None, bool]]] = {
    # name: (default, lower bound or None, strict lower bound)
    "gaussian_blur": {"sigma": (None, 0.0, True)},
    "defocus_blur": {"radius": (None, 0.0, True), "alias_sigma": (0.5, 0.0, True)},
    "motion_blur": {"radius": (None, 0.0, True), "sigma": (None, 0.0, True)},
    "motion_blur_imagenetc": {"radius": (None, 0.0, True), "sigma": (None, 0.0, True)},
    "gaussian_noise": {"sigma": (None, 0.0, False)},
    "translate": {"dx": (0.0, None, False), "dy": (0.0, None, False)},
}
_WHOLE_PIXELS = {"translate": ("dx", "dy")}  # a sub-pixel shift would interpolate, i.e. blur


class BlurSpecError(ValueError):
    """A blur step that cannot be built; the message names the key and the allowed values."""


def severity_scale(mode: str, image_size: int) -> float:
    """Factor applied to the pixel lengths of ImageNet-C severities: ``image_size / 224`` for
    ``size``, 1 for ``raw``."""
    if mode not in SCALES:
        raise BlurSpecError(f"blur.scale: {mode!r} is not allowed; allowed: {', '.join(SCALES)}")
    if mode == "raw":
        return 1.0
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise BlurSpecError(f"dataset.image_size: {image_size!r} must be a positive integer")
    return image_size / REFERENCE_SIZE


@dataclass(frozen=True)
class BlurStep:
    """One degradation: ``kind`` plus its resolved parameters (pixels, or [0,1] for noise).

    ``severity`` is the ImageNet-C severity the parameters came from (None for explicit ones)
    and ``scale`` the factor its pixel lengths were multiplied by (see :func:`severity_scale`).
    """

    kind: str
    params: Mapping[str, float] = field(default_factory=dict)
    angle: float | None = None  # motion kinds only; None = seeded random per image
    severity: int | None = None
    scale: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, **{k: float(v) for k, v in self.params.items()}}
        if self.kind in MOTION_KINDS:
            d["angle"] = None if self.angle is None else float(self.angle)
        if self.severity is not None:
            d["severity"] = int(self.severity)
            d["severity_scale"] = float(self.scale)
        return d


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def parse_step(spec: Mapping[str, Any], where: str = "blur step", scale: float = 1.0) -> BlurStep:
    """Resolve a config blur step (explicit parameters or an ImageNet-C ``severity``).

    ``scale`` multiplies the pixel lengths of a severity's parameters (:data:`SIZE_SCALED`);
    explicit parameters are taken as given.
    """
    if not isinstance(spec, Mapping):
        raise BlurSpecError(f"{where}: expected a mapping with 'kind', got {spec!r}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise BlurSpecError(f"{where}.kind: {kind!r} is not a blur kind; allowed: {', '.join(KINDS)}")
    has_severity = kind in SEVERITY
    allowed = (
        set(_PARAMS[kind])
        | {"kind"}
        | ({"severity"} if has_severity else set())
        | ({"angle"} if kind in MOTION_KINDS else set())
    )
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
        if not _is_number(scale) or scale <= 0:
            raise BlurSpecError(f"{where}: severity scale {scale!r} must be a positive number")
        params = {
            k: float(v) * (scale if k in SIZE_SCALED.get(kind, ()) else 1.0)
            for k, v in SEVERITY[kind][severity - 1].items()
        }
    else:
        params = {}
        for name, (default, low, strict) in _PARAMS[kind].items():
            value = explicit.get(name, default)
            if value is None:
                needs = " (or 'severity' 1-5)" if has_severity else ""
                raise BlurSpecError(f"{where}: {kind} needs '{name}'{needs}")
            if not _is_number(value):
                raise BlurSpecError(f"{where}.{name}: {value!r} must be a number")
            if low is not None and (value < low or (strict and value == low)):
                op = ">" if strict else ">="
                raise BlurSpecError(f"{where}.{name}: {value!r} must be {op} {low:g}")
            if name in _WHOLE_PIXELS.get(kind, ()) and value != int(value):
                raise BlurSpecError(
                    f"{where}.{name}: {value!r} must be a whole number of pixels "
                    "(a sub-pixel shift would interpolate, i.e. blur)"
                )
            params[name] = float(value)
    angle = spec.get("angle")
    if angle is not None and not _is_number(angle):
        raise BlurSpecError(f"{where}.angle: {angle!r} must be a number of degrees or null")
    return BlurStep(
        kind,
        params,
        None if angle is None else float(angle),
        severity=severity,
        scale=float(scale) if severity is not None else 1.0,
    )


def parse_variant(spec: Any, name: str = "variant", scale: float = 1.0) -> list[BlurStep]:
    """A variant is one step or a list of steps, applied in order (``scale``: see
    :func:`parse_step`)."""
    steps = spec if isinstance(spec, (list, tuple)) else [spec]
    if not steps:
        raise BlurSpecError(f"blur.variants.{name}: needs at least one step")
    return [parse_step(s, f"blur.variants.{name}[{i}]", scale) for i, s in enumerate(steps)]


def is_control(spec: Any) -> bool:
    """Whether a variant (config form) is a non-blur control: none of its steps is a blur
    (the study's blur plus noise, B = K*L + N, is a blur)."""
    steps = spec if isinstance(spec, (list, tuple)) else [spec]
    return all(step["kind"] in CONTROL_KINDS for step in steps)


# --------------------------------------------------------------------------- strength sweeps


@dataclass(frozen=True)
class Strength:
    """Where an expanded sweep variant comes from: sweep name, swept parameter, its value."""

    sweep: str
    param: str
    value: float


@dataclass(frozen=True)
class SweepExpansion:
    """:func:`expand_sweeps` result: ``variants`` name -> step spec (config form) and
    ``strengths`` name -> :class:`Strength`, both in sweep order then value order."""

    variants: dict[str, dict[str, Any]]
    strengths: dict[str, Strength]


def sweep_value_name(value: float) -> str:
    """A variant-name-safe spelling of a number: 0.5 -> ``0p5``, 2.0 -> ``2``, -1 -> ``m1``."""
    text = format(float(value), "g")
    return text.replace("-", "m").replace("+", "").replace(".", "p")


def expand_sweeps(sweeps: Mapping[str, Mapping[str, Any]] | None) -> SweepExpansion:
    """Expand ``blur.sweeps`` entries into one variant per value.

    ``{gauss: {kind: gaussian_blur, param: sigma, values: [0.5, 1]}}`` gives variants
    ``gauss_0p5`` and ``gauss_1`` (``{kind: gaussian_blur, sigma: 0.5}``, ...); ``fixed`` holds
    the step's other parameters (e.g. ``{radius: 10}`` for a motion-blur sigma sweep);
    ``param: severity`` sweeps ImageNet-C severities. Raises :class:`BlurSpecError` naming the
    sweep for a bad entry.
    """
    variants: dict[str, dict[str, Any]] = {}
    strengths: dict[str, Strength] = {}
    for sweep, entry in (sweeps or {}).items():
        where = f"blur.sweeps.{sweep}"
        if not isinstance(entry, Mapping):
            raise BlurSpecError(f"{where}: expected a mapping with kind, param and values, got {entry!r}")
        missing = [k for k in ("kind", "param", "values") if k not in entry]
        if missing:
            raise BlurSpecError(f"{where}: needs {', '.join(missing)}")
        kind, param, values = entry["kind"], entry["param"], entry["values"]
        fixed = dict(entry.get("fixed") or {})
        if kind not in KINDS:
            raise BlurSpecError(f"{where}.kind: {kind!r} is not a blur kind; allowed: {', '.join(KINDS)}")
        sweepable = list(_PARAMS[kind]) + (["severity"] if kind in SEVERITY else [])
        if param not in sweepable:
            raise BlurSpecError(f"{where}.param: {param!r} is not a parameter of {kind}; allowed: {', '.join(sweepable)}")
        if param in fixed or "kind" in fixed:
            raise BlurSpecError(f"{where}.fixed: must not set {param!r} or 'kind' (the sweep sets them)")
        if not isinstance(values, (list, tuple)) or not values:
            raise BlurSpecError(f"{where}.values: needs a non-empty list of numbers")
        for value in values:
            if not _is_number(value):
                raise BlurSpecError(f"{where}.values: {value!r} is not a number")
            name = f"{sweep}_{sweep_value_name(value)}"
            if name in variants:
                raise BlurSpecError(f"{where}.values: {value!r} gives the variant name {name!r} twice; make the values distinct")
            spec = {"kind": kind, **fixed, param: value}
            parse_step(spec, f"{where} (value {value!r})")
            variants[name] = spec
            strengths[name] = Strength(sweep, param, float(value))
    return SweepExpansion(variants, strengths)


def add_sweep_variants(blur_config: dict[str, Any]) -> Iterable[str]:
    """Config validation: add the expanded ``blur.sweeps`` to ``blur.variants`` (in place).

    Yields an error message for a bad sweep, or for an expanded name that is already a
    different variant (re-validating an expanded config is fine). ``blur.test: null`` later
    takes every variant, the expanded ones included.
    """
    try:
        expansion = expand_sweeps(blur_config.get("sweeps"))
    except BlurSpecError as exc:
        yield str(exc)
        return
    variants = blur_config["variants"]
    for name, spec in expansion.variants.items():
        if name in variants:
            try:
                same = parse_variant(variants[name], name) == parse_variant(spec, name)
            except BlurSpecError:
                same = False
            if not same:
                sweep = expansion.strengths[name].sweep
                yield f"blur.sweeps.{sweep}: expands to {name!r}, which blur.variants already defines differently; rename one"
            continue
        variants[name] = spec


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

    As in ImageNet-C, the support is 17x17 for radius <= 8 (else 2*ceil(radius)+1) and the
    alias Gaussian is a 3x3 (or 5x5) kernel of std ``alias_sigma``, applied as
    ``cv2.GaussianBlur`` does, with OpenCV's default border (``BORDER_REFLECT_101``: the disc
    is mirrored about the outermost taps, which are not repeated). Normalized to sum 1
    (ImageNet-C does not renormalize; with the mirrored border its kernels sum to slightly
    more than 1).
    """
    half = 8 if radius <= 8 else int(math.ceil(radius))
    coords = np.arange(-half, half + 1, dtype=np.float64)
    xx, yy = np.meshgrid(coords, coords)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    g = _cv2_gaussian_1d(3 if radius <= 8 else 5, alias_sigma)
    out = _correlate_reflect101(disk, np.outer(g, g))
    return out / out.sum()


def _correlate_reflect101(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'Same' 2-D correlation of a small array with OpenCV's BORDER_REFLECT_101 border
    (numpy ``pad`` mode ``reflect``); used to build kernels only."""
    kh, kw = kernel.shape
    pad = np.pad(img, ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="reflect")
    out = np.zeros_like(img)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * pad[i : i + img.shape[0], j : j + img.shape[1]]
    return out


def _imagemagick_motion_taps(radius: float, sigma: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Taps of ImageMagick's ``MotionBlurImage`` (``-motion-blur radius x sigma + angle``).

    ImageMagick sets ``out(p) = sum_i w_i * in(p + o_i)`` for ``i = 0 .. 2*ceil(radius)``,
    ``w_i`` proportional to exp(-i^2 / (2 sigma^2)), ``o_i = (ceil(i cos a - 1/2),
    ceil(i sin a - 1/2))`` in (column, row) with rows growing downwards. Returns the offsets
    as an (n, 2) int array of (row, column) and the weights (sum 1).
    """
    width = int(2 * math.ceil(radius) + 1)
    i = np.arange(width, dtype=np.float64)
    w = np.exp(-(i**2) / (2 * sigma**2))
    theta = math.radians(angle)
    cols = np.ceil(i * math.cos(theta) - 0.5).astype(int)
    rows = np.ceil(i * math.sin(theta) - 0.5).astype(int)
    return np.stack([rows, cols], axis=1), w / w.sum()


def motion_shift(radius: float, sigma: float, angle: float) -> tuple[float, float]:
    """(rows, columns) in pixels by which the one-sided ImageMagick / ImageNet-C kernel moves
    the picture's centre of mass (rows grow downwards); :func:`motion_kernel` with
    ``centered=True`` compensates exactly this shift."""
    offsets, w = _imagemagick_motion_taps(radius, sigma, angle)
    dy, dx = -(w[:, None] * offsets).sum(axis=0)
    return float(dy), float(dx)


def motion_shift_length(radius: float, sigma: float) -> float:
    """Length in pixels of the translation of the one-sided kernel before rounding the taps to
    pixels: the weighted mean tap index sum(i w_i) (about sigma * sqrt(2/pi) when radius >> sigma)."""
    _, w = _imagemagick_motion_taps(radius, sigma, 0.0)
    return float((np.arange(len(w)) * w).sum())


def motion_kernel(radius: float, sigma: float, angle: float, centered: bool = True) -> np.ndarray:
    """Motion-blur kernel of ImageMagick / Wand ``motion_blur``, as ImageNet-C uses it.

    The streak of :func:`_imagemagick_motion_taps` (``2*ceil(radius)+1`` taps along ``angle``,
    degrees, in ImageMagick's convention: the same image as ``convert -motion-blur``, tested).
    ``centered=False`` is ImageMagick's one-sided kernel, which moves the picture by
    :func:`motion_shift`; ``centered=True`` (the default) moves the whole streak back by that
    shift, each tap spread bilinearly over its four nearest pixels, so the kernel's centre of
    mass is at its centre and the blur does not translate the picture. Normalized to sum 1.
    """
    offsets, w = _imagemagick_motion_taps(radius, sigma, angle)
    pos = -offsets.astype(np.float64)  # convolution form: an impulse at p spreads to p - o_i
    if centered:
        pos -= (w[:, None] * pos).sum(axis=0)
    half = int(np.ceil(np.abs(pos).max()))
    k = np.zeros((2 * half + 1, 2 * half + 1))
    base = np.floor(pos).astype(int)
    frac = pos - base
    for (r0, c0), (fr, fc), wi in zip(base, frac, w):
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                if wr * wc > 0:
                    k[r0 + dr + half, c0 + dc + half] += wi * wr * wc
    return k / k.sum()


# --------------------------------------------------------------------------- filtering


def _reflect(idx: np.ndarray, n: int) -> np.ndarray:
    """Map any indices onto an axis of length n by half-sample symmetric reflection
    ('reflect' in scipy.ndimage: d c b a | a b c d | d c b a)."""
    period = 2 * n
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - 1 - idx, idx)


def _reflect_index(n: int, before: int, after: int) -> np.ndarray:
    """Indices of a half-sample symmetric ('reflect' in scipy) padding of an axis of length n."""
    return _reflect(np.arange(-before, n + after), n)


def translate_images(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Move (N, H, W, C) images by ``dx`` columns right and ``dy`` rows down (whole pixels);
    the uncovered border is filled by reflection (scipy.ndimage ``reflect``)."""
    n, h, w, c = images.shape
    rows = _reflect(np.arange(h) - int(dy), h)
    cols = _reflect(np.arange(w) - int(dx), w)
    return images[:, rows][:, :, cols]


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
    elif step.kind in MOTION_KINDS:
        out = np.empty_like(images, dtype=np.float32)
        centered = step.kind == "motion_blur"
        for i, image_id in enumerate(image_ids):
            angle = step.angle
            if angle is None:
                # the ImageNet-C draw; the stream is named "motion_blur" for both kinds
                angle = float(rng_for(*seed, "motion_blur", image_id).uniform(-45, 45))
            k = motion_kernel(p["radius"], p["sigma"], angle, centered=centered)
            out[i] = filter_images(images[i : i + 1], k)[0]
    elif step.kind == "translate":
        out = translate_images(images, int(p["dx"]), int(p["dy"]))
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


def job_record(steps: Sequence[BlurStep], scale: str, image_size: int) -> dict[str, Any]:
    """What a blur job states about its variant (JSON-ready): the resolved steps, the severity
    scaling mode (``size`` or ``raw``) and factor, and for motion steps whether the kernel is
    centred and the shift in pixels that the one-sided kernel makes (compensated when centred)."""
    out_steps = []
    for step in steps:
        d = step.as_dict()
        if step.kind in MOTION_KINDS:
            d["centered"] = step.kind == "motion_blur"
            d["one_sided_shift_px"] = motion_shift_length(step.params["radius"], step.params["sigma"])
            if step.angle is not None:
                dy, dx = motion_shift(step.params["radius"], step.params["sigma"], step.angle)
                d["one_sided_shift_rows_cols"] = [dy, dx]
        out_steps.append(d)
    return {
        "description": describe(steps),
        "steps": out_steps,
        "severity_scale_mode": scale,
        "severity_scale": severity_scale(scale, image_size),
        "reference_size": REFERENCE_SIZE,
        "image_size": int(image_size),
        "uses_severity": any(s.severity is not None for s in steps),
    }


def describe(steps: Sequence[BlurStep]) -> str:
    """Human-readable chain, e.g. ``gaussian_blur(sigma=2) -> gaussian_noise(sigma=0.02)``."""
    parts = []
    for s in steps:
        args = ", ".join(f"{k}={v:g}" for k, v in s.params.items())
        if s.kind in MOTION_KINDS:
            args += ", angle=" + ("random" if s.angle is None else f"{s.angle:g}")
        if s.severity is not None:
            args += f"; ImageNet-C severity {s.severity}, lengths x{s.scale:.4g}"
        parts.append(f"{s.kind}({args})")
    return " -> ".join(parts)


# --------------------------------------------------------------------------- matched strength


def mean_ssim(clear: np.ndarray, degraded: np.ndarray) -> float:
    """Mean SSIM (:func:`blurfocus.metrics.ssim`, data range 1) over images and colour channels
    of two (N, H, W, C) float arrays in [0, 1] (as skimage's ``channel_axis`` averages)."""

    if clear.shape != degraded.shape:
        raise ValueError(f"mean_ssim: shapes differ {clear.shape} vs {degraded.shape}")
    values = [
        ssim(clear[i, :, :, ch], degraded[i, :, :, ch], data_range=1.0)
        for i in range(clear.shape[0])
        for ch in range(clear.shape[3])
    ]
    return float(np.mean(values))


@dataclass(frozen=True)
class StrengthMatch:
    """:func:`match_strength` result: the step ``spec`` (config form) whose mean SSIM to the
    clear images is closest to the target's, with both SSIMs and the criterion in words."""

    kind: str
    param: str
    value: float
    spec: dict[str, Any]
    target_ssim: float
    achieved_ssim: float
    criterion: str


def _as_unit_float(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"expected (N, H, W, C) images, got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32, copy=False)


def _degrade_float(x: np.ndarray, steps: Sequence[BlurStep], ids: Sequence[str], seed: tuple) -> np.ndarray:
    for step in steps:
        x = apply_step(x, step, ids, seed)
    return x


def match_strength(
    images: np.ndarray,
    target: Any,
    kind: str = "gaussian_noise",
    param: str | None = None,
    *,
    fixed: Mapping[str, Any] | None = None,
    bounds: tuple[float, float] | None = None,
    image_ids: Sequence[str] | None = None,
    seed: Iterable[object] = (),
    tol: float = 1e-4,
    max_iter: int = 40,
) -> StrengthMatch:
    """The strength of a ``kind`` step whose mean SSIM to the clear images equals the target's.

    ``images``: (N, H, W, C) uint8 or float in [0, 1]; ``target``: a variant spec (one step or
    a chain, config form) or parsed steps, e.g. ``{kind: gaussian_blur, sigma: 2}``. The
    criterion is equal mean SSIM (:func:`mean_ssim`) of degraded vs clear images, the
    randomness seeded per image as in the pipeline (same ``image_ids`` and ``seed``).

    Continuous parameters (noise sigma, blur sigma or radius) are found by bisection within
    ``bounds``, assuming SSIM falls as the parameter grows; ``translate`` searches the whole
    shifts 1..max(bounds) along ``param`` (``dx`` by default) and keeps the one whose SSIM is
    closest (the smallest on ties). ``achieved_ssim`` says how close the match is.
    """
    x = _as_unit_float(images)
    ids = list(image_ids) if image_ids is not None else [str(i) for i in range(len(x))]
    if len(ids) != len(x):
        raise ValueError(f"{len(ids)} image ids for {len(x)} images")
    seed = tuple(seed)
    is_steps = isinstance(target, (list, tuple)) and target and all(isinstance(t, BlurStep) for t in target)
    steps = list(target) if is_steps else parse_variant(target, "target")
    target_ssim = mean_ssim(x, _degrade_float(x, steps, ids, seed))
    if kind not in KINDS:
        raise BlurSpecError(f"match_strength: {kind!r} is not a blur kind; allowed: {', '.join(KINDS)}")
    default_param = {"gaussian_blur": "sigma", "defocus_blur": "radius", "motion_blur": "sigma",
                     "motion_blur_imagenetc": "sigma", "gaussian_noise": "sigma", "translate": "dx"}
    param = param or default_param[kind]
    fixed = dict(fixed or {})
    if kind in MOTION_KINDS:
        fixed.setdefault("radius", 10.0)  # the sigma sweep's streak support (severity 1's radius)

    def score(value: float) -> tuple[dict[str, Any], float]:
        spec = {"kind": kind, **fixed, param: value}
        step = parse_step(spec, f"match_strength ({param}={value!r})")
        return spec, mean_ssim(x, apply_step(x, step, ids, seed))

    criterion = f"equal mean SSIM to the clear images ({describe(steps)}: {target_ssim:.4f})"
    if kind == "translate":
        hi = int(max(bounds)) if bounds else max(1, min(x.shape[1], x.shape[2]) // 4)
        tried = [(s,) + score(float(s)) for s in range(1, hi + 1)]
        s, spec, achieved = min(tried, key=lambda t: (abs(t[2] - target_ssim), t[0]))
        return StrengthMatch(kind, param, float(s), spec, target_ssim, achieved, criterion)

    lo, hi = bounds if bounds else ((0.0, 1.0) if kind == "gaussian_noise" else (0.05, 20.0))
    # a zero blur is the clear image (SSIM 1), but not a valid step
    spec_lo, ssim_lo = score(lo) if lo > 0 or kind == "gaussian_noise" else ({"kind": kind, **fixed, param: lo}, 1.0)
    spec_hi, ssim_hi = score(hi)
    if not ssim_hi <= target_ssim <= ssim_lo:
        raise BlurSpecError(
            f"match_strength: the target's mean SSIM {target_ssim:.4f} is outside "
            f"[{ssim_hi:.4f}, {ssim_lo:.4f}], the SSIMs of {kind} {param} in [{lo:g}, {hi:g}]; widen bounds"
        )
    best = min(((lo, spec_lo, ssim_lo), (hi, spec_hi, ssim_hi)), key=lambda t: abs(t[2] - target_ssim))
    for _ in range(max_iter):
        if abs(best[2] - target_ssim) <= tol:
            break
        mid = 0.5 * (lo + hi)
        spec_mid, ssim_mid = score(mid)
        if abs(ssim_mid - target_ssim) < abs(best[2] - target_ssim):
            best = (mid, spec_mid, ssim_mid)
        if ssim_mid > target_ssim:
            lo = mid
        else:
            hi = mid
    value, spec, achieved = best
    return StrengthMatch(kind, param, float(value), spec, target_ssim, achieved, criterion)
