"""Ingest benchmark: ``blurfocus.ingest.ingest`` with 1 thread against 2 threads, side by side.

Generates (once per run, seeded) a temporary folder in Microsoft's ``kaggle_petimages`` layout
(``PetImages/Cat``, ``PetImages/Dog``) with N JPEG files of the sizes the real set has (mostly
500x375 / 375x500, some 500x333, 320x240, 499x500...), random smooth content plus pixel noise,
quality 90, and a handful of broken files planted among them (per class: one of zero bytes, one
truncated JPEG, one text file named .jpg). Then it times the whole ``ingest(...)`` call as the
ingest rule makes it (discover, decode and check every file, resize to 224, split, write the
split arrays) with ``threads=1`` and ``threads=2`` (the rule's threads in the default config),
interleaved (1, 2, 1, 2, ...), best of each, each into a fresh output folder. Files are read from
the page cache (they were just written), so this is decode/resize/write speed, not disk speed.

It also checks that the number of rejected files equals the number of broken files planted
(exit status 1 otherwise, after printing).

    python benchmarks/bench_ingest.py [--files 2000] [--size 224] [--min-size 32] [--reps 3]
        [--threads 1 2] [--workdir DIR]

The last line printed is the speed-up (threads=2 / threads=1).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from blurfocus import ingest  # noqa: E402

# (width, height) and weight: roughly the mix of Microsoft's PetImages
SIZES = [((500, 375), 0.45), ((375, 500), 0.2), ((500, 333), 0.1), ((320, 240), 0.1),
         ((499, 500), 0.1), ((300, 225), 0.05)]


def smooth_photo(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Random smooth colour field (a low-resolution grid upsampled) plus pixel noise (sigma 5 of 255:
    about 37 kB per 500x375 file at quality 90, near the real set's average of about 33 kB)."""
    grid = rng.integers(0, 256, (rng.integers(3, 9), rng.integers(3, 9), 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), dtype=np.int16)
    img = img + rng.normal(0, 5, img.shape).astype(np.int16)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_petimages(root: Path, n: int, seed: int = 0) -> int:
    """``root/PetImages/{Cat,Dog}`` with n good JPEGs (split evenly) plus broken files; returns
    the number of broken files planted."""
    rng = np.random.default_rng(seed)
    sizes, weights = zip(*SIZES)
    broken = 0
    for c, cls in enumerate(("Cat", "Dog")):
        folder = root / "PetImages" / cls
        folder.mkdir(parents=True, exist_ok=True)
        count = n // 2 + (n % 2 if c == 0 else 0)
        for i in range(count):
            w, h = sizes[rng.choice(len(sizes), p=weights)]
            smooth_photo(rng, w, h).save(folder / f"{i}.jpg", quality=90)
        # broken files, numbered after the good ones (as the real set has them mixed in)
        (folder / f"{count}.jpg").write_bytes(b"")
        data = (folder / "0.jpg").read_bytes()
        (folder / f"{count + 1}.jpg").write_bytes(data[: len(data) // 2])
        (folder / f"{count + 2}.jpg").write_text("<html><body>404 Not Found</body></html>\n")
        broken += 3
    return broken


def run_ingest(src: Path, out: Path, threads: int, size: int, min_size: int) -> tuple[float, ingest.IngestResult]:
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    result = ingest.ingest("kaggle_petimages", src, out, classes=["cat", "dog"],
                           split={"train": 0.7, "val": 0.1, "test": 0.2}, seed=0, image_size=size,
                           min_size=min_size, threads=threads, log_fn=lambda _: None)
    seconds = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    return seconds, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000, help="good JPEG files (broken ones come on top)")
    ap.add_argument("--size", type=int, default=224, help="dataset.image_size")
    ap.add_argument("--min-size", type=int, default=32, help="dataset.min_size (the paper preset's)")
    ap.add_argument("--threads", type=int, nargs=2, default=[1, 2], metavar=("A", "B"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workdir", default=None, help="where to put the temporary folder (default: system temp)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=args.workdir) as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        planted = make_petimages(tmp / "src", args.files)
        n_total = args.files + planted
        mb = sum(f.stat().st_size for f in (tmp / "src").rglob("*")) / 1e6
        print(f"generated {args.files} JPEG files + {planted} broken ({mb:.0f} MB) in "
              f"{time.perf_counter() - t:.1f}s; ingest to {args.size}x{args.size}, min_size {args.min_size}")
        best = {k: float("inf") for k in args.threads}
        results = {}
        for r in range(args.reps):
            for k in args.threads:
                seconds, results[k] = run_ingest(tmp / "src", tmp / "out", k, args.size, args.min_size)
                best[k] = min(best[k], seconds)
                print(f"repeat {r + 1}: threads={k}: {seconds:.2f}s = {n_total / seconds:.1f} files/s")

    ok = True
    for k in args.threads:
        s = results[k].summary
        line = f"threads={k}: used {s['used']}, rejected {s['rejected']} {s['rejected_by_reason']}"
        if s["rejected"] != planted or s["used"] != args.files:
            line += f"  MISMATCH: expected {args.files} used and {planted} rejected"
            ok = False
        print(line)
    a, b = args.threads
    for k in args.threads:
        print(f"ingest threads={k}: {n_total / best[k]:.1f} files/s ({best[k]:.2f}s for {n_total} files)")
    print(f"rejected: {results[b].summary['rejected']} (planted broken files: {planted})")
    print(f"SPEED-UP threads={b} / threads={a}: {best[a] / best[b]:.2f}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
