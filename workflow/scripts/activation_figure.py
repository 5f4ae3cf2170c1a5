"""Activations of configured layers for the models' starting point and the primary naive and
expert models on a blurred image."""

import json

import pandas as pd

from blurfocus import activations, data, figures, ids, ingest, models
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    rows = ingest.load_split(pd.read_parquet(sm.input.manifest), "test")
    first = figures.pick_examples(rows, 1).iloc[0]
    image = data.open_images(sm.input.images)[int(first["split_index"])]
    x = data.to_unit_float(data.to_tensor_nchw(image[None]))
    loaded = [models.load_checkpoint(path) for path in sm.input.models]
    # the naive model's starting point (pretrained features are the same for every model's start)
    start = next((meta for _, meta in loaded if meta["role"] == ids.NAIVE), loaded[0][1])
    initial = models.initial_model(start)
    start_name = "pretrained" if start["weights"] != "none" else "initial"
    nets = {start_name: initial}
    for model, meta in loaded:
        nets[f"{meta['role']}-s{meta['seed']}"] = model
    layers = json.loads(p.layers) or models.default_layers(start["arch"], initial.net)
    acts = {}
    for name, net in nets.items():
        for layer, a in activations.layer_activations(net, x, layers).items():
            acts[(name, layer)] = a
    figures.activation_figure(acts, list(nets), layers, image, p.channels, sm.output[0], p.dpi)
    log(f"{start_name}: where {start['role']}-s{start['seed']}'s fine-tuning started ({start['arch']}, "
        f"weights {start['weights']}, init seed {start['init_seed']})")
    log(f"activations of {', '.join(layers)} for {', '.join(nets)} on {p.variant} image {first['image_id']}")


run_job(snakemake, main)  # noqa: F821
