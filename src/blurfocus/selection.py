"""Which test images get maps, how they are split into shard jobs and grouped inside a job
(pandas/numpy only, no torch)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def images_per_group(batch_size: int, n_samples: int) -> int:
    """Images whose maps a shard job computes together (and writes as one Parquet row group):
    enough to fill one batch of ``batch_size`` noisy copies, at least 4."""
    return max(4, -(-batch_size // n_samples))


def select_images(test_rows: pd.DataFrame, limit_per_class: int | None) -> pd.DataFrame:
    """Test rows that get maps: all, or the first ``limit_per_class`` of each class (array order)."""
    if not limit_per_class:
        return test_rows.reset_index(drop=True)
    keep = test_rows.groupby("label", sort=False, group_keys=False).head(limit_per_class)
    return keep.sort_values("split_index").reset_index(drop=True)


def shard_rows(rows: pd.DataFrame, shards: int, shard: int) -> pd.DataFrame:
    """Rows of shard ``shard`` of ``shards`` (contiguous, sizes differ by at most one)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    bounds = np.linspace(0, len(rows), shards + 1).round().astype(int)
    return rows.iloc[bounds[shard] : bounds[shard + 1]]
