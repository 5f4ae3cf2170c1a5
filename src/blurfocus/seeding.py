"""Stable, order-independent seeds derived from names (image ids, variant names, config seeds)."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_seed(*parts: object) -> int:
    """A 63-bit integer seed from the string forms of ``parts``.

    Unlike ``hash()``, the result does not depend on the Python process (PYTHONHASHSEED), so a
    seed derived from an image id is the same in every job, shard and batch.
    """
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little") >> 1


def rng_for(*parts: object) -> np.random.Generator:
    """A NumPy generator seeded by :func:`stable_seed` of ``parts``."""
    return np.random.default_rng(stable_seed(*parts))
