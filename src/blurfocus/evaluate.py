"""Accuracy of the fine-tuned models on every test variant (the accuracy matrix)."""

from __future__ import annotations

from typing import Iterable

import pandas as pd

ACCURACY_COLUMNS = ["model", "role", "seed", "train_variant", "test_variant", "n", "accuracy", "loss"]


def accuracy_matrix(tables: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-model tables, ordered by model (naive first) and test variant (clear first)."""
    df = pd.concat(list(tables), ignore_index=True)
    variants = ["clear"] + sorted(v for v in df["test_variant"].unique() if v != "clear")
    df["_v"] = df["test_variant"].map({v: i for i, v in enumerate(variants)})
    df["_r"] = df["role"].map({"naive": 0, "expert": 1})
    df = df.sort_values(["seed", "_r", "_v"]).drop(columns=["_v", "_r"]).reset_index(drop=True)
    return df[ACCURACY_COLUMNS]
