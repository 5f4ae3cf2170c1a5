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


def broken_petimages(root: Path, pets_mini: Path, good_per_class: int = 8) -> dict[str, str]:
    """A ``PetImages/{Cat,Dog}`` folder with good photos plus every kind of broken file.

    Returns {relative path: expected outcome} where outcome is 'rejected:<reason fragment>'
    or 'used:<PIL mode>'.
    """
    pet = root / "PetImages"
    expected: dict[str, str] = {}
    for cls in ("Cat", "Dog"):
        (pet / cls).mkdir(parents=True, exist_ok=True)
        for i in range(good_per_class):
            shutil.copy(pets_mini / cls / f"{i}.jpg", pet / cls / f"{i}.jpg")
            expected[f"{cls}/{i}.jpg"] = "used:RGB"
    cat = pet / "Cat"
    (cat / "666.jpg").write_bytes(b"")
    expected["Cat/666.jpg"] = "rejected:empty file"
    (cat / "100.jpg").write_text("<html>this is not a JPEG</html>")
    expected["Cat/100.jpg"] = "rejected:not an image"
    data = (pets_mini / "Cat" / "20.jpg").read_bytes()
    (cat / "101.jpg").write_bytes(data[: len(data) // 2])
    expected["Cat/101.jpg"] = "rejected:truncated"
    png_bomb(cat / "102.png")
    expected["Cat/102.png"] = "rejected:decompression bomb"
    Image.open(pets_mini / "Cat" / "21.jpg").resize((20, 16)).save(cat / "103.jpg")
    expected["Cat/103.jpg"] = "rejected:too small"
    (cat / "Thumbs.db").write_bytes(b"\x00" * 64)
    expected["Cat/Thumbs.db"] = "rejected:not an image file"
    dog = pet / "Dog"
    Image.open(pets_mini / "Dog" / "20.jpg").convert("L").save(dog / "200.jpg")
    expected["Dog/200.jpg"] = "used:L"
    Image.open(pets_mini / "Dog" / "21.jpg").convert("CMYK").save(dog / "201.jpg")
    expected["Dog/201.jpg"] = "used:CMYK"
    rgba = Image.open(pets_mini / "Dog" / "22.jpg").convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:, : rgba.size[0] // 2] = 0  # left half transparent
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(dog / "202.png")
    expected["Dog/202.png"] = "used:RGBA"
    Image.open(pets_mini / "Dog" / "23.jpg").resize((60, 50)).save(dog / "203.jpg")
    expected["Dog/203.jpg"] = "used:RGB"  # smaller than the input size: upscaled
    shutil.copy(pets_mini / "Dog" / "0.jpg", dog / "204.jpg")  # exact duplicate of Dog/0.jpg
    expected["Dog/204.jpg"] = "used:RGB"
    return expected


# ---------------------------------------------------------------- running the workflow

import os
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
