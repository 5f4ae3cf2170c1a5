"""Cascading model-parameter randomization of the saliency maps (Adebayo et al., 2018)."""

import pandas as pd

from blurfocus import data, figures, ingest, models, sanity
from blurfocus import smoothgrad as saliency
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    device = models.resolve_device(p.device)
    model, meta = models.load_checkpoint(sm.input.model, device)
    saliency.freeze(model)
    rows = ingest.load_split(pd.read_parquet(sm.input.manifest), "test")
    pick = figures.pick_examples(rows, -(-p.images // rows["label"].nunique())).head(p.images)
    x = data.to_unit_float(data.to_tensor_nchw(data.open_images(sm.input.images)[pick["split_index"].to_numpy()]))
    settings = saliency.SmoothGradSettings(
        n_samples=p.n_samples, sigma=p.sigma, sigma_range=p.sigma_range, target=p.target,
        mode=p.mode, reduce=p.reduce, seed=p.seed, batch_size=p.batch_size,
    )
    ids, labels = pick["image_id"].tolist(), pick["label"].tolist()

    def maps_fn(net):
        saliency.freeze(net)
        return saliency.saliency_maps(net, x, ids, labels, settings, device=device)["map"].numpy()

    layers = sanity.cascade_layers(model.net)
    log(f"randomizing {meta['role']}-s{meta['seed']} ({meta['arch']}) from the top down in {len(layers)} steps: "
        f"{', '.join(sanity.step_name(g) for g in layers)}; {len(ids)} images")
    table, maps = sanity.cascading_randomization(model, maps_fn, layers, seed=p.seed, log_fn=log)
    table.insert(2, "image_id", [ids[i] for i in table["image"]])
    table.to_csv(sm.output.table, sep="\t", index=False, float_format="%.6g")
    summary = sanity.summarize(table)
    flag, sentence = sanity.verdict(summary, p.threshold)
    log(sentence)
    figures.sanity_figure(summary, {k: v[0] for k, v in maps.items()}, sm.output.figure, dpi=p.dpi)


run_job(snakemake, main)  # noqa: F821
