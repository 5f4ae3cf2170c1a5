"""Scale benchmark: does the workflow scale with the full Kaggle set? DAG size, dry-run time, and
the peak memory of a saliency shard job against the shard's size.

(a) A stand-in for Microsoft's Kaggle "Cats and Dogs" (PetImages, 25,000 photos): N small JPEG
    files (64-120 px, random smooth content plus noise, seeded) in the ``kaggle_petimages``
    layout, plus a few broken files (zero bytes, truncated, text named .jpg). Generated in
    parallel processes into ``--workdir`` and reused on later runs (a ``.complete`` marker holds
    the count).
(b) ``snakemake -n`` on the paper preset (``--configfile presets/paper-kaggle.yaml OVERRIDE``,
    the override setting ``dataset.path`` to that folder and ``dataset.url`` to null), in a fresh
    working directory (``-s <repo>/Snakefile --directory <tmp>``): the wall time of the dry run
    (best of ``--dry-reps``) and the jobs per rule (the "Job stats" table). The DAG depends on the
    number of models, test variants and saliency shards, not on the number of images: the ingest
    is one job whatever the image count, and the test images are spread over a fixed
    ``saliency.shards`` jobs per (model, variant). So the job count is in the hundreds (225 with
    the paper preset: 200 of them saliency shards), not tens of thousands.
(c) Peak memory of a saliency shard job against the shard's size. The tiny preset
    (``presets/tiny.yaml``) plus an override: ``dataset.synthetic.n_per_class`` so that the
    test split holds the largest shard size, ``dataset.image_size`` (``--mem-size``, default
    224, so that a map is 200 kB), ``model.arch`` (``--mem-arch``, see below),
    ``saliency.shards`` = test images / shard size, ``saliency.draws: 1``,
    ``saliency.limit_per_class: null`` (config.yaml's 50 would otherwise cap it),
    ``sanity.enabled: false``, ``training.epochs: 1``. One working directory for all sizes: one
    call builds the saliency job's inputs (data, training), then for each shard count
    ``snakemake --cores 2 --forcerun saliency results/saliency/naive-s0/clear/shard0.parquet``
    recomputes shard 0 alone (sizes interleaved, ``--mem-reps`` times, lowest value kept).
    Two figures per run: ``max_rss`` (MB) from Snakemake's benchmark file of the job
    (``results/benchmarks/saliency/naive-s0/clear/shard0.tsv``), as asked, and the kernel's
    peak RSS of the largest process of the call (``ru_maxrss`` of the reaped children of a small
    wrapper: exact, where max_rss is sampled, every 0.5 s for the first 15 s of a job then every
    30 s, and summed over the job's process tree; in a smoke run its repeats differed by up to
    170 MB, those of the kernel peak by under 1 MB). A flat peak means the job streams its rows
    (one Parquet row group per batch of images). A job that kept all its maps would grow by
    about H*W*6 bytes per map (float32 map + float16 Parquet copy): 18 MB for 20 -> 80 maps at
    224 px; the script prints that figure next to the measured growth and the repeat spread.
    ``--mem-arch`` defaults to squeezenet1_1, not the tiny preset's AlexNet: loading AlexNet's
    228 MB checkpoint is itself a transient peak (``import torch`` + load reach 1.1 GB) that
    can be the job's peak (it is at 64 px) and then hides any growth smaller than its
    headroom, so the test would read "flat" whatever the job does; with a 5 MB model the peak
    is the SmoothGrad working set plus whatever the job keeps (about 2.5 GB at 224 px in a
    smoke run). ``--mem-arch alexnet`` gives the preset's own model. Both shard sizes should
    be at least the job's image group (max(4, ceil(saliency.batch_size / n_samples)) = 16
    images with the tiny preset): a smaller shard also has a smaller SmoothGrad working set.

    python benchmarks/bench_scale.py [--images 25000] [--workdir /tmp/blurfocus-bench-scale]
        [--dry-reps 2] [--shard-images 20 80] [--mem-size 224] [--mem-arch squeezenet1_1]
        [--mem-reps 2] [--skip-memory]

A summary block ends the output: dry-run seconds, job count, and, last, the memory ratio
(max_rss of the largest shard size / the smallest; the kernel-peak ratio in brackets).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from blurfocus.workflow import effective_config, snakemake_executable, snakemake_job_counts  # noqa: E402

SNAKEFILE = REPO / "Snakefile"
MODEL, VARIANT = "naive-s0", "clear"
SHARD_TARGET = f"results/saliency/{MODEL}/{VARIANT}/shard0.parquet"
BENCH_DIR = f"results/benchmarks/saliency/{MODEL}/{VARIANT}"  # the rule's benchmark file is under here
PREREQUISITES = [f"results/models/{MODEL}/model.pt", "results/data/manifest.parquet", "results/data/clear/test.npy"]


# --------------------------------------------------------------------------- (a) the stand-in


def _make_chunk(task: tuple[str, str, int, int, int]) -> int:
    from PIL import Image

    folder, cls, start, stop, seed = task
    rng = np.random.default_rng([seed, 0 if cls == "Cat" else 1, start])
    for i in range(start, stop):
        w, h = (int(v) for v in rng.integers(64, 121, 2))
        grid = rng.integers(0, 256, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(grid).resize((w, h), Image.BILINEAR), dtype=np.int16)
        img = img + rng.normal(0, 6, img.shape).astype(np.int16)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(Path(folder) / f"{i}.jpg", quality=85)
    return stop - start


def make_standin(workdir: Path, n: int, jobs: int, seed: int = 0) -> tuple[Path, int, float]:
    """``workdir/petimages-N`` holding PetImages/{Cat,Dog}; returns (folder, broken files, seconds)."""
    root = workdir / f"petimages-{n}"
    marker = root / ".complete"
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("images") == n:
            return root, int(info["broken"]), 0.0
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    tasks, broken = [], 0
    for c, cls in enumerate(("Cat", "Dog")):
        folder = root / "PetImages" / cls
        folder.mkdir(parents=True)
        count = n // 2 + (n % 2 if c == 0 else 0)
        tasks += [(str(folder), cls, s, min(s + 500, count), seed) for s in range(0, count, 500)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        made = sum(pool.map(_make_chunk, tasks))
    for c, cls in enumerate(("Cat", "Dog")):
        folder = root / "PetImages" / cls
        count = n // 2 + (n % 2 if c == 0 else 0)
        (folder / f"{count}.jpg").write_bytes(b"")
        data = (folder / "0.jpg").read_bytes()
        (folder / f"{count + 1}.jpg").write_bytes(data[: len(data) // 2])
        (folder / f"{count + 2}.jpg").write_text("<html><body>404 Not Found</body></html>\n")
        broken += 3
    assert made == n, (made, n)
    marker.write_text(json.dumps({"images": n, "broken": broken}) + "\n")
    return root, broken, time.perf_counter() - t


# --------------------------------------------------------------------------- (b) the dry run


def dry_run(folder: Path, workdir: Path, reps: int) -> tuple[float, dict[str, int], dict]:
    override = workdir / "paper-override.yaml"
    override.write_text(yaml.safe_dump({"dataset": {"path": str(folder), "url": None}}, sort_keys=False))
    preset = REPO / "presets" / "paper-kaggle.yaml"
    best, jobs = float("inf"), {}
    for r in range(reps):
        with tempfile.TemporaryDirectory(prefix="dryrun-", dir=workdir) as wd:
            cmd = [snakemake_executable(), "-n", "--quiet", "rules", "-s", str(SNAKEFILE), "--directory", wd,
                   "--configfile", str(preset), str(override)]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
            seconds = time.perf_counter() - t
            if proc.returncode != 0:
                raise SystemExit(f"dry run failed ({proc.returncode}): {' '.join(cmd)}\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        jobs = snakemake_job_counts(proc.stdout + "\n" + proc.stderr)
        print(f"dry run {r + 1}: {seconds:.2f}s, {jobs.get('total', '?')} jobs")
        best = min(best, seconds)
    return best, jobs, effective_config(REPO, preset, override)


# --------------------------------------------------------------------------- (c) shard memory


# runs a command and prints the kernel's peak RSS of the largest process in its tree (exact, not
# sampled: ru_maxrss of the reaped descendants; Linux reports kB)
PEAK_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
)


def run_with_peak(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd``; returns (the finished process, peak RSS in MB of its largest process)."""
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *cmd], capture_output=True, text=True,
                          timeout=3600, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"workflow run failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    peak = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PEAK_KB ")]
    return proc, int(peak[-1]) / 1024


def shard_memory(workdir: Path, sizes: list[int], image_size: int, arch: str, cores: int, reps: int) -> list[dict]:
    """Per shard size (in the order given): rows in shard 0 and max_rss / max_uss (MB) of each
    repeat (sizes interleaved: a, b, a, b, ...)."""
    import pandas as pd
    import pyarrow.parquet as pq

    n_per_class = math.ceil(max(sizes) / 0.2 / 2)  # the default split puts 0.2 of each class in test
    n_test = 2 * round(n_per_class * 0.2)
    wd = workdir / f"memory-{arch}-{image_size}px-{n_per_class}"
    wd.mkdir(parents=True, exist_ok=True)
    out = [{"rows": 0, "rss": [], "uss": [], "peak": [], "s": []} for _ in sizes]

    def command(size: int, targets: list[str]) -> tuple[int, list[str]]:
        shards = max(1, round(n_test / size))
        override = wd / f"override-{shards}.yaml"
        override.write_text(yaml.safe_dump({
            "dataset": {"image_size": image_size, "synthetic": {"n_per_class": n_per_class}},
            "model": {"arch": arch},
            "saliency": {"shards": shards, "draws": 1, "limit_per_class": None},
            "sanity": {"enabled": False},
            "training": {"epochs": 1},
        }, sort_keys=False))
        return shards, [snakemake_executable(), *targets, "--cores", str(cores), "-s", str(SNAKEFILE),
                        "--directory", str(wd), "--configfile", str(REPO / "presets" / "tiny.yaml"), str(override)]

    # the saliency job's inputs first (synthetic data, ingest, training), so that each measured
    # call runs the saliency job alone
    t = time.perf_counter()
    shards, cmd = command(sizes[0], PREREQUISITES)
    run_with_peak(cmd)
    print(f"inputs of the saliency job ready in {wd} ({time.perf_counter() - t:.0f}s)")
    # the job computes maps for groups of max(4, ceil(batch_size / n_samples)) images (as
    # workflow/scripts/saliency.py): a smaller shard also has a smaller working set
    from blurfocus.config import validate_config

    sal = validate_config(effective_config(REPO, REPO / "presets" / "tiny.yaml", wd / f"override-{shards}.yaml"),
                          check_paths=False)["saliency"]
    from blurfocus.selection import images_per_group

    group = images_per_group(sal["batch_size"], sal["n_samples"])
    if min(sizes) < group:
        print(f"note: shards smaller than the job's image group ({group} images) also have a smaller "
              "SmoothGrad working set, so their peak is lower whether or not the job streams")
    for r in range(reps):
        for k, size in enumerate(sizes):
            shards, cmd = command(size, [SHARD_TARGET, "--forcerun", "saliency"])
            for old in (wd / BENCH_DIR).rglob("shard0.tsv") if (wd / BENCH_DIR).exists() else []:
                old.unlink()
            t = time.perf_counter()
            proc, peak = run_with_peak(cmd)
            jobs = snakemake_job_counts(proc.stdout + "\n" + proc.stderr)
            if set(jobs) - {"saliency", "total"}:
                raise SystemExit(f"expected the saliency job alone, Snakemake ran {jobs}")
            found = sorted((wd / BENCH_DIR).rglob("shard0.tsv"))
            if not found:
                raise SystemExit(f"no benchmark file shard0.tsv under {wd / BENCH_DIR}")
            bench = pd.read_csv(found[0], sep="\t")
            rec = out[k]
            rec["rows"] = pq.ParquetFile(wd / SHARD_TARGET).metadata.num_rows
            rec["rss"].append(float(bench["max_rss"].iloc[0]))
            rec["uss"].append(float(bench["max_uss"].iloc[0]))
            rec["peak"].append(peak)
            rec["s"].append(float(bench["s"].iloc[0]))
            print(f"repeat {r + 1}: shards={shards}: shard 0 holds {rec['rows']} maps: benchmark max_rss "
                  f"{rec['rss'][-1]:.1f} MB (max_uss {rec['uss'][-1]:.1f}), kernel peak RSS {peak:.1f} MB, "
                  f"job {rec['s'][-1]:.1f}s (workflow call {time.perf_counter() - t:.0f}s)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=25000, help="good JPEG files in the stand-in")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "blurfocus-bench-scale"),
                    help="kept between runs: the stand-in folder is reused")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="processes generating the stand-in")
    ap.add_argument("--dry-reps", type=int, default=2)
    ap.add_argument("--shard-images", type=int, nargs="+", default=[20, 80], help="images per saliency shard")
    ap.add_argument("--mem-size", type=int, default=224, help="image size of the memory runs")
    ap.add_argument("--mem-arch", default="squeezenet1_1",
                    help="model.arch of the memory runs (small, so that loading it is no memory peak)")
    ap.add_argument("--mem-reps", type=int, default=2, help="interleaved repeats of each shard size")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    folder, broken, gen_s = make_standin(workdir, args.images, args.jobs)
    mb = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / 1e6
    how = f"generated in {gen_s:.1f}s with {args.jobs} processes" if gen_s else "reused"
    print(f"(a) stand-in: {folder}: {args.images} JPEG files + {broken} broken, {mb:.0f} MB ({how})")

    print("(b) dry run of the paper preset on it")
    dry_s, jobs, cfg = dry_run(folder, workdir, args.dry_reps)
    sal = cfg["saliency"]
    n_models = 2 * len(cfg["training"]["seeds"])
    n_variants = 1 + len(cfg["blur"]["test"])
    print("jobs per rule: " + ", ".join(f"{k} {v}" for k, v in jobs.items() if k != "total"))
    print(f"saliency jobs = {n_models} models x {n_variants} test variants x {sal['shards']} shards = "
          f"{n_models * n_variants * sal['shards']} (dry run: {jobs.get('saliency', '?')}); the DAG depends on "
          "the shard count, not on the image count (ingest is 1 job for any number of files)")
    if sal.get("limit_per_class"):
        print(f"note: effective saliency.limit_per_class = {sal['limit_per_class']} (inherited from config.yaml, "
              "not set by the preset): maps for only that many test images per class")

    mem = None
    if not args.skip_memory:
        sizes = sorted(set(args.shard_images))
        print(f"(c) saliency shard memory, tiny preset with {args.mem_arch} at {args.mem_size}x{args.mem_size}, "
              f"shard sizes {sizes}")
        mem = shard_memory(workdir, sizes, args.mem_size, args.mem_arch, args.cores, args.mem_reps)

    print("=== summary ===")
    print(f"dry run (paper preset, {args.images} files): {dry_s:.2f} s")
    print(f"jobs: {jobs.get('total', '?')} (saliency {jobs.get('saliency', '?')})")
    if mem:
        for m in mem:
            print(f"saliency shard of {m['rows']} maps: max_rss {min(m['rss']):.1f} MB (repeats "
                  f"{', '.join(f'{v:.1f}' for v in m['rss'])}; max_uss {min(m['uss']):.1f}), "
                  f"kernel peak RSS {min(m['peak']):.1f} MB (repeats {', '.join(f'{v:.1f}' for v in m['peak'])})")
        lo, hi = mem[0], mem[-1]
        keep_mb = (hi["rows"] - lo["rows"]) * args.mem_size**2 * 6 / 1e6  # float32 map + float16 Parquet copy
        for key, name in (("peak", "kernel peak RSS"), ("rss", "benchmark max_rss")):
            spread = max(max(m[key]) - min(m[key]) for m in mem)
            print(f"{name}: {lo['rows']} -> {hi['rows']} maps: {min(hi[key]) - min(lo[key]):+.1f} MB "
                  f"(repeat spread up to {spread:.1f} MB)")
        print(f"a job keeping all its maps in memory would add about {keep_mb:.1f} MB")
        print(f"MEMORY RATIO max_rss {hi['rows']}/{lo['rows']} maps per shard: {min(hi['rss']) / min(lo['rss']):.3f} "
              f"(kernel peak RSS: {min(hi['peak']) / min(lo['peak']):.3f})")

if __name__ == "__main__":
    main()
