"""Decoding and checking one image file, and resizing it to the model input.

An image is accepted only if it decodes completely. Grayscale, CMYK, palette and alpha images
are converted to RGB (alpha composited onto white); EXIF orientation is applied. Everything
else (zero bytes, not an image, truncated data, decompression bombs, too small) is rejected
with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

# never accept a partly decoded image
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRejected(ValueError):
    """The file cannot be used; ``str(exc)`` is the reason written to rejected.tsv."""


@dataclass(frozen=True)
class CheckedImage:
    """A decoded image resized to the model input: ``pixels`` uint8 (size, size, 3)."""

    pixels: np.ndarray
    sha256: str
    width: int  # as displayed (after EXIF orientation), pixels of the file before resizing
    height: int
    mode: str  # mode before conversion to RGB (e.g. 'L', 'CMYK', 'RGBA')


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB view of any PIL image; transparency is composited onto white."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 0 else 1.0
        img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
    return img.convert("RGB")


def square_resize(img: Image.Image, size: int) -> np.ndarray:
    """Center-crop the largest square and resize it to ``size`` x ``size`` (bilinear, antialiased).

    Returns uint8 (size, size, 3).
    """
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    out = img.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(out, dtype=np.uint8)


def decode_and_resize(data: bytes, size: int, min_size: int = 1, name: str = "image") -> CheckedImage:
    """Decode ``data`` fully, check it, convert to RGB and resize to ``size``.

    Raises :class:`ImageRejected` with the reason when the bytes are not a usable image.
    """
    sha = hashlib.sha256(data).hexdigest()
    if not data:
        raise ImageRejected("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            mode = img.mode
            if img.format == "JPEG" and min(width, height) >= 2 * size:
                # decode at a reduced DCT scale that still covers the target size; every
                # entropy-coded byte is still read, so truncation is still detected
                img.draft(None, (max(size, width * size // min(width, height)), max(size, height * size // min(width, height))))
            img.load()
            if img.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation turns it by 90 degrees
                width, height = height, width
            img = ImageOps.exif_transpose(img)  # as displayed (EXIF orientation applied)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            f"decompression bomb: {exc} (raise PIL.Image.MAX_IMAGE_PIXELS only for trusted data)"
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageRejected("not an image Pillow can identify (wrong extension or corrupt header)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in msg.lower():
            raise ImageRejected(f"truncated image data ({msg})") from None
        raise ImageRejected(f"cannot decode: {msg}") from None
    if min(width, height) < min_size:
        raise ImageRejected(
            f"too small: {width}x{height} pixels, shorter side below dataset.min_size={min_size}"
        )
    try:
        pixels = square_resize(to_rgb(img), size)
    except (OSError, ValueError) as exc:
        raise ImageRejected(f"cannot convert to RGB: {exc}") from None
    return CheckedImage(pixels, sha, width, height, mode)


def check_file(path: str | Path, size: int, min_size: int = 1) -> CheckedImage:
    """:func:`decode_and_resize` on a file's bytes."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageRejected(f"cannot read file: {exc.strerror or exc}") from None
    return decode_and_resize(data, size, min_size, str(path))
