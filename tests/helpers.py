"""Builders of test data: folders of good and deliberately broken image files, tiny configs."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_bomb(path: Path, width: int = 30000, height: int = 10000) -> None:
    """A tiny PNG whose header claims width x height pixels (beyond Pillow's bomb limit)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def photo(seed: int, width: int = 180, height: int = 150) -> Image.Image:
    """A deterministic photo-like RGB test image (smooth colour field, an ellipse, mild noise).

    Different seeds give different pixels (and so different sha256 once saved); no real photos
    are needed. ``width`` x ``height`` in pixels.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (6, 6, 3)).astype(np.uint8)
    arr = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC)).astype(float)
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    inside = ((xx - cx) / (width * 0.2)) ** 2 + ((yy - cy) / (height * 0.25)) ** 2 < 1
    arr[inside] = arr[inside] * 0.4 + rng.uniform(0, 255, 3) * 0.6
    arr += rng.normal(0, 6, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def photo_folder(root: Path, classes: dict[str, int], ext: str = ".jpg", seed: int = 0) -> Path:
    """``root/<class>/<i><ext>`` with ``classes[class]`` generated photos each; returns root."""
    for k, (cls, n) in enumerate(classes.items()):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            photo(seed * 1_000_003 + k * 10_007 + i).save(root / cls / f"{i}{ext}", quality=90)
    return root


def broken_petimages(root: Path, good_per_class: int = 8) -> dict[str, str]:
    """A ``PetImages/{Cat,Dog}`` folder with good (generated) photos plus every kind of broken file.

    Returns {relative path: expected outcome} where outcome is 'rejected:<reason fragment>'
    or 'used:<PIL mode>'.
    """
    pet = root / "PetImages"
    photo_folder(pet, {"Cat": good_per_class, "Dog": good_per_class}, seed=1)
    expected: dict[str, str] = {
        f"{cls}/{i}.jpg": "used:RGB" for cls in ("Cat", "Dog") for i in range(good_per_class)
    }
    cat = pet / "Cat"
    (cat / "666.jpg").write_bytes(b"")
    expected["Cat/666.jpg"] = "rejected:empty file"
    (cat / "100.jpg").write_text("<html>this is not a JPEG</html>")
    expected["Cat/100.jpg"] = "rejected:not an image"
    photo(120).save(cat / "101.full.jpg", quality=90)
    data = (cat / "101.full.jpg").read_bytes()
    (cat / "101.full.jpg").unlink()
    (cat / "101.jpg").write_bytes(data[: len(data) // 2])
    expected["Cat/101.jpg"] = "rejected:truncated"
    png_bomb(cat / "102.png")
    expected["Cat/102.png"] = "rejected:decompression bomb"
    photo(121, 20, 16).save(cat / "103.jpg")
    expected["Cat/103.jpg"] = "rejected:too small"
    (cat / "Thumbs.db").write_bytes(b"\x00" * 64)
    expected["Cat/Thumbs.db"] = "rejected:not an image file"
    dog = pet / "Dog"
    photo(220).convert("L").save(dog / "200.jpg")
    expected["Dog/200.jpg"] = "used:L"
    photo(221).convert("CMYK").save(dog / "201.jpg")
    expected["Dog/201.jpg"] = "used:CMYK"
    rgba = photo(222).convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:, : rgba.size[0] // 2] = 0  # left half transparent
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(dog / "202.png")
    expected["Dog/202.png"] = "used:RGBA"
    photo(223, 60, 50).save(dog / "203.jpg")
    expected["Dog/203.jpg"] = "used:RGB"  # smaller than the input size: upscaled
    shutil.copy(dog / "0.jpg", dog / "204.jpg")  # exact duplicate of Dog/0.jpg
    expected["Dog/204.jpg"] = "used:RGB"
    return expected


# ---------------------------------------------------------------- running the workflow

import os
import re
import subprocess

from blurfocus.workflow import snakemake_executable, snakemake_job_counts

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = snakemake_executable()


def snakemake(workdir: Path, *args: str, configfile: Path | None = None, check: bool = True,
              timeout: int = 1200) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` (its results/ go there)."""
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += list(args)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def preset(name: str, dest: Path, **overrides) -> Path:
    """Copy presets/NAME.yaml to ``dest`` with top-level sections updated by ``overrides``."""
    import yaml

    cfg = yaml.safe_load((REPO / "presets" / f"{name}.yaml").read_text())
    for section, values in overrides.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
        else:
            cfg[section] = values
    dest.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


def dry_run_jobs(workdir: Path, configfile: Path, *extra: str) -> dict[str, int]:
    """{rule: count} of the jobs a dry run would execute."""
    proc = snakemake(workdir, "-n", "--quiet", "rules", configfile=configfile, *extra)
    jobs = snakemake_job_counts(proc.stdout + proc.stderr)
    jobs.pop("total", None)
    return jobs


def job_blocks(text: str) -> list[dict]:
    """Jobs of a dry run: [{rule, wildcards, input: [...], output: [...], reason}]."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if m:
            out.append({"rule": m.group(1), "wildcards": "", "input": [], "output": [], "reason": ""})
            continue
        key, _, value = line.strip().partition(": ")
        if out and key in ("input", "output"):
            out[-1][key] = [v.strip() for v in value.split(",")]
        elif out and key in ("wildcards", "reason"):
            out[-1][key] = value
    return [j for j in out if j["rule"] != "all"]


def loud_skip(pytestconfig, message: str) -> None:
    """Skip with ``message`` printed to the terminal even under capture, and as a warning, so a
    test that could not run is seen in the summary (pytest's -ra lists it too)."""
    import sys
    import warnings

    import pytest

    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print(f"\n{message}", file=sys.stderr, flush=True)
    else:
        print(message, file=sys.stderr, flush=True)
    warnings.warn(message, stacklevel=3)
    pytest.skip(message)
