"""The SmoothGrad engine (Smilkov et al., 2017): input-gradient maps of a frozen model, noisy
copies streamed in chunks, per-image seeded. Settings: :mod:`blurfocus.smoothgrad_settings`; storage: :mod:`blurfocus.mapstore`.

Conventions
-----------
- Images are float32 tensors in **[0, 1] pixel space**, shape (N, 3, H, W); the model
  (:class:`blurfocus.models.Normalized`) normalizes internally. Noise θ ~ N(0, σ²) is added in
  this pixel space, *before* normalization, and gradients are taken with respect to it.
- σ = ``sigma`` × range, where range is ``max - min`` of the **clear** version of the image
  (``sigma_range: image``, PAIR's reference implementation applied to the clear image) or 1
  (``space``: the [0, 1] range). Every map of one image -- every model, every variant (clear or
  blurred), every draw -- therefore gets the same absolute σ: a blurred image's own range is
  smaller, and noise scaled to it would make its maps less noisy than the clear ones (issue 10).
  The absolute σ of every map is recorded (``sigma_abs``).
- ``target``: ``both`` (every class; the maps of the classes are summed, as the original study
  did), ``predicted`` (argmax on the clean image) or ``label``.
- ``mode``: ``smoothgrad`` = mean_i g_i; ``smoothgrad_sq`` = mean_i g_i²; ``vargrad`` =
  mean_i g_i² - (mean_i g_i)² (population variance, as Captum's NoiseTunnel).
- ``reduce`` turns a (3, H, W) attribution into an HxW map: ``abs_sum`` (Σ_c |a_c|, default),
  ``sum``, ``abs_max`` (max_c |a_c|) or ``l2`` (sqrt Σ_c a_c²). With several targets, each
  target's attribution is reduced, then the maps are summed.
- The noise of an image is drawn from a generator seeded by (seed, model, variant, draw, image
  id), so a map does not depend on batch size, shard count or job order. Every map gets its own
  noise (no common random numbers across models or variants): a comparison of two maps and its
  null (e.g. two draws of one map) then carry the same kind of noise and are exchangeable under
  the null hypothesis. Draw 0 is the primary map; draws 1, 2 are independent replicates (the
  SmoothGrad noise floor).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .seeding import stable_seed
from .smoothgrad_settings import SmoothGradSettings


def sigma_abs(clear: torch.Tensor, settings: SmoothGradSettings) -> torch.Tensor:
    """Absolute noise std per image, shape (N,) float32 on the CPU, from the **clear** versions
    (N, C, H, W) in [0, 1] of the images (``sigma_range: image``: sigma × (max − min) of each clear
    image; ``space``: sigma). Use it for every variant, model and draw of those images."""
    if settings.sigma_range == "space":
        return torch.full((clear.shape[0],), float(settings.sigma), dtype=torch.float32)
    flat = clear.reshape(clear.shape[0], -1)
    return settings.sigma * (flat.amax(1) - flat.amin(1)).float().cpu()


def image_noise(
    image_id: str, shape: Sequence[int], n: int, seed: int, draw: int = 0, stream: Sequence[object] = ()
) -> torch.Tensor:
    """Standard-normal noise (n, *shape), float32 on the CPU, seeded by (seed, stream, draw, image_id).

    The pipeline passes ``stream=(model, variant)``, so every map has its own noise.
    """
    gen = torch.Generator().manual_seed(stable_seed("smoothgrad", seed, *stream, draw, image_id))
    return torch.randn((n, *shape), generator=gen, dtype=torch.float32)


def reduce_channels(attr: torch.Tensor, how: str) -> torch.Tensor:
    """(..., C, H, W) attribution -> (..., H, W) map."""
    if how == "abs_sum":
        return attr.abs().sum(-3)
    if how == "sum":
        return attr.sum(-3)
    if how == "abs_max":
        return attr.abs().amax(-3)
    if how == "l2":
        return attr.pow(2).sum(-3).sqrt()
    raise ValueError(f"saliency.reduce: unknown reduction {how!r}")


def combine(sum_g: torch.Tensor, sum_g2: torch.Tensor | None, n: int, mode: str) -> torch.Tensor:
    """Per-sample gradient sums -> the mode's attribution (same shape)."""
    mean = sum_g / n
    if mode == "smoothgrad":
        return mean
    if sum_g2 is None:
        raise ValueError("squared sums are needed for smoothgrad_sq and vargrad")
    mean_sq = sum_g2 / n
    if mode == "smoothgrad_sq":
        return mean_sq
    if mode == "vargrad":
        return mean_sq - mean * mean
    raise ValueError(f"saliency.mode: unknown mode {mode!r}")


def freeze(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Eval mode, no parameter gradients (input gradients only) and, by default, channels-last
    weights (faster convolutions in oneDNN/cuDNN; results equal up to float rounding). The
    layers are kept as they are (the sanity check re-initializes them one by one)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def prepare_model(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True) -> nn.Module:
    """The engine's default path for a trained model that is only explained: eval mode, every
    BatchNorm that follows a convolution folded into it (:func:`blurfocus.models.fold_batchnorm`;
    equal maps up to float rounding), frozen, channels-last.

    Measured (benchmarks/bench_saliency.py, docs/benchmarks.md): on EfficientNet-Lite0 the fold is
    the main gain (its 49 BatchNorms cost a pass each way), channels-last beats contiguous on both
    AlexNet and EfficientNet-Lite0 once folded, so one format serves both.
    """
    from .models import fold_batchnorm

    model.eval()
    if fold_bn:
        fold_batchnorm(model)
    return freeze(model, channels_last=channels_last)


def _input_gradients(out: torch.Tensor, inp: torch.Tensor, targets: torch.Tensor, batched: bool) -> torch.Tensor:
    """Gradients (T, B, C, H, W) of out[b, targets[b, t]] with respect to inp, for each t.

    ``batched=False`` (the engine's default) runs one backward pass per target on the kept
    graph; ``batched=True`` runs the T passes as one vmapped pass (``is_grads_batched``). Both
    give the same gradients (bit for bit in every benchmark run; tests/test_saliency.py checks
    them to float rounding); per target is the faster on the CPU measured, 1.03x on AlexNet and 1.5x on EfficientNet-Lite0 at a 50-copy chunk, where
    vmap's batching of the backward spends a third of its time concatenating
    (benchmarks/profile_saliency.py, docs/benchmarks.md).
    """
    n_t = targets.shape[1]
    rows = torch.arange(out.shape[0], device=out.device)
    cot = torch.zeros((n_t, *out.shape), dtype=out.dtype, device=out.device)
    for t in range(n_t):
        cot[t, rows, targets[:, t]] = 1.0
    if batched and n_t > 1:
        (g,) = torch.autograd.grad(out, inp, grad_outputs=cot, is_grads_batched=True)
        return g
    grads = []
    for t in range(n_t):
        (g,) = torch.autograd.grad(out, inp, grad_outputs=cot[t], retain_graph=t < n_t - 1)
        grads.append(g)
    return torch.stack(grads)


def smoothgrad_attributions(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    noise: Sequence[torch.Tensor],
    settings: SmoothGradSettings,
    device: torch.device | str = "cpu",
    *,
    batched: bool = False,
    channels_last: bool = True,
) -> torch.Tensor:
    """Attributions (N, T, C, H, W) of images x (N, C, H, W) in [0, 1].

    ``targets`` (N, T) holds the T class indices to explain per image; ``noise[i]`` is the
    (n, C, H, W) noise tensor of image i (already scaled by σ). Samples of all images are
    streamed in chunks of ``settings.batch_size`` through one forward pass and one backward pass
    per target (``batched=True``: one vmapped backward pass for the T targets, same result);
    parameters get no gradients. Inputs are channels-last unless ``channels_last=False``.
    """
    device = torch.device(device)
    n_img, n_t = targets.shape
    n = noise[0].shape[0]
    need_sq = settings.mode != "smoothgrad"
    x = x.to(device)
    sum_g = torch.zeros((n_img, n_t, *x.shape[1:]), dtype=torch.float32, device=device)
    sum_g2 = torch.zeros_like(sum_g) if need_sq else None
    targets = targets.to(device)
    total = n_img * n
    bs = max(1, settings.batch_size)
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if settings.precision == "bf16"
        else torch.autocast(device_type=device.type, enabled=False)
    )
    memory_format = torch.channels_last if x.dim() == 4 and channels_last else torch.contiguous_format
    pin = device.type == "cuda"
    for start in range(0, total, bs):
        flat = torch.arange(start, min(start + bs, total))
        img, smp = flat // n, flat % n
        # gather this chunk's noise (images may straddle chunk borders)
        parts = []
        for i in torch.unique_consecutive(img).tolist():
            sel = smp[img == i]
            parts.append(noise[i][sel[0] : sel[-1] + 1])
        chunk_noise = torch.cat(parts)
        if pin and not chunk_noise.is_cuda:
            chunk_noise = chunk_noise.pin_memory()
        img_d = img.to(device)
        inp = (x[img_d] + chunk_noise.to(device, non_blocking=True))
        inp = inp.contiguous(memory_format=memory_format).requires_grad_(True)
        with autocast:
            out = model(inp)
        g = _input_gradients(out, inp, targets[img_d], batched).float()  # (T, B, C, H, W)
        for t in range(n_t):
            sum_g[:, t].index_add_(0, img_d, g[t])
            if need_sq:
                sum_g2[:, t].index_add_(0, img_d, g[t] * g[t])
    return combine(sum_g, sum_g2, n, settings.mode)


def saliency_maps(
    model: nn.Module,
    x: torch.Tensor,
    image_ids: Sequence[str],
    labels: Sequence[int],
    settings: SmoothGradSettings,
    *,
    draw: int = 0,
    stream: Sequence[object] = (),
    device: torch.device | str = "cpu",
    num_classes: int | None = None,
    noise_sigma: torch.Tensor | None = None,
    batched: bool = False,
) -> dict[str, torch.Tensor]:
    """SmoothGrad maps of a batch of images x (N, C, H, W) in [0, 1] (noise of image i seeded by
    (seed, stream, draw, id)).

    ``noise_sigma`` (N,) is the absolute noise std of each image, ``sigma_abs(clear, settings)``
    of the clear versions of the images; it must be passed when x is blurred. Default:
    ``sigma_abs(x, settings)``, right only when x holds the clear images. ``batched``: see
    :func:`smoothgrad_attributions` (an execution choice; the maps are the same).

    Returns ``map`` (N, H, W) float32 (CPU), ``pred`` (N,), ``prob`` (N,) (softmax probability
    of the predicted class on the clean image), ``prob_label`` (N,) and ``sigma_abs`` (N,).
    """
    device = torch.device(device)
    with torch.inference_mode():
        logits = model(x.to(device)).float()
    probs = logits.softmax(1).cpu()
    pred = probs.argmax(1)
    k = num_classes or logits.shape[1]
    if settings.target == "both":
        targets = torch.arange(k).repeat(len(x), 1)
    elif settings.target == "predicted":
        targets = pred[:, None]
    else:
        targets = torch.as_tensor(list(labels), dtype=torch.long)[:, None]
    if noise_sigma is None:
        sig = sigma_abs(x, settings)
    else:
        sig = torch.as_tensor(noise_sigma, dtype=torch.float32).reshape(-1).cpu()
        if sig.shape[0] != len(x):
            raise ValueError(f"noise_sigma has {sig.shape[0]} values for {len(x)} images")
    noise = [
        image_noise(image_ids[i], x.shape[1:], settings.n_samples, settings.seed, draw, stream) * sig[i]
        for i in range(len(x))
    ]
    attr = smoothgrad_attributions(model, x, targets, noise, settings, device, batched=batched)
    maps = reduce_channels(attr, settings.reduce).sum(1).float().cpu()
    lab = torch.as_tensor(list(labels), dtype=torch.long)
    return {
        "map": maps,
        "pred": pred,
        "prob": probs.gather(1, pred[:, None])[:, 0],
        "prob_label": probs.gather(1, lab[:, None])[:, 0],
        "sigma_abs": sig,
    }
