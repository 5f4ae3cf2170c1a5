"""Activations of configured layers for the initial, naive and expert models on a blurred image."""

import json

import pandas as pd
import torch

from blurfocus import activations, data, figures, ingest, models
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    rows = ingest.load_split(pd.read_parquet(sm.input.manifest), "test")
    classes = rows.drop_duplicates("label").sort_values("label")["class_name"].tolist()
    first = figures.pick_examples(rows, 1).iloc[0]
    image = data.open_images(sm.input.images)[int(first["split_index"])]
    x = data.to_unit_float(data.to_tensor_nchw(image[None]))
    torch.manual_seed(p.seed)  # the initialization the fine-tuning started from
    initial, _ = models.build_model(p.arch, p.weights, len(classes))
    nets = {("pretrained" if p.weights != "none" else "initial"): initial}
    for path in sm.input.models:
        model, meta = models.load_checkpoint(path)
        nets[f"{meta['role']}-s{meta['seed']}"] = model
    layers = json.loads(p.layers) or models.default_layers(p.arch, initial.net)
    acts = {}
    for name, net in nets.items():
        for layer, a in activations.layer_activations(net, x, layers).items():
            acts[(name, layer)] = a
    figures.activation_figure(acts, list(nets), layers, image, p.channels, sm.output[0], p.dpi)
    log(f"activations of {', '.join(layers)} for {', '.join(nets)} on {p.variant} image {first['image_id']}")


run_job(snakemake, main)  # noqa: F821
