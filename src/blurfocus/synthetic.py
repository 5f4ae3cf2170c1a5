"""The embedded known-answer data set: two cues, each fully predictive of the class.

Every image (S x S RGB, noisy low-frequency background) carries

- a **texture cue**: a small square patch of fine diagonal stripes (period ``texture_period``
  pixels, about 3), at +45 degrees for "cat" and -45 degrees for "dog". Its mean equals the
  local background, so a blur wider than the period erases it completely.
- a **shape cue**: a large ellipse (aspect about 2), elongated horizontally for "cat" and
  vertically for "dog", which survives blur.

Position, colours and sizes are random per image (seeded), and the two cues never overlap.
Ground-truth masks (bool S x S per cue) are saved beside the images, keyed by image id
(``<class>/<number>.png``), so saliency can be scored against them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .seeding import rng_for

CLASSES = ("cat", "dog")


def render(
    label: int,
    size: int,
    rng: np.random.Generator,
    *,
    texture_size: float = 0.18,
    texture_period: float = 3.0,
    shape_size: float = 0.42,
    shape_aspect: float = 2.0,
    shape_contrast: float = 0.2,
    texture_contrast: float = 0.35,
    background_noise: float = 0.06,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image of class ``label`` (0 = cat, 1 = dog).

    Returns (image uint8 (S, S, 3), texture mask bool (S, S), shape mask bool (S, S)).
    """
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    # background: random colour, a gentle linear ramp, pixel noise
    base = rng.uniform(0.3, 0.7, size=3)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = ((xx - s / 2) * math.cos(angle) + (yy - s / 2) * math.sin(angle)) / s
    img = base[None, None, :] + 0.15 * ramp[..., None]

    # shape cue: an ellipse elongated horizontally (cat) or vertically (dog)
    major = shape_size * s * rng.uniform(0.9, 1.1) / 2
    minor = major / (shape_aspect * rng.uniform(0.95, 1.05))
    ry, rx = (minor, major) if label == 0 else (major, minor)
    cy = rng.uniform(ry + 1, s - ry - 1)
    cx = rng.uniform(rx + 1, s - rx - 1)
    shape = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    # shape colour: differs from the background by at least shape_contrast in mean intensity
    sign = rng.choice([-1.0, 1.0])
    colour = np.clip(base + sign * shape_contrast * rng.uniform(1.0, 1.4) + rng.uniform(-0.1, 0.1, size=3), 0.05, 0.95)
    img[shape] = colour

    # texture cue: stripe patch, away from the shape
    t = max(4, int(round(texture_size * s)))
    for _ in range(1000):
        ty, tx = rng.integers(1, s - t - 1, size=2)
        y0, y1 = max(0, ty - 2), min(s, ty + t + 2)
        x0, x1 = max(0, tx - 2), min(s, tx + t + 2)
        if not shape[y0:y1, x0:x1].any():
            break
    else:  # pragma: no cover - sizes are validated so that a free spot exists
        raise RuntimeError("no room for the texture patch; lower texture_size or shape_size")
    texture = np.zeros((s, s), dtype=bool)
    texture[ty : ty + t, tx : tx + t] = True
    phase = rng.uniform(0, 2 * math.pi)
    # cat: stripes at +45 degrees, dog: at -45 degrees (period measured across the stripes)
    coord = (xx + yy if label == 0 else xx - yy) / math.sqrt(2)
    stripes = texture_contrast * np.sin(2 * math.pi * coord / texture_period + phase)
    img[texture] = img[texture] + stripes[texture][:, None]

    img = img + rng.normal(0.0, background_noise, size=img.shape)
    pixels = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    return pixels, texture, shape


def generate(
    out_dir: str | Path,
    n_per_class: int,
    size: int,
    seed: int = 0,
    *,
    texture_size: float = 0.18,
    texture_period: float = 3.0,
    shape_size: float = 0.42,
    shape_aspect: float = 2.0,
    shape_contrast: float = 0.2,
    texture_contrast: float = 0.35,
    background_noise: float = 0.06,
    log_fn: Callable[[str], None] = print,
) -> Path:
    """Write ``out_dir/images/<class>/<i>.png`` and ``out_dir/masks.npz``; returns the images dir.

    ``masks.npz`` holds ``image_id`` (str), ``texture`` and ``shape`` (bool, N x S x S).
    """
    out = Path(out_dir)
    images = out / "images"
    ids, tex, shp = [], [], []
    for label, cls in enumerate(CLASSES):
        (images / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            rng = rng_for(seed, "synthetic", cls, i)
            pixels, texture, shape = render(
                label, size, rng,
                texture_size=texture_size, texture_period=texture_period,
                shape_size=shape_size, shape_aspect=shape_aspect, shape_contrast=shape_contrast,
                texture_contrast=texture_contrast, background_noise=background_noise,
            )
            Image.fromarray(pixels).save(images / cls / f"{i:05d}.png", optimize=False, compress_level=1)
            ids.append(f"{cls}/{i:05d}.png")
            tex.append(texture)
            shp.append(shape)
        log_fn(f"generated {n_per_class} '{cls}' images")
    np.savez_compressed(out / "masks.npz", image_id=np.array(ids), texture=np.stack(tex), shape=np.stack(shp))
    return images


def load_masks(path: str | Path, image_ids, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Texture and shape masks (bool, N x S x S) for ``image_ids``, in that order.

    With ``size`` different from the generated size, masks are center-cropped and resized with
    nearest-neighbour sampling exactly like the images (see ``images.square_resize``).
    """
    data = np.load(path)
    index = {k: i for i, k in enumerate(data["image_id"].tolist())}
    missing = [i for i in image_ids if i not in index]
    if missing:
        raise KeyError(f"{path}: no masks for {len(missing)} image ids, e.g. {missing[:3]}")
    rows = [index[i] for i in image_ids]
    texture, shape = data["texture"][rows], data["shape"][rows]
    if size is not None and texture.shape[-1] != size:
        def rs(m: np.ndarray) -> np.ndarray:
            return np.stack([np.asarray(Image.fromarray(x).resize((size, size), Image.NEAREST)) for x in m])

        texture, shape = rs(texture), rs(shape)
    return texture.astype(bool), shape.astype(bool)
