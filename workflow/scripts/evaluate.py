"""Accuracy and loss of one model on the clear and every blurred test split."""

import json

import pandas as pd
import torch

from blurfocus import data, ingest, models, train
from blurfocus.evaluate import ACCURACY_COLUMNS
from blurfocus.runtime import run_job


def main(sm, log):
    device = models.resolve_device(sm.params.device)
    model, meta = models.load_checkpoint(sm.input.model, device)
    rows = ingest.load_split(sm.input.manifest, "test")
    y = torch.as_tensor(rows["label"].to_numpy(), dtype=torch.long)
    out = []
    for variant, path in zip(json.loads(sm.params.variants), sm.input.arrays):
        x = data.to_tensor_nchw(data.open_images(path))
        acc, loss, _ = train.evaluate(model, x, y, 256, device)
        log(f"{sm.wildcards.role}-s{sm.wildcards.seed} on {variant}: accuracy {acc:.4f}, loss {loss:.4f} (n={len(y)})")
        out.append([f"{sm.wildcards.role}-s{sm.wildcards.seed}", sm.wildcards.role, int(sm.wildcards.seed),
                    meta["train_variant"], variant, len(y), acc, loss])
    pd.DataFrame(out, columns=ACCURACY_COLUMNS).to_csv(sm.output[0], sep="\t", index=False)


run_job(snakemake, main)  # noqa: F821
