"""Layer activations via forward hooks (for the activation figure)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .models import Normalized


def layer_activations(model: Normalized, x: torch.Tensor, layers: Sequence[str]) -> dict[str, np.ndarray]:
    """ReLU of the outputs of ``layers`` (names inside the architecture, e.g. ``features.6``)
    for one image x (1, 3, H, W) in [0, 1]. Returns {layer: (C, h, w) float32}.

    Outputs are copied inside the hook, so in-place activations that follow do not alter them.
    """
    names = {n for n, _ in model.net.named_modules()}
    missing = [l for l in layers if l not in names]
    if missing:
        convs = [n for n, m in model.net.named_modules() if isinstance(m, torch.nn.Conv2d)]
        raise ValueError(
            f"figures.layers: {', '.join(missing)} not in the model; convolution layers: {', '.join(convs[:40])}"
        )
    out: dict[str, np.ndarray] = {}
    hooks = []
    for name in layers:
        def hook(_m, _inp, output, name=name):
            out[name] = torch.relu(output.detach()[0].float()).cpu().numpy().copy()

        hooks.append(model.net.get_submodule(name).register_forward_hook(hook))
    try:
        with torch.inference_mode():
            model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    return out
