"""Stored image arrays: uint8 (N, H, W, 3) ``.npy`` files, one per (variant, split).

Row i of ``results/data/clear/<split>.npy`` (and of each blurred copy) is the manifest row with
that split and ``split_index == i``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported only by the functions that make tensors
    import torch


def open_images(path: str | Path) -> np.ndarray:
    """Memory-map a stored uint8 (N, H, W, 3) array; raises a clear error on a bad file."""
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read image array {str(path)!r}: {exc}; delete it and rerun") from None
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise RuntimeError(f"{str(path)!r} is not a uint8 (N, H, W, 3) image array (got {arr.dtype} {arr.shape})")
    return arr


def to_tensor_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) array -> contiguous uint8 tensor (N, 3, H, W) (decoded once, in memory)."""
    import torch

    with warnings.catch_warnings():
        # a read-only memmap is fine: the tensor is only read, and .contiguous() copies it
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def to_unit_float(batch: torch.Tensor) -> torch.Tensor:
    """uint8 tensor -> float32 in [0, 1] (same shape)."""
    import torch

    return batch.to(torch.float32).div_(255.0)
