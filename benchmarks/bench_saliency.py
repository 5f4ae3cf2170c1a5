"""Saliency benchmark: the pipeline's SmoothGrad engine, before and after its speed work, against
Captum, side by side in one run, for any architecture and input size.

Each ``ARCH:SIZE`` in ``--models`` (torchvision names or ``efficientnet_lite0``; random weights,
timing does not depend on them, or ``--weights imagenet``) is explained for both class logits of a
2-class head, on the same images, with the same number of noisy samples and the same noise level
(σ = 0.15 of the [0, 1] range), on the same device and thread count, by

- ``captum``: ``NoiseTunnel(Saliency(abs=False))``, one call per target, all images at once, with
  its best ``nt_samples_batch_size`` (searched first);
- ``before``: the engine as it was (:func:`blurfocus.smoothgrad.freeze`: frozen, channels-last;
  one forward and one batched backward for the two targets per chunk);
- ``folded``: BatchNorm folded into the convolutions (:func:`blurfocus.smoothgrad.prepare_model`),
  then frozen, channels-last, still with the batched backward;
- ``after``: the engine's default path: folded as above, and one backward pass per target on the
  kept graph instead of the vmapped batched one (the same maps).

Repeats are interleaved (captum, before, folded, after, captum, ...) and the best of ``--reps`` is kept,
so load from other processes hits all engines alike. Reported per model: images/s, achieved GFLOP/s
(forward + two input-gradient backwards, FLOPs of the unfolded model counted with torch's
FlopCounterMode, the same work for all three) and its share of the measured fp32 matmul rate,
the backward/forward cost ratio of a chunk before and after, and the agreement of the ``after``
maps with the ``before`` maps (float rounding only). bf16 autocast is measured where the CPU has
bf16 instructions (``amx_bf16`` or ``avx512_bf16`` in ``lscpu``) or on CUDA; elsewhere it is
skipped with the reason.

    python benchmarks/bench_saliency.py [--models alexnet:224 efficientnet_lite0:160 efficientnet_lite0:224]
        [--images 4] [--samples 25 50] [--threads 2] [--reps 3] [--device cpu] [--skip-bf16]
        [--chunks 25 50 100]

With ``--chunks``, the ``after`` engine is also timed at each chunk size (noisy copies per forward
and backward, the config's ``saliency.batch_size``; interleaved repeats) at the first ``--samples``
value, with the agreement of the maps across chunk sizes (float rounding only: every image's noise
is drawn for the image, not for the chunk).

The last lines printed are the ratios per model, in the order given (EfficientNet-Lite0 last by
default).
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

from blurfocus import models, smoothgrad  # noqa: E402
from blurfocus.smoothgrad_settings import SmoothGradSettings  # noqa: E402
from machine import cpu_description  # noqa: E402  (benchmarks/machine.py)

PETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pets-mini"
ENGINES = ("captum", "before", "folded", "after")
BATCHED = {"before": True, "folded": True, "after": False}  # backward: vmapped over the targets, or one per target


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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


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


def flops_per_sample(model, x: torch.Tensor) -> float:
    """FLOPs of one noisy sample: forward + input-gradient backward for 2 targets."""
    from torch.utils.flop_counter import FlopCounterMode

    inp = x[:1].repeat(4, 1, 1, 1).requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        out = model(inp)
        for t in range(2):
            go = torch.zeros_like(out)
            go[:, t] = 1
            torch.autograd.backward(out, go, retain_graph=t == 0, inputs=[inp])
    return counter.get_total_flops() / 4


def timed(fn, device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def backward_forward_ratio(model, x: torch.Tensor, batch: int, reps: int, device: torch.device) -> float:
    """B/F of one chunk of ``batch`` noisy copies: (t(F+B) - t(F)) / t(F), best of reps, interleaved."""
    chunk = x[:1].repeat(batch, 1, 1, 1).contiguous(memory_format=torch.channels_last).to(device)

    def fwd():
        return model(chunk.clone().requires_grad_(True))

    def fwd_bwd():
        inp = chunk.clone().requires_grad_(True)
        return torch.autograd.grad(model(inp)[:, 0].sum(), inp)[0]

    fwd(), fwd_bwd()
    tf = tfb = float("inf")
    for _ in range(reps):
        tf = min(tf, timed(fwd, device))
        tfb = min(tfb, timed(fwd_bwd, device))
    return (tfb - tf) / tf


def agreement(a: torch.Tensor, b: torch.Tensor, k: int = 20) -> str:
    a, b = a.numpy(), b.numpy()
    r = np.mean([np.corrcoef(u.ravel(), v.ravel())[0, 1] for u, v in zip(a, b)])
    top = np.mean([len(set(np.argsort(-u.ravel())[:k]) & set(np.argsort(-v.ravel())[:k])) / k for u, v in zip(a, b)])
    rel = float(np.abs(a - b).max() / np.abs(b).max())
    return f"Pearson {r:.6f}, top-{k} overlap {top:.3f}, max |diff| / max {rel:.1e}"


def bf16_capable(device: torch.device) -> tuple[bool, str]:
    if device.type == "cuda":
        return True, "CUDA"
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        pass
    have = [f for f in ("amx_bf16", "avx512_bf16") if f in flags.split()]
    if have:
        return True, ", ".join(have)
    return False, "this CPU has neither amx_bf16 nor avx512_bf16 (bf16 would be emulated)"


def bench_model(arch: str, size: int, args, device: torch.device, mm: float) -> list[str]:
    from captum.attr import NoiseTunnel, Saliency

    torch.manual_seed(0)
    base, _ = models.build_model(arch, args.weights, 2)
    base.eval()
    engines = {
        "before": smoothgrad.freeze(copy.deepcopy(base)).to(device),
        "folded": smoothgrad.prepare_model(copy.deepcopy(base)).to(device),
    }
    engines["after"] = engines["folded"]  # the same model; after differs in its backward
    captum_model = copy.deepcopy(base).to(device).eval()  # as a Captum user has it
    n_bn = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in base.modules())
    n_bn_after = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in engines["after"].modules())
    x, ids = load_images(args.images, size)
    x = x.to(device)
    labels = [0] * len(ids)
    fl = flops_per_sample(copy.deepcopy(base).eval().to(device), x)
    head = f"{arch} {size}px"
    print(f"\n== {head}: {len(ids)} images, both targets; {n_bn} BatchNorm layers, {n_bn - n_bn_after} folded; "
          f"{fl / 1e9:.3f} GFLOP per noisy sample (F + 2 B)")
    bs_chunk = 2 * args.samples[0]
    bf = {e: backward_forward_ratio(engines[e], x, bs_chunk, args.reps, device) for e in ("before", "after")}
    print(f"{head}: backward/forward cost of a {bs_chunk}-copy chunk: before {bf['before']:.2f}, after {bf['after']:.2f}")
    lines = []
    for n in args.samples:
        settings = SmoothGradSettings(n_samples=n, batch_size=2 * n, sigma_range="space")
        sigma = float(settings.sigma)

        def ours(e, settings=settings):
            return smoothgrad.saliency_maps(engines[e], x, ids, labels, settings, device=device,
                                            batched=BATCHED[e])["map"]

        def captum(bs, n=n, sigma=sigma):
            nt = NoiseTunnel(Saliency(captum_model))
            maps = 0
            for t in (0, 1):  # one call per target class, all images at once
                a = nt.attribute(x, nt_type="smoothgrad", nt_samples=n, nt_samples_batch_size=bs,
                                 stdevs=sigma, target=t, abs=False)
                maps = maps + a.abs().sum(1)
            return maps

        best_bs, best_t = None, float("inf")
        for bs in sorted({min(n, b) for b in (10, 25, n)}):
            t = timed(lambda: captum(bs), device)
            if t < best_t:
                best_bs, best_t = bs, t
        m_before, m_folded, m_after = ours("before"), ours("folded"), ours("after")  # warm-up; compared below
        print(f"{head} n={n}: after (per-target backward) vs folded (batched) maps: "
              f"{'identical' if torch.equal(m_folded, m_after) else agreement(m_after, m_folded)}")
        fns = {"captum": lambda: captum(best_bs), **{e: (lambda e=e: ours(e)) for e in ENGINES[1:]}}
        best = {e: float("inf") for e in ENGINES}
        for _ in range(args.reps):  # interleaved
            for e in ENGINES:
                best[e] = min(best[e], timed(fns[e], device))
        ips = {e: len(ids) / best[e] for e in ENGINES}
        print(f"{head} n={n}: Captum NoiseTunnel (nt_samples_batch_size={best_bs}): {ips['captum']:.3f} images/s")
        for e in ENGINES[1:]:
            gf = fl * n * ips[e] / 1e9
            print(f"{head} n={n}: blurfocus {e}: {ips[e]:.3f} images/s, {gf:.1f} GFLOP/s = {100 * gf / mm:.0f}% of the matmul rate")
        print(f"{head} n={n}: after vs before maps: {agreement(m_after, m_before)}")
        line = (f"RATIO {head} n={n}: after/before {ips['after'] / ips['before']:.2f}, "
                f"after/Captum {ips['after'] / ips['captum']:.2f}, before/Captum {ips['before'] / ips['captum']:.2f}, "
                f"folded/before {ips['folded'] / ips['before']:.2f}, after/folded {ips['after'] / ips['folded']:.2f}")
        print(line)
        lines.append(line)
    if args.chunks:
        n = args.samples[0]
        runs = {bs: SmoothGradSettings(n_samples=n, batch_size=bs, sigma_range="space") for bs in args.chunks}

        def chunked(bs):
            return smoothgrad.saliency_maps(engines["after"], x, ids, labels, runs[bs], device=device)["map"]

        ref = chunked(args.chunks[0])  # warm-up of the first; the maps must not depend on the chunk size
        for bs in args.chunks[1:]:
            print(f"{head} chunk {bs} vs {args.chunks[0]} maps: {agreement(chunked(bs), ref)}")
        tbest = {bs: float("inf") for bs in args.chunks}
        for _ in range(args.reps):  # interleaved
            for bs in args.chunks:
                tbest[bs] = min(tbest[bs], timed(lambda bs=bs: chunked(bs), device))
        fastest = min(tbest, key=tbest.get)
        for bs in args.chunks:
            print(f"{head} n={n} after, chunk {bs} noisy copies: {len(ids) / tbest[bs]:.3f} images/s "
                  f"({tbest[fastest] / tbest[bs]:.2f} of the fastest)")
        lines.append(f"CHUNK {head} n={n}: fastest chunk {fastest} noisy copies; "
                     + ", ".join(f"{bs}: {tbest[fastest] / tbest[bs]:.2f}" for bs in args.chunks))
    if not args.skip_bf16:
        ok, why = bf16_capable(device)
        if not ok:
            print(f"{head}: bf16 not measured: {why}")
        else:
            n = args.samples[0]
            s32 = SmoothGradSettings(n_samples=n, batch_size=2 * n, sigma_range="space")
            s16 = SmoothGradSettings(n_samples=n, batch_size=2 * n, sigma_range="space", precision="bf16")
            m = engines["after"]
            m32 = smoothgrad.saliency_maps(m, x, ids, labels, s32, device=device)["map"]
            m16 = smoothgrad.saliency_maps(m, x, ids, labels, s16, device=device)["map"]
            t32 = t16 = float("inf")
            for _ in range(args.reps):
                t32 = min(t32, timed(lambda: smoothgrad.saliency_maps(m, x, ids, labels, s32, device=device), device))
                t16 = min(t16, timed(lambda: smoothgrad.saliency_maps(m, x, ids, labels, s16, device=device), device))
            print(f"{head} bf16 autocast ({why}, n={n}): {t32 / t16:.2f}x fp32; maps vs fp32: {agreement(m16, m32)}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["alexnet:224", "efficientnet_lite0:160", "efficientnet_lite0:224"],
                    help="ARCH:SIZE entries (any torchvision classification model, or efficientnet_lite0)")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--samples", type=int, nargs="+", default=[25, 50])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default="none", help="none (default) or imagenet")
    ap.add_argument("--skip-bf16", action="store_true", help="skip the bf16 comparison")
    ap.add_argument("--chunks", type=int, nargs="*", default=[],
                    help="also time the after engine at these chunk sizes (noisy copies per forward/backward, "
                         "saliency.batch_size), n = the first of --samples, e.g. 25 50 100")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    mm = matmul_gflops(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_description()
    print(f"device {device} ({where}, {torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"measured matmul rate: {mm:.1f} GFLOP/s (fp32, 2048x2048)")
    lines = []
    for entry in args.models:
        arch, _, size = entry.partition(":")
        lines += bench_model(arch, int(size or 224), args, device, mm)
    print("\n== summary (images/s ratios; best of interleaved repeats)")
    for line in sorted(lines, key=lambda ln: ln.startswith("RATIO")):  # the ratios last
        print(line)


if __name__ == "__main__":
    main()
