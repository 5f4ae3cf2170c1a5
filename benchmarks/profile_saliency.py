"""Where the time of SmoothGrad goes: forward and input-gradient backward passes, timed apart.

On one chunk of noisy copies (AlexNet, 2 classes, random weights, 224x224, channels-last,
parameters frozen as the pipeline freezes them), best of ``--reps``:

- F:      forward with the input requiring grad (activations kept for backward);
- F+B1:   forward and one input-gradient backward (one target class);
- F+B2:   forward and two input-gradient backwards, batched over the two targets
          (``is_grads_batched``, what the pipeline does for ``target: both``);
- 2(F+B1): what Captum's NoiseTunnel does for two targets (one call per target).

From these: the backward/forward cost ratio, and the best speed-up over Captum that any engine
doing 1 forward and 2 backwards can reach on this machine, (2F + 2B) / (F + 2B). The last line
is that bound. Then torch.profiler's top operators for F+B2.

    python benchmarks/profile_saliency.py [--batch 50] [--size 224] [--threads 2] [--reps 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from blurfocus import models, smoothgrad  # noqa: E402


def best_time(fn, reps: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


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
    model = smoothgrad.prepare_model(models.build_model(args.arch, "none", 2)[0])  # the engine's default path
    x = torch.rand(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
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

    def captum_like():
        return fwd_b1(0), fwd_b1(1)

    tf = best_time(fwd, args.reps)
    tb1 = best_time(fwd_b1, args.reps)
    tb2 = best_time(fwd_b2, args.reps)
    tc = best_time(captum_like, args.reps)
    b = tb1 - tf
    print(f"{args.arch} {args.size}x{args.size}, {args.batch} noisy copies per chunk, {torch.get_num_threads()} threads")
    print(f"F       {tf * 1e3:8.1f} ms")
    print(f"F+B1    {tb1 * 1e3:8.1f} ms   (one backward B = {b * 1e3:.1f} ms, B/F = {b / tf:.2f})")
    print(f"F+B2    {tb2 * 1e3:8.1f} ms   (the pipeline: two targets batched; 2B = {(tb2 - tf) * 1e3:.1f} ms)")
    print(f"2(F+B1) {tc * 1e3:8.1f} ms   (Captum: one call per target)")
    print(f"measured speed-up of the batched chunk over two calls: {tc / tb2:.2f}")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fwd_b2()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    bound = (2 * tf + 2 * b) / (tf + 2 * b)
    print(f"BOUND on the fp32 speed-up over Captum for 1 forward + 2 backwards: (2F+2B)/(F+2B) = {bound:.2f}")


if __name__ == "__main__":
    main()
