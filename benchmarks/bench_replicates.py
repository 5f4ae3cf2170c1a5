"""Training K replicates: one model per job (K separate training loops) against K models in one
job (``torch.func.stack_module_state`` + ``vmap`` over the K parameter sets), side by side.

Both run the same number of SGD steps of the same architecture (random init, 2 classes) on the
same device and thread count; each replicate gets its own batches (its own shuffled order) and
its own dropout. ``separate``: for each replicate, a plain loop (forward, cross-entropy,
backward, ``torch.optim.SGD`` step), as K training jobs run it one after the other (process
start-up not counted, which favours it). ``vmapped``: one loop whose step computes the K
replicates' gradients in one ``vmap(grad(loss))`` call (``randomness="different"``: each
replicate its own dropout mask) and updates the stacked parameters. Repeats are interleaved, the
best of each is kept; the result is images/s (K x batch x steps / time).

BatchNorm in training mode updates running statistics in place, which ``vmap`` cannot do per
replicate; for architectures with BatchNorm the vmapped path would have to drop the running
statistics (``torch.func.replace_all_batch_norm_modules_``), which changes training, so it is
reported as not applicable there.

    python benchmarks/bench_replicates.py [--arch alexnet] [--size 64] [--k 5] [--batch-size 32]
        [--steps 4] [--reps 3] [--threads 2] [--device cpu]

The last line printed is the ratio vmapped / separate.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from blurfocus import models  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="alexnet")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lr", type=float, default=0.01)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    k, b, steps = args.k, args.batch_size, args.steps
    replicas = []
    for seed in range(k):
        torch.manual_seed(seed)
        replicas.append(models.build_model(args.arch, "none", 2)[0].to(device).train())
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in replicas[0].modules())
    g = torch.Generator().manual_seed(0)
    x = torch.rand((k, steps, b, 3, args.size, args.size), generator=g).to(device)
    y = torch.randint(0, 2, (k, steps, b), generator=g).to(device)
    print(f"{args.arch} {args.size}px, K = {k} replicates, batch {b}, {steps} SGD steps each, "
          f"device {device} ({torch.get_num_threads()} threads)")

    def separate():
        for r, model in enumerate(replicas):
            opt = torch.optim.SGD(model.parameters(), lr=args.lr)
            for s in range(steps):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x[r, s]), y[r, s]).backward()
                opt.step()

    from torch.func import functional_call, grad, stack_module_state, vmap

    params, buffers = stack_module_state(replicas)
    skeleton = copy.deepcopy(replicas[0]).to("meta")

    def loss(p, bufs, xb, yb):
        return F.cross_entropy(functional_call(skeleton, (p, bufs), (xb,)), yb)

    step_grads = vmap(grad(loss), randomness="different")

    def vmapped():
        for s in range(steps):
            grads = step_grads(params, buffers, x[:, s], y[:, s])
            with torch.no_grad():
                for name, p in params.items():
                    p.sub_(args.lr * grads[name])

    fns = {"separate": separate}
    if has_bn:
        print("vmapped: not applicable (BatchNorm running statistics cannot be updated per replicate under vmap)")
    else:
        fns["vmapped"] = vmapped
    for fn in fns.values():
        fn()  # warm-up
    best = {name: float("inf") for name in fns}
    for _ in range(args.reps):
        for name, fn in fns.items():
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - t)
    ips = {name: k * b * steps / t for name, t in best.items()}
    for name in fns:
        print(f"{name}: {ips[name]:.1f} images/s")
    if "vmapped" in ips:
        print(f"RATIO vmapped / separate: {ips['vmapped'] / ips['separate']:.2f}")


if __name__ == "__main__":
    main()
