"""Accuracy and loss of one model on the clear and every blurred test split, and its prediction
for every test image (the per-image correctness behind the grid's Multi-Bootstrap intervals)."""

import json

import pandas as pd
import torch

from blurfocus import data, evaluate, ingest, models, train
from blurfocus.evaluate import ACCURACY_COLUMNS
from blurfocus.runtime import run_job


def main(sm, log):
    device = models.resolve_device(sm.params.device)
    model, meta = models.load_checkpoint(sm.input.model, device)
    rows = ingest.load_split(sm.input.manifest, "test")
    y = torch.as_tensor(rows["label"].to_numpy(), dtype=torch.long)
    out, predictions = [], []
    model_name = f"{sm.wildcards.role}-s{sm.wildcards.seed}"
    for variant, path in zip(json.loads(sm.params.variants), sm.input.arrays):
        x = data.to_tensor_nchw(data.open_images(path))
        acc, loss, logits = train.evaluate(model, x, y, 256, device)
        predictions.append(evaluate.prediction_table(model_name, variant, rows["image_id"].to_numpy(),
                                                     y.numpy(), logits.argmax(1).numpy()))
        log(f"{sm.wildcards.role}-s{sm.wildcards.seed} on {variant}: accuracy {acc:.4f}, loss {loss:.4f} (n={len(y)})")
        out.append([model_name, sm.wildcards.role, int(sm.wildcards.seed),
                    meta["train_variant"], variant, len(y), acc, loss])
    pd.DataFrame(out, columns=ACCURACY_COLUMNS).to_csv(sm.output.table, sep="\t", index=False)
    pd.concat(predictions, ignore_index=True).to_parquet(sm.output.predictions, index=False)


run_job(snakemake, main)  # noqa: F821
