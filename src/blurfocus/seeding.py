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


DESIGNS = ("independent", "paired")


def training_seeds(arm: str, replicate: int, design: str = "independent",
                   init_seed: int | None = None) -> tuple[int, int]:
    """(initialization seed, stream seed) of model ``<arm>-s<replicate>``; 31-bit integers.

    The stream seed drives data order, flips and dropout; the initialization seed the random
    weights (the whole network without pretrained weights, the new head otherwise).

    - ``independent``: every model has its own seeds, so two models of different arms are as
      unrelated as two replicates of one arm: a between-arm comparison and its within-arm null
      are coupled alike (both pairs share nothing).
    - ``paired``: replicate i of every arm shares both seeds (same initialization, same batch
      order), so arms are compared within pairs; tests then permute labels within pairs only.

    ``init_seed`` (not None) gives every model that initialization instead (a design
    conditional on one starting point); the stream seeds stay as the design says.
    """
    if design not in DESIGNS:
        raise ValueError(f"training.design: {design!r} not one of {', '.join(DESIGNS)}")
    key = ("paired", int(replicate)) if design == "paired" else ("independent", arm, int(replicate))
    init = stable_seed("init", *key) % 2**31 if init_seed is None else int(init_seed)
    return init, stable_seed("stream", *key) % 2**31
