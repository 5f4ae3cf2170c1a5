"""Accuracy of the fine-tuned models on every test variant (the accuracy matrix)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

ACCURACY_COLUMNS = ["model", "role", "seed", "train_variant", "test_variant", "n", "accuracy", "loss"]
PREDICTION_COLUMNS = ["model", "variant", "image_id", "label", "pred", "correct"]


def prediction_table(model: str, variant: str, image_ids: np.ndarray, labels: np.ndarray,
                     preds: np.ndarray) -> pd.DataFrame:
    """One row per test image (:data:`PREDICTION_COLUMNS`): the predicted class and whether it is right."""
    labels, preds = np.asarray(labels, np.int64), np.asarray(preds, np.int64)
    if not (len(image_ids) == len(labels) == len(preds)):
        raise ValueError(f"{model} on {variant}: {len(image_ids)} image ids, {len(labels)} labels, {len(preds)} predictions")
    return pd.DataFrame({"model": model, "variant": variant, "image_id": np.asarray(image_ids, str),
                         "label": labels, "pred": preds, "correct": labels == preds}, columns=PREDICTION_COLUMNS)


def accuracy_matrix(tables: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-model tables, ordered by model (naive first) and test variant (clear first)."""
    df = pd.concat(list(tables), ignore_index=True)
    variants = ["clear"] + sorted(v for v in df["test_variant"].unique() if v != "clear")
    df["_v"] = df["test_variant"].map({v: i for i, v in enumerate(variants)})
    roles = list(dict.fromkeys(["naive", "expert", *df["role"]]))  # naive, expert, then the other arms in order
    df["_r"] = df["role"].map({r: i for i, r in enumerate(roles)})
    df = df.sort_values(["seed", "_r", "_v"]).drop(columns=["_v", "_r"]).reset_index(drop=True)
    return df[ACCURACY_COLUMNS]
