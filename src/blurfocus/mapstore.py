"""The Parquet map store: one row per (model, variant, draw, image) with the HxW map (float16,
row-major), its top-k focus and the SmoothGrad settings in the file metadata (no torch here, so
the tables-and-figures jobs need none).

Write with :func:`write_maps` (streamed, one row group per batch, atomic rename); read all shards
as one dataset with ``pyarrow.dataset.dataset("results/saliency", format="parquet")`` and the
maps of a table with :func:`read_maps`.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .smoothgrad_settings import SmoothGradSettings
from .topk import topk_pixels

SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("label", pa.int32()),
        ("class_name", pa.string()),
        ("model", pa.string()),
        ("variant", pa.string()),
        ("draw", pa.int16()),
        ("pred", pa.int32()),
        ("prob", pa.float32()),
        ("prob_label", pa.float32()),
        ("sigma_abs", pa.float32()),
        ("map_height", pa.int32()),
        ("map_width", pa.int32()),
        ("map", pa.list_(pa.float16())),
        ("topk_rows", pa.list_(pa.int32())),
        ("topk_cols", pa.list_(pa.int32())),
        ("topk_values", pa.list_(pa.float32())),
    ]
)


def settings_metadata(settings: SmoothGradSettings, **extra: object) -> dict[bytes, bytes]:
    """Parquet key-value metadata: the SmoothGrad settings and provenance, as JSON."""
    meta = {**settings.metadata(), **extra}
    return {b"blurfocus.smoothgrad": json.dumps(meta, sort_keys=True, default=str).encode()}


def write_maps(
    path: str,
    batches: Iterator[dict[str, object]],
    settings: SmoothGradSettings,
    topk: int,
    metadata: dict[str, object],
    log_fn: Callable[[str], None] = print,
) -> int:
    """Stream batches of maps to a Parquet file, one row group per batch; returns the row count.

    Each batch holds ``map`` (B, H, W), per-row ``image_id, label, class_name, pred, prob,
    prob_label, sigma_abs`` and scalar ``model, variant, draw``. The file is written to
    ``path + '.tmp'`` and renamed when complete, so an interrupted job leaves no Parquet file.
    """
    schema = SCHEMA.with_metadata(settings_metadata(settings, topk=topk, **metadata))
    tmp = path + ".tmp"
    rows = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for b in batches:
            maps = np.asarray(b["map"], dtype=np.float32)
            nb, h, w = maps.shape
            tk = [topk_pixels(m, topk) for m in maps]
            table = pa.table(
                {
                    "image_id": pa.array(list(b["image_id"]), pa.string()),
                    "label": pa.array(np.asarray(b["label"], dtype=np.int32)),
                    "class_name": pa.array(list(b["class_name"]), pa.string()),
                    "model": pa.array([b["model"]] * nb, pa.string()),
                    "variant": pa.array([b["variant"]] * nb, pa.string()),
                    "draw": pa.array(np.full(nb, b["draw"], dtype=np.int16)),
                    "pred": pa.array(np.asarray(b["pred"], dtype=np.int32)),
                    "prob": pa.array(np.asarray(b["prob"], dtype=np.float32)),
                    "prob_label": pa.array(np.asarray(b["prob_label"], dtype=np.float32)),
                    "sigma_abs": pa.array(np.asarray(b["sigma_abs"], dtype=np.float32)),
                    "map_height": pa.array(np.full(nb, h, dtype=np.int32)),
                    "map_width": pa.array(np.full(nb, w, dtype=np.int32)),
                    "map": pa.ListArray.from_arrays(
                        pa.array(np.arange(0, nb * h * w + 1, h * w, dtype=np.int32)),
                        pa.array(maps.astype(np.float16).ravel()),
                    ),
                    "topk_rows": pa.array([t[0] for t in tk], pa.list_(pa.int32())),
                    "topk_cols": pa.array([t[1] for t in tk], pa.list_(pa.int32())),
                    "topk_values": pa.array([t[2] for t in tk], pa.list_(pa.float32())),
                },
                schema=schema,
            )
            writer.write_table(table)
            rows += nb
            log_fn(f"wrote {rows} maps")
    os.replace(tmp, path)
    return rows


def read_maps(table: pa.Table) -> np.ndarray:
    """The ``map`` column of a saliency table as float32 (N, H, W)."""
    h = table.column("map_height")[0].as_py()
    w = table.column("map_width")[0].as_py()
    flat = table.column("map").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.float32).reshape(-1, h, w)
