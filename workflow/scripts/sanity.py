"""Sanity checks of the saliency maps (Adebayo et al., 2018): cascading model-parameter
randomization of the naive and expert models on clear and blurred test images, and data
randomization (the permuted-label model vs the naive model)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from blurfocus import data, figures, ingest, models, sanity
from blurfocus import smoothgrad as saliency
from blurfocus.runtime import run_job

DATA_COLUMNS = ["model", "reference", "variant", "image", "image_id", "label", "pred", "spearman", "ssim"]


def smoothgrad_settings(p) -> saliency.SmoothGradSettings:
    """The pipeline's SmoothGrad settings (one JSON param, built and checked in the library)."""
    return saliency.SmoothGradSettings.from_json(p.settings)


def main(sm, log):
    p, i = sm.params, sm.input
    device = models.resolve_device(p.device)
    variants = json.loads(p.variants)
    thresholds = sanity.Thresholds(p.red_flag_spearman, p.red_flag_ssim)
    rows = ingest.load_split(pd.read_parquet(i.manifest), "test")
    pick = figures.pick_examples(rows, -(-p.images // rows["label"].nunique())).head(p.images)
    index = pick["split_index"].to_numpy()
    images = {v: data.to_unit_float(data.to_tensor_nchw(data.open_images(path)[index]))
              for v, path in zip(variants, i.images)}
    ids, labels = pick["image_id"].tolist(), pick["label"].tolist()
    settings = smoothgrad_settings(p)
    noise_sigma = saliency.sigma_abs(images["clear"], settings)  # every map of an image: the clear image's sigma

    def maps_of(net, variant):
        """SmoothGrad of the picked images of ``variant``: dict of map (N, H, W), pred, ... (same
        noise for every model and step)."""
        saliency.freeze(net)
        return saliency.saliency_maps(net, images[variant], ids, labels, settings, device=device,
                                      noise_sigma=noise_sigma)

    cascades, trained, examples = [], {}, {}
    for path in i.models:
        model, meta = models.load_checkpoint(path, device)
        name = f"{meta['role']}-s{meta['seed']}"
        layers = sanity.cascade_layers(model.net)
        for v in variants:
            log(f"randomizing {name} ({meta['arch']}) on {v} images from the top down in {len(layers)} steps: "
                f"{', '.join(sanity.step_name(g) for g in layers)}; {len(ids)} images")
            table, maps = sanity.cascading_randomization(
                model, lambda net, v=v: maps_of(net, v)["map"].numpy(), layers, seed=settings.seed, log_fn=log)
            cascades.append(table.assign(model=name, variant=v, image_id=[ids[k] for k in table["image"]]))
            trained[meta["role"], v] = (name, maps["trained"])
            if not examples:
                examples = {f"{name} {v}: {k}": m[0] for k, m in maps.items()}
    table = pd.concat(cascades, ignore_index=True)
    table = table[["model", "variant", "step", "layer", "image", "image_id", "spearman", "ssim"]]
    table.to_csv(sm.output.table, sep="\t", index=False, float_format="%.6g")
    summary = sanity.summarize(table)

    data_table = pd.DataFrame(columns=DATA_COLUMNS)  # header only when data randomization is off
    data_summary = None
    if "shuffled" in i.keys():
        model, meta = models.load_checkpoint(i.shuffled, device)
        name = f"{meta['role']}-s{meta['seed']}"
        metrics = json.loads(Path(i.shuffled_metrics).read_text())
        kept = next(h for h in metrics["history"] if h["epoch"] == metrics["epoch"])
        log(f"data randomization: {name} (labels permuted; kept epoch {metrics['epoch']}: training accuracy on "
            f"the permuted labels {kept['train_accuracy']:.3f}, validation accuracy on the true labels "
            f"{kept['val_accuracy']:.3f})")
        parts = []
        for v in variants:
            reference, ref_maps = trained["naive", v]
            out = maps_of(model, v)
            part = sanity.compare_maps(ref_maps, out["map"].numpy())
            part = part.assign(model=name, reference=reference, variant=v, image_id=ids, label=labels,
                               pred=out["pred"].numpy())
            parts.append(part)
            log(f"{name} vs {reference} on {v}: mean Spearman {part['spearman'].mean():.3f}, "
                f"mean SSIM {part['ssim'].mean():.3f}")
            if v == variants[0]:
                examples[f"{name} {v}"] = out["map"].numpy()[0]
        data_table = pd.concat(parts, ignore_index=True)
        data_table = data_table[DATA_COLUMNS]
        data_summary = sanity.summarize(data_table)
        acc = data_table.assign(ok=data_table["pred"] == data_table["label"]).groupby("variant", sort=False)["ok"]
        data_summary = data_summary.assign(
            train_accuracy=kept["train_accuracy"], val_accuracy=kept["val_accuracy"],
            kept_epoch=metrics["epoch"], accuracy_mapped=data_summary["variant"].map(acc.mean()))
    data_table.to_csv(sm.output.data, sep="\t", index=False, float_format="%.6g")

    verdicts = sanity.verdict_table(summary, data_summary, thresholds)
    verdicts.to_csv(sm.output.verdict, sep="\t", index=False, float_format="%.6g")
    for sentence in verdicts["sentence"]:
        log(sentence)
    np.savez_compressed(sm.output.examples, **examples)  # drawn by the sanity_figure rule


run_job(snakemake, main)  # noqa: F821
