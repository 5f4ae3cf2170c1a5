"""Training benchmark: the pipeline's fine-tuning step against a bare compute-only loop, side by side.

A (pipeline): exactly ``blurfocus.train.fine_tune`` for 1 epoch, fed as the train rule feeds it:
uint8 (N, 3, H, W) tensors in memory, each batch gathered by a shuffled index, moved to the
device and converted to float [0, 1] on the fly, plus its loss / accuracy bookkeeping (summed
on the device, read once per epoch). Its rate is the one the train rule logs (``images_per_second`` of the
epoch: the training loop only; the validation pass after the epoch, a 32-image set here, and
the best-weights copy are outside it and reported separately as the whole-call rate).

B (ceiling): a bare loop over the same images already on the device as float32 in [0, 1],
pre-cut into batches of the same size (same shuffled order): zero_grad, forward,
cross-entropy, backward, step and nothing else. Same model (a copy of the same initial
weights for every repeat), the same optimizer from ``train.make_optimizer``, the same
settings, batch size and number of steps.

Training settings (optimizer, lr, momentum, weight decay, hflip, batch size) come from the
default ``config.yaml`` (AlexNet from scratch at 96x96, Adam, batch 32), or from a preset merged
on top of it with ``--preset`` (as Snakemake merges ``--configfile``). Repeats are interleaved
(A, B, A, B, ...) after one warm-up of each; the best of each is kept.

    python benchmarks/bench_training.py [--images 400] [--size 96] [--arch alexnet]
        [--batch-size 32] [--threads 2] [--device cpu] [--reps 3] [--preset paper-kaggle]

Goal: the pipeline reaches >= 90% of the ceiling. The last line printed is the ratio
(pipeline / ceiling).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from blurfocus import models, train  # noqa: E402
from blurfocus.workflow import effective_config  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def training_config(preset: str | None) -> dict:
    """config.yaml, with presets/PRESET.yaml merged on top, validated (defaults filled in)."""
    raw = effective_config(REPO, *([REPO / "presets" / f"{preset}.yaml"] if preset else []))
    try:
        from blurfocus.config import validate_config
    except ImportError:  # e.g. jsonschema missing on a bare GPU machine: the schema's defaults by hand
        schema = yaml.safe_load((REPO / "src" / "blurfocus" / "schemas" / "config.schema.yaml").read_text())
        for section in ("model", "training"):
            raw.setdefault(section, {})
            for key, prop in schema["properties"][section]["properties"].items():
                if "default" in prop:
                    raw[section].setdefault(key, prop["default"])
        return raw
    return validate_config(raw, check_paths=False)


def pipeline_epoch(base, x_u8, y, val_x, val_y, settings, device) -> tuple[float, float]:
    """One epoch of ``train.fine_tune``: (loop images/s as the rule logs it, whole-call seconds)."""
    model = copy.deepcopy(base)
    sync(device)
    t = time.perf_counter()
    result = train.fine_tune(model, x_u8, y, val_x, val_y, settings, device, log_fn=lambda _: None)
    sync(device)
    whole = time.perf_counter() - t
    return result.history[-1]["images_per_second"], whole


def bare_epoch(base, batches, settings, device) -> float:
    """Forward/backward/step over pre-built float batches on the device; returns images/s."""
    model = copy.deepcopy(base).to(device)
    model.train()
    opt = train.make_optimizer([p for p in model.parameters() if p.requires_grad], settings)
    n = sum(len(xb) for xb, _ in batches)
    sync(device)
    t = time.perf_counter()
    for xb, yb in batches:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    sync(device)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=400, help="training images (random uint8)")
    ap.add_argument("--size", type=int, default=96, help="input size (96 = the default config; 224 = the paper)")
    ap.add_argument("--arch", default=None, help="architecture (default: model.arch of the config)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: training.batch_size of the config")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--preset", default=None, help="merge presets/PRESET.yaml onto config.yaml for the settings")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    cfg = training_config(args.preset)
    tr = cfg["training"]
    arch = args.arch or cfg["model"]["arch"]
    settings = train.TrainSettings(
        epochs=1, batch_size=args.batch_size or tr["batch_size"], optimizer=tr["optimizer"], lr=tr["lr"],
        momentum=tr["momentum"], weight_decay=tr["weight_decay"], seed=0, keep=tr["keep"], hflip=tr["hflip"],
    )
    torch.manual_seed(0)
    base, pre = models.build_model(arch, "none", 2)  # from scratch: timing does not depend on the weights
    models.set_trainable(base, "all", pre["head"])

    g = torch.Generator().manual_seed(0)
    n, s, bs = args.images, args.size, settings.batch_size
    x_u8 = torch.randint(0, 256, (n, 3, s, s), generator=g, dtype=torch.uint8)  # as the train rule holds them
    y = torch.randint(0, 2, (n,), generator=g)
    val_x = torch.randint(0, 256, (32, 3, s, s), generator=g, dtype=torch.uint8)
    val_y = torch.randint(0, 2, (32,), generator=g)
    # the ceiling's input: the same images as float [0, 1], already on the device, already batched
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    x_f = x_u8.float().div_(255)
    batches = [(x_f[order[i : i + bs]].contiguous().to(device), y[order[i : i + bs]].to(device))
               for i in range(0, n, bs)]
    del x_f

    print(f"device {device} ({torch.get_num_threads()} threads), {arch} from scratch at {s}x{s}, "
          f"{n} images, batch {bs}, {len(batches)} steps per epoch, optimizer {settings.optimizer} "
          f"(lr {settings.lr}, hflip {settings.hflip}), best of {args.reps} interleaved repeats")

    # warm-up of both (allocator, kernels, fused optimizer) on a few batches
    w = min(n, 2 * bs)
    pipeline_epoch(base, x_u8[:w], y[:w], val_x, val_y, settings, device)
    bare_epoch(base, batches[:2], settings, device)

    best_a, best_whole, best_b = 0.0, float("inf"), 0.0
    for r in range(args.reps):
        a, whole = pipeline_epoch(base, x_u8, y, val_x, val_y, settings, device)
        b = bare_epoch(base, batches, settings, device)
        print(f"repeat {r + 1}: pipeline {a:.1f} images/s (whole call {n / whole:.1f}), ceiling {b:.1f} images/s")
        best_a, best_whole, best_b = max(best_a, a), min(best_whole, whole), max(best_b, b)

    print(f"pipeline (train.fine_tune, uint8 cache, per-batch conversion): {best_a:.1f} images/s")
    print(f"  whole fine_tune call incl. model transfer, optimizer setup, 32-image validation, "
          f"best-weights copy: "
          f"{n / best_whole:.1f} images/s")
    print(f"ceiling (bare loop, float32 batches on the device): {best_b:.1f} images/s")
    print(f"RATIO pipeline/ceiling: {best_a / best_b:.3f} (goal >= 0.90)")


if __name__ == "__main__":
    main()
