"""Saliency benchmark: the pipeline's SmoothGrad engine against Captum, side by side in one run.

Both explain both class logits of the same 2-class AlexNet (random weights; timing does not
depend on them) on the same images at 224x224, with the same number of noisy samples and the
same noise level (σ = 0.15 of the [0, 1] range), on the same device and thread count. Captum
needs one ``NoiseTunnel(Saliency(abs=False))`` call per target and takes all images at once; it
gets its best ``nt_samples_batch_size`` (searched first). Also reported: achieved GFLOP/s (forward +
input-gradient backward FLOPs counted with torch's FlopCounterMode) against the measured
matmul rate, and the bf16 option's speed and map correlation with fp32.

    python benchmarks/bench_saliency.py [--images 8] [--samples 25 50] [--threads 2] [--device cpu] [--skip-bf16]

The last line printed is the throughput ratio (pipeline / Captum) for the largest sample count.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from blurfocus import models, smoothgrad
from blurfocus.smoothgrad_settings import SmoothGradSettings  # noqa: E402

PETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pets-mini"


def load_images(n: int, size: int) -> tuple[torch.Tensor, list[str]]:
    """n images (N, 3, size, size) in [0, 1]: pets-mini photos when present, else seeded noise."""
    from PIL import Image

    from blurfocus.images import square_resize

    files = sorted(PETS.glob("*/*.jpg"))
    files = files[:: max(1, len(files) // max(n, 1))][:n]
    if len(files) >= n:
        arr = np.stack([square_resize(Image.open(f).convert("RGB"), size) for f in files])
        ids = [f"{f.parent.name}/{f.name}" for f in files]
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255
        return x.contiguous(), ids
    g = torch.Generator().manual_seed(0)
    return torch.rand((n, 3, size, size), generator=g), [f"img{i}" for i in range(n)]


def matmul_gflops(device: torch.device, size: int = 2048, reps: int = 10) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    sync(device)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 * reps / best / 1e9


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def flops_per_image(model, x: torch.Tensor, n: int) -> float:
    """FLOPs of n noisy samples of one image: forward + input-gradient backward for 2 targets."""
    from torch.utils.flop_counter import FlopCounterMode

    inp = x[:1].repeat(4, 1, 1, 1).requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        out = model(inp)
        for t in range(2):
            go = torch.zeros_like(out)
            go[:, t] = 1
            torch.autograd.backward(out, go, retain_graph=t == 0, inputs=[inp])
    return counter.get_total_flops() / 4 * n


def time_it(fn, reps: int, device: torch.device) -> float:
    fn()  # warm-up
    sync(device)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--samples", type=int, nargs="+", default=[25, 50])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--arch", default="alexnet")
    ap.add_argument("--skip-bf16", action="store_true",
                    help="skip the bf16 comparison (slow on CPUs without bf16 instructions)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from captum.attr import NoiseTunnel, Saliency

    torch.manual_seed(0)
    base, _ = models.build_model(args.arch, "none", 2)
    base.eval()
    ours_model = smoothgrad.freeze(copy.deepcopy(base)).to(device)  # frozen, channels-last
    captum_model = copy.deepcopy(base).to(device).eval()  # as a Captum user has it
    x, ids = load_images(args.images, args.size)
    x = x.to(device)
    labels = [0] * len(ids)
    mm = matmul_gflops(device)
    print(f"device {device} ({torch.get_num_threads()} threads), {args.arch} {args.size}x{args.size}, "
          f"{len(ids)} images, target both classes")
    print(f"measured matmul rate: {mm:.1f} GFLOP/s (fp32, 2048x2048)")
    ratio = None
    for n in args.samples:
        # a fixed sigma for all images, so Captum can take the whole batch in one call
        settings = SmoothGradSettings(n_samples=n, batch_size=2 * n, sigma_range="space")
        sigma = float(settings.sigma)

        def ours():
            return smoothgrad.saliency_maps(ours_model, x, ids, labels, settings, device=device)

        def captum(bs):
            nt = NoiseTunnel(Saliency(captum_model))
            maps = 0
            for t in (0, 1):  # one call per target class, all images at once
                a = nt.attribute(x, nt_type="smoothgrad", nt_samples=n, nt_samples_batch_size=bs,
                                 stdevs=sigma, target=t, abs=False)
                maps = maps + a.abs().sum(1)
            return maps

        # Captum's best nt_samples_batch_size
        best_bs, best_t = None, float("inf")
        for bs in sorted({min(n, b) for b in (5, 10, 25, 50, n)}):
            t = time_it(lambda: captum(bs), 1, device)
            if t < best_t:
                best_bs, best_t = bs, t
        t_captum = time_it(lambda: captum(best_bs), args.reps, device)
        t_ours = time_it(ours, args.reps, device)
        fl = flops_per_image(ours_model, x, n)
        ips_ours, ips_captum = len(ids) / t_ours, len(ids) / t_captum
        print(f"n={n}: Captum NoiseTunnel (nt_samples_batch_size={best_bs}): {ips_captum:.2f} images/s")
        print(f"n={n}: blurfocus SmoothGrad: {ips_ours:.2f} images/s, "
              f"{fl / 1e9:.2f} GFLOP per image -> {fl * ips_ours / 1e9:.1f} GFLOP/s "
              f"= {100 * fl * ips_ours / 1e9 / mm:.0f}% of the matmul rate")
        ratio = ips_ours / ips_captum
        print(f"n={n}: ratio blurfocus / Captum = {ratio:.2f}")
    if args.skip_bf16:
        print(f"RATIO blurfocus/Captum (n={args.samples[-1]}): {ratio:.2f}")
        return
    # bf16 option: speed and agreement with fp32
    n = args.samples[0]
    s32 = SmoothGradSettings(n_samples=n, batch_size=2 * n, sigma_range="space")
    s16 = SmoothGradSettings(n_samples=n, batch_size=2 * n, sigma_range="space", precision="bf16")
    m32 = smoothgrad.saliency_maps(ours_model, x, ids, labels, s32, device=device)["map"]
    t32 = time_it(lambda: smoothgrad.saliency_maps(ours_model, x, ids, labels, s32, device=device), args.reps, device)
    t16 = time_it(lambda: smoothgrad.saliency_maps(ours_model, x, ids, labels, s16, device=device), args.reps, device)
    m16 = smoothgrad.saliency_maps(ours_model, x, ids, labels, s16, device=device)["map"]
    from scipy import stats

    rho = np.mean([stats.spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(m32.numpy(), m16.numpy())])
    r = np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(m32.numpy(), m16.numpy())])
    top = np.mean([len(set(np.argsort(-a.ravel())[:20]) & set(np.argsort(-b.ravel())[:20])) / 20
                   for a, b in zip(m32.numpy(), m16.numpy())])
    print(f"bf16 autocast (n={n}): {len(ids) / t16:.2f} images/s vs fp32 {len(ids) / t32:.2f} "
          f"({t32 / t16:.2f}x); maps vs fp32: Pearson {r:.4f}, Spearman {rho:.4f}, top-20 overlap {top:.2f}")
    print(f"RATIO blurfocus/Captum (n={args.samples[-1]}): {ratio:.2f}")


if __name__ == "__main__":
    main()
