"""Training K replicates: one model per job (as the ``train`` rule runs them) against K models in
one job, side by side in one run, for any architecture.

All three run the same number of optimizer steps of the same architecture (2-class head, the
same K initializations), with the pipeline's optimizer (``train.make_optimizer``: fused Adam by
default, as ``config.yaml``), on the same device and thread count; each replicate gets its own
batches and its own dropout.

- ``separate``: for each replicate in turn, a plain loop (forward, cross-entropy, backward,
  optimizer step): the compute of K training jobs run one after the other.
- ``interleaved``: K models in one process, one step of each in turn (applies to every
  architecture): the same compute as ``separate``; what one job per arm would save is the K - 1
  process start-ups, measured apart (below).
- ``vmapped``: one loop whose step computes the K replicates' gradients in one
  ``vmap(grad(loss))`` call over ``torch.func.stack_module_state`` (``randomness="different"``:
  each replicate its own dropout mask) and takes one optimizer step on the stacked parameters
  (Adam and SGD are elementwise, so stacking does not couple the replicates). BatchNorm in
  training mode updates running statistics in place, which ``vmap`` cannot do per replicate;
  for architectures with BatchNorm (EfficientNet-Lite0, ResNets) this path would have to drop
  the running statistics (``torch.func.replace_all_batch_norm_modules_``), which changes
  training, so it is reported as not applicable.

Start-up of a training job: the best of ``--startup-reps`` fresh Python processes that import
torch and the modules the train script imports and build the model (``--weights imagenet``
loads the pretrained weights, as the rule does); K separate jobs pay it K times, one job once.
Data loading is not counted (small next to the model on the presets).

Repeats are interleaved (separate, interleaved, vmapped, separate, ...) after one warm-up of
each, the best of each is kept; rates are images/s (K x batch x steps / time).

    python benchmarks/bench_replicates.py [--arch alexnet] [--weights none] [--size 96] [--k 8]
        [--batch-size 16] [--steps 6] [--job-steps 140] [--reps 3] [--threads 2] [--device cpu] [--optimizer adam]

The last line printed is the ratio of the faster one-job path to K separate jobs, start-up
included, for training jobs of ``--job-steps`` optimizer steps per model (the measured per-step
times scaled to that length).
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from blurfocus import models, train  # noqa: E402
from machine import cpu_description  # noqa: E402  (benchmarks/machine.py)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def startup_seconds(arch: str, weights: str, reps: int) -> float:
    """Best wall time of a fresh process doing a training job's imports and model build."""
    code = (f"import sys; sys.path.insert(0, {str(SRC)!r}); import torch, numpy, pandas; "
            "from blurfocus import data, figures, ingest, models, runtime, train; "
            f"models.build_model({arch!r}, {weights!r}, 2)")
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="alexnet")
    ap.add_argument("--weights", default="none", help="none or imagenet (start-up then loads them)")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--startup-reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--job-steps", type=int, default=140,
                    help="optimizer steps of one whole training job, for the start-up share "
                         "(140: the default config, 560 images / batch 16 x 4 epochs)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    k, b, steps = args.k, args.batch_size, args.steps
    settings = train.TrainSettings(epochs=1, batch_size=b, optimizer=args.optimizer, lr=args.lr,
                                   momentum=0.9, weight_decay=0.0, seed=0)
    inits = []
    for seed in range(k):
        torch.manual_seed(seed)
        inits.append(models.build_model(args.arch, args.weights, 2)[0].to(device).train())
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in inits[0].modules())
    g = torch.Generator().manual_seed(0)
    x = torch.rand((k, steps, b, 3, args.size, args.size), generator=g).to(device)
    y = torch.randint(0, 2, (k, steps, b), generator=g).to(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_description()
    print(f"device {device} ({where}, {torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"{args.arch} (weights {args.weights}) {args.size}px, K = {k} replicates, batch {b}, {steps} "
          f"{args.optimizer} steps each")

    def fresh():  # every repeat starts from the same K initial models
        reps = [copy.deepcopy(m) for m in inits]
        return reps, [train.make_optimizer(m.parameters(), settings) for m in reps]

    def step(model, opt, xb, yb):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    def loops(order):  # the K replicates' steps in the given (replicate, step) order
        reps, opts = fresh()
        sync(device)
        t = time.perf_counter()
        for r, s in order:
            step(reps[r], opts[r], x[r, s], y[r, s])
        sync(device)
        return time.perf_counter() - t

    def separate():  # one replicate after the other, as K jobs
        return loops([(r, s) for r in range(k) for s in range(steps)])

    def interleaved():  # one step of each replicate in turn, in one process
        return loops([(r, s) for s in range(steps) for r in range(k)])

    from torch.func import functional_call, grad, stack_module_state, vmap

    skeleton = copy.deepcopy(inits[0]).to("meta")

    def loss(p, bufs, xb, yb):
        return F.cross_entropy(functional_call(skeleton, (p, bufs), (xb,)), yb)

    step_grads = vmap(grad(loss), randomness="different")

    def vmapped():
        params, buffers = stack_module_state([copy.deepcopy(m) for m in inits])
        opt = train.make_optimizer(params.values(), settings)
        sync(device)
        t = time.perf_counter()
        for s in range(steps):
            grads = step_grads(params, buffers, x[:, s], y[:, s])
            for name, p in params.items():
                p.grad = grads[name]
            opt.step()
        sync(device)
        return time.perf_counter() - t

    fns = {"separate": separate, "interleaved": interleaved}
    if has_bn:
        print("vmapped: not applicable (BatchNorm running statistics cannot be updated per replicate under vmap)")
    else:
        fns["vmapped"] = vmapped
    for fn in fns.values():
        fn()  # warm-up
    best = {name: float("inf") for name in fns}
    for _ in range(args.reps):
        for name, fn in fns.items():
            best[name] = min(best[name], fn())
    start = startup_seconds(args.arch, args.weights, args.startup_reps)
    n_img = k * b * steps
    for name in fns:
        print(f"{name}: {n_img / best[name]:.1f} images/s ({best[name]:.2f} s for {n_img} images)")
    print(f"start-up of one training job (imports + model build, best of {args.startup_reps}): {start:.2f} s")
    one_job = min((n for n in fns if n != "separate"), key=lambda n: best[n])
    if "vmapped" in best:
        print(f"RATIO vmapped / separate (compute only): {best['separate'] / best['vmapped']:.2f}")
    print(f"RATIO interleaved / separate (compute only): {best['separate'] / best['interleaved']:.2f}")
    scale = args.job_steps / steps  # project the measured steps to whole training jobs
    ratio = (scale * best["separate"] + k * start) / (scale * best[one_job] + start)
    print(f"RATIO one job ({one_job}, 1 start-up) / K = {k} jobs (separate, {k} start-ups), "
          f"{args.job_steps} steps per model: {ratio:.2f}")


if __name__ == "__main__":
    main()
