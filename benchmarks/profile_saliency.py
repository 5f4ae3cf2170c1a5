"""Where the time of SmoothGrad goes: forward and input-gradient backward passes, timed apart,
and the operators they spend it in, for the engine before and after its speed work.

On one chunk of noisy copies (``--arch``, 2 classes, random weights, ``--size``, channels-last,
parameters frozen as the pipeline freezes them), best of ``--reps``, for the engine ``before``
(:func:`blurfocus.smoothgrad.freeze`) and ``after`` (:func:`blurfocus.smoothgrad.prepare_model`:
BatchNorm folded into the convolutions):

- F:      forward with the input requiring grad (activations kept for backward);
- F+B1:   forward and one input-gradient backward (one target class);
- F+B2:   forward and two input-gradient backwards, batched over the two targets
          (``is_grads_batched``, the engine's ``backward: batched``);
- F+B1+B1: forward and one input-gradient backward per target (``backward: per_target``);
- 2(F+B1): what Captum's NoiseTunnel does for two targets (one call per target).

From these: the backward/forward cost ratio, and the best speed-up over Captum that any engine
doing 1 forward and 2 backwards can reach on this machine, (2F + 2B) / (F + 2B). Then
torch.profiler's self time of F+B2 by operator category (BatchNorm, depthwise convolutions,
other convolutions, activations, the rest; a convolution is depthwise when its weight has one
input channel per group) beside each convolution category's share of the FLOPs, and the bound
on what folding BatchNorm can gain over ``before``: its time without the BatchNorm operators,
T / (T - T_BN). The last line is the Captum bound of ``after``.

    python benchmarks/profile_saliency.py [--arch alexnet] [--batch 50] [--size 224] [--threads 2] [--reps 5]
    python benchmarks/profile_saliency.py --arch efficientnet_lite0 --size 160 --batch 50
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from blurfocus import models, smoothgrad  # noqa: E402
from machine import cpu_description  # noqa: E402  (benchmarks/machine.py)


def best_time(fn, reps: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


CATEGORIES = ("batchnorm", "depthwise conv", "other conv", "activation", "rest")


def category(event) -> str:
    """The operator category of a profiler event (uses the recorded input shapes)."""
    name = event.name
    if "batch_norm" in name:
        return "batchnorm"
    if "convolution" in name:
        shapes = [s for s in event.input_shapes if len(s) == 4]
        weight = shapes[-1] if shapes else None  # (out, in / groups, kh, kw): the last 4-d input
        if name.endswith("convolution_backward"):
            weight = shapes[2] if len(shapes) > 2 else weight  # (grad_output, input, weight)
        elif len(shapes) > 1:
            weight = shapes[1]  # (input, weight, ...)
        return "depthwise conv" if weight is not None and weight[1] == 1 and weight[0] > 1 else "other conv"
    if any(k in name for k in ("hardtanh", "relu", "threshold", "silu", "sigmoid", "clamp")):
        return "activation"
    return "rest"


def conv_flop_shares(model, x: torch.Tensor) -> dict[str, float]:
    """Share of the convolution and linear FLOPs (one forward) in depthwise and other convolutions."""
    flops: dict[str, float] = defaultdict(float)

    def hook(mod, inp, out):
        per_out = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        kind = "depthwise conv" if mod.groups > 1 and mod.groups == mod.in_channels else "other conv"
        flops[kind] += 2.0 * out.numel() * per_out

    def lin(mod, inp, out):
        flops["other conv"] += 2.0 * out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    handles += [m.register_forward_hook(lin) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model(x[:1])
    for h in handles:
        h.remove()
    total = sum(flops.values())
    return {k: v / total for k, v in flops.items()}


def measure(model, x: torch.Tensor, reps: int) -> dict:
    """Times of F, F+B1, F+B2 and Captum's 2(F+B1), and F+B2's self time per category."""
    eye = torch.eye(2)

    def fwd():
        inp = x.clone().requires_grad_(True)
        return model(inp)

    def fwd_b1(t: int = 0):
        inp = x.clone().requires_grad_(True)
        out = model(inp)
        return torch.autograd.grad(out[:, t].sum(), inp)[0]

    def fwd_b2():
        inp = x.clone().requires_grad_(True)
        out = model(inp)
        grad_out = eye[:, None, :].expand(2, len(x), 2)  # (targets, batch, classes)
        return torch.autograd.grad(out, inp, grad_outputs=grad_out, is_grads_batched=True)[0]

    def fwd_b1_b1():
        inp = x.clone().requires_grad_(True)
        out = model(inp)
        g0 = torch.autograd.grad(out[:, 0].sum(), inp, retain_graph=True)[0]
        return g0, torch.autograd.grad(out[:, 1].sum(), inp)[0]

    def captum_like():
        return fwd_b1(0), fwd_b1(1)

    r = {"F": best_time(fwd, reps), "F+B1": best_time(fwd_b1, reps), "F+B2": best_time(fwd_b2, reps),
         "F+B1+B1": best_time(fwd_b1_b1, reps), "2(F+B1)": best_time(captum_like, reps)}
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        fwd_b2()
    cats: dict[str, float] = defaultdict(float)
    for ev in prof.events():
        cats[category(ev)] += ev.self_cpu_time_total
    r["categories"] = cats
    r["table"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=50, help="noisy copies per chunk (the engine's batch)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--arch", default="alexnet")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = models.build_model(args.arch, "none", 2)[0].eval()
    engines = {"before": smoothgrad.freeze(copy.deepcopy(base)),
               "after": smoothgrad.prepare_model(copy.deepcopy(base))}  # the engine's default path
    x = torch.rand(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
    shares = conv_flop_shares(copy.deepcopy(base), x)
    print(f"{cpu_description()}, torch {torch.__version__}")
    print(f"{args.arch} {args.size}x{args.size}, {args.batch} noisy copies per chunk, {torch.get_num_threads()} threads; "
          "FLOP shares (convolutions and linear layers): "
          + ", ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(shares.items())))
    res = {}
    for name, model in engines.items():
        r = res[name] = measure(model, x, args.reps)
        tf, b = r["F"], r["F+B1"] - r["F"]
        print(f"\n== {name}")
        print(f"F       {tf * 1e3:8.1f} ms")
        print(f"F+B1    {r['F+B1'] * 1e3:8.1f} ms   (one backward B = {b * 1e3:.1f} ms, B/F = {b / tf:.2f})")
        print(f"F+B2    {r['F+B2'] * 1e3:8.1f} ms   (the pipeline: two targets batched; 2B = {(r['F+B2'] - tf) * 1e3:.1f} ms)")
        print(f"F+B1+B1 {r['F+B1+B1'] * 1e3:8.1f} ms   (one forward, one backward per target)")
        print(f"2(F+B1) {r['2(F+B1)'] * 1e3:8.1f} ms   (Captum: one call per target)")
        print(f"batched / per-target backward, time of a chunk: {r['F+B2'] / r['F+B1+B1']:.2f}")
        print(f"measured speed-up of the batched chunk over two calls: {r['2(F+B1)'] / r['F+B2']:.2f}")
        total = sum(r["categories"].values())
        print("self time of F+B2 by category: " + ", ".join(
            f"{c} {100 * r['categories'].get(c, 0.0) / total:.0f}%" for c in CATEGORIES))
        print(r["table"])
    cb = res["before"]["categories"]
    fold_bound = sum(cb.values()) / (sum(cb.values()) - cb.get("batchnorm", 0.0))
    print(f"after / before, F+B2 chunk: {res['before']['F+B2'] / res['after']['F+B2']:.2f} "
          f"(bound from folding BatchNorm alone, T / (T - T_BN) of before: {fold_bound:.2f})")
    ra = res["after"]
    tf, b = ra["F"], ra["F+B1"] - ra["F"]
    bound = (2 * tf + 2 * b) / (tf + 2 * b)
    print(f"BOUND on the fp32 speed-up over Captum for 1 forward + 2 backwards (after): (2F+2B)/(F+2B) = {bound:.2f}")


if __name__ == "__main__":
    main()
