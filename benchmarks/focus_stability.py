"""Focus stability: how far apart the top-k focus pixels of two SmoothGrad draws of the same map
are, as a function of the number of noisy samples n, on real photos.

For each n, every image gets two maps from independent noise draws (draw 0 and draw 1, seeded as
the pipeline seeds them, stream = ("naive-s0", "clear")), computed with the pipeline's engine
(``blurfocus.smoothgrad.saliency_maps`` with ``SmoothGradSettings``: both class logits, abs_sum,
sigma = 0.15 of the clear image's max - min). The focus of each map is its top-k pixels
(``blurfocus.topk.topk_pixels``); the distance of an image is the mean over ranks of the
Euclidean distance between the r-th focus pixels of the two draws (``blurfocus.focus.rank_distances``),
in pixels of the model input. This is the SmoothGrad noise floor of the study's comparisons.
Also printed: the top-k IoU of the two draws, and the chance level (two independent uniformly random
top-k sets on the same grid).

Model: the pipeline's ``models.build_model(arch, weights, 2)`` (EfficientNet-Lite0 with the offline
ImageNet weights by default) at ``--size`` px. Its 2-class head is new; with ``--head probe`` (the
default) the head is fitted as a linear probe (logistic regression on the frozen backbone's pooled
features, full batch L-BFGS) on ``--probe-per-class`` other photos of the same folder, so the
gradients are those of a cat/dog classifier on the ImageNet backbone (the backbone is *not*
fine-tuned); ``--head random`` keeps the randomly initialized head.

Images: ``--per-class`` photos per class, evenly spaced in file-name order, center-cropped and
resized as the pipeline's ingest does (``blurfocus.images.check_file``); the probe photos are
disjoint from them.

The noise of a larger n extends that of a smaller n (the generator is seeded per image and draw,
so the first samples coincide): the rows are nested, which makes the trend across n smoother than
independent runs would, while the two draws of one row stay independent.

    nice python benchmarks/focus_stability.py [DATA] [--per-class 12] [--samples 5 10 15 25 50]
        [--size 160] [--topk 20] [--threads 2] [--head probe|random]

DATA defaults to ../shared/data/pets-1k (a folder with one sub-folder per class).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from blurfocus import focus, metrics, models, runtime, selection, smoothgrad, topk  # noqa: E402
from blurfocus.images import check_file  # noqa: E402
from blurfocus.smoothgrad_settings import SmoothGradSettings  # noqa: E402
from machine import cpu_description  # noqa: E402  (benchmarks/machine.py)

PETS_1K = Path(__file__).resolve().parents[2] / "shared" / "data" / "pets-1k"


def class_files(data: Path) -> dict[str, list[Path]]:
    """Image files per class folder (sorted), with a clear error for a wrong path."""
    if not data.is_dir():
        raise SystemExit(f"{data}: no such folder; give the photo folder (one sub-folder per class) as DATA")
    classes = {d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
               for d in sorted(data.iterdir()) if d.is_dir()}
    classes = {k: v for k, v in classes.items() if v}
    if len(classes) < 2:
        raise SystemExit(f"{data}: needs at least two class folders with images, found {sorted(classes)}")
    return classes


def pick(files: list[Path], n: int, skip: set[Path] = frozenset()) -> list[Path]:
    """n files evenly spaced over the list (file-name order), none of them in ``skip``."""
    pool = [f for f in files if f not in skip]
    if len(pool) < n:
        raise SystemExit(f"only {len(pool)} images in {files[0].parent}, {n} requested")
    idx = np.linspace(0, len(pool) - 1, n).round().astype(int)
    return [pool[i] for i in idx]


def load(files: list[Path], size: int) -> torch.Tensor:
    """Images (N, 3, size, size) float32 in [0, 1], cropped and resized as the pipeline's ingest."""
    arr = np.stack([check_file(f, size).pixels for f in files])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(255).contiguous()


def fit_probe(model: models.Normalized, head: str, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fit the 2-class head as a linear probe on the frozen backbone's features of x (N, 3, H, W)
    in [0, 1]; returns its training accuracy."""
    layer = model.net.get_submodule(head)
    feats = []
    hook = layer.register_forward_hook(lambda m, inp, out: feats.append(inp[0].detach()))
    with torch.inference_mode():
        for start in range(0, len(x), 32):
            model(x[start : start + 32])
    hook.remove()
    f = torch.cat(feats).flatten(1).clone()
    w = torch.zeros(layer.weight.shape[0], f.shape[1], requires_grad=True)
    b = torch.zeros(layer.weight.shape[0], requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(f @ w.T + b, y) + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        layer.weight.copy_(w.reshape(layer.weight.shape))
        layer.bias.copy_(b)
        return float(((f @ w.T + b).argmax(1) == y).float().mean())


def chance_distance(size: int, k: int, reps: int = 20000, seed: int = 0) -> float:
    """Mean over ranks of the distance between two independent uniformly random top-k pixel sets
    on a size x size grid (pixels)."""
    rng = np.random.default_rng(seed)
    a = np.stack([rng.choice(size * size, k, replace=False) for _ in range(reps)])
    b = np.stack([rng.choice(size * size, k, replace=False) for _ in range(reps)])
    return float(focus.rank_distances(a // size, a % size, b // size, b % size).mean())


def draw_maps(model, x, ids, labels, settings, draw, sigma) -> np.ndarray:
    """Maps (N, H, W) of one draw, in the pipeline's groups of images."""
    group = selection.images_per_group(settings.batch_size, settings.n_samples)
    out = []
    for start in range(0, len(x), group):
        sl = slice(start, start + group)
        res = smoothgrad.saliency_maps(model, x[sl], ids[sl], labels[sl], settings, draw=draw,
                                       stream=("naive-s0", "clear"), noise_sigma=sigma[sl])
        out.append(res["map"].numpy())
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=PETS_1K, help="photo folder (default: %(default)s)")
    ap.add_argument("--per-class", type=int, default=12, help="images per class that get maps")
    ap.add_argument("--samples", type=int, nargs="+", default=[5, 10, 15, 25, 50], help="SmoothGrad n values")
    ap.add_argument("--size", type=int, default=160, help="model input, pixels")
    ap.add_argument("--topk", type=int, default=20)
    ap.add_argument("--sigma", type=float, default=0.15, help="fraction of the clear image's max - min")
    ap.add_argument("--batch-size", type=int, default=64, help="noisy samples per forward/backward")
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--weights", default="imagenet")
    ap.add_argument("--head", choices=("probe", "random"), default="probe")
    ap.add_argument("--probe-per-class", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    runtime.set_threads(args.threads)
    torch.manual_seed(0)
    classes = class_files(args.data)
    names = list(classes)
    files, labels = [], []
    for label, name in enumerate(names):
        chosen = pick(classes[name], args.per_class)
        files += chosen
        labels += [label] * len(chosen)
    ids = [f"{f.parent.name}/{f.name}" for f in files]
    x = load(files, args.size)
    model, meta = models.build_model(args.arch, args.weights, len(names))
    smoothgrad.freeze(model)
    head_note = f"{args.weights} backbone, new {len(names)}-class head left random"
    if args.head == "probe":
        used = set(files)
        pf, py = [], []
        for label, name in enumerate(names):
            chosen = pick(classes[name], args.probe_per_class, used)
            pf += chosen
            py += [label] * len(chosen)
        acc = fit_probe(model, meta["head"], load(pf, args.size), torch.tensor(py))
        head_note = (f"{args.weights} backbone (not fine-tuned), {len(names)}-class head fitted as a linear probe on "
                     f"{len(pf)} other photos (training accuracy {acc:.2f})")
    with torch.inference_mode():
        acc_maps = float((model(x).argmax(1) == torch.tensor(labels)).float().mean())

    print(f"CPU: {cpu_description()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data {args.data}")
    print(f"model {args.arch} at {args.size} px: {head_note}; accuracy on the {len(x)} mapped images {acc_maps:.2f}")
    print(f"{len(x)} images ({args.per_class} per class: {', '.join(names)}), top-{args.topk}, "
          f"sigma {args.sigma} of the clear image's range, target both, abs_sum; two draws per n")
    chance = chance_distance(args.size, args.topk)
    print(f"chance level (two independent uniform top-{args.topk} sets on {args.size}x{args.size}): {chance:.1f} px")
    print("timing: wall s and samples/s (one forward + one batched two-target backward per noisy sample) include\n"
          "waiting for a shared CPU; samples per CPU-second x threads is the idle-machine rate if threads scale perfectly")
    print()
    header = (f"{'n':>4} {'mean px':>8} {'median':>7} {'q25':>6} {'q75':>6} {'IQR':>6} {'IoU':>5} "
              f"{'wall s':>7} {'smp/s':>6} {'CPU s':>7} {'smp/CPU-s':>9}")
    print(header)
    print("-" * len(header))
    sys.stdout.flush()
    results = []
    for n in args.samples:
        settings = SmoothGradSettings(n_samples=n, sigma=args.sigma, batch_size=args.batch_size)
        sigma = smoothgrad.sigma_abs(x, settings)  # x holds the clear images
        t, c = time.perf_counter(), time.process_time()
        maps = [draw_maps(model, x, ids, labels, settings, draw, sigma) for draw in (0, 1)]
        secs, cpu = time.perf_counter() - t, time.process_time() - c
        fk = [[topk.topk_pixels(m, args.topk) for m in draw] for draw in maps]
        d = np.array([focus.rank_distances(a[0], a[1], b[0], b[1]).mean() for a, b in zip(*fk)])
        iou = np.array([metrics.topk_iou(a[0], a[1], b[0], b[1]) for a, b in zip(*fk)])
        q25, med, q75 = np.percentile(d, [25, 50, 75])
        results.append((n, d.mean()))
        print(f"{n:>4} {d.mean():>8.1f} {med:>7.1f} {q25:>6.1f} {q75:>6.1f} {q75 - q25:>6.1f} {iou.mean():>5.2f} "
              f"{secs:>7.0f} {2 * n * len(x) / secs:>6.1f} {cpu:>7.0f} {2 * n * len(x) / cpu:>9.2f}")
        sys.stdout.flush()
    first, last = results[0], results[-1]
    print(f"\nmean draw-to-draw top-{args.topk} distance: {first[1]:.1f} px at n = {first[0]} -> "
          f"{last[1]:.1f} px at n = {last[0]} (chance {chance:.1f} px)")


if __name__ == "__main__":
    main()
