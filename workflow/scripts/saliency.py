"""SmoothGrad maps of one shard of test images for one (model, variant), every draw, streamed to
Parquet (one row group per batch of images). The noise σ of every map comes from the clear version
of its image, so all maps of one image carry equal noise."""

import pandas as pd

from blurfocus import data, ingest, mapstore, models, runtime, selection, smoothgrad
from blurfocus.runtime import run_job
from blurfocus.smoothgrad_settings import SmoothGradSettings


def main(sm, log):
    p, wc = sm.params, sm.wildcards
    settings = SmoothGradSettings.from_json(p.settings)
    device = models.resolve_device(p.device)
    model, meta = models.load_checkpoint(sm.input.model, device)
    smoothgrad.prepare_model(model)  # BatchNorm folded into the convolutions, frozen, channels-last
    rows = selection.select_images(ingest.load_split(pd.read_parquet(sm.input.manifest), "test"), p.limit_per_class)
    rows = selection.shard_rows(rows, p.shards, int(wc.shard))
    images = data.open_images(sm.input.images)
    clear = data.open_images(sm.input.clear_images)
    if clear.shape != images.shape:
        raise RuntimeError(f"{sm.input.images} {images.shape} and {sm.input.clear_images} {clear.shape} differ in shape; "
                           "delete the blurred copies and rerun")
    model_name = f"{wc.role}-s{wc.seed}"
    group = selection.images_per_group(settings.batch_size, settings.n_samples)
    log(f"{model_name} on {wc.variant}, {p.draws} draw(s), shard {wc.shard}/{p.shards}: {len(rows)} images, "
        f"n={settings.n_samples}, sigma={settings.sigma} of the {settings.sigma_reference}, target={settings.target}, "
        f"mode={settings.mode}, device {device}")

    def batches():
        for draw in range(p.draws):
            for start in range(0, len(rows), group):
                chunk = rows.iloc[start : start + group]
                idx = chunk["split_index"].to_numpy()
                x = data.to_unit_float(data.to_tensor_nchw(images[idx]))
                sigma = smoothgrad.sigma_abs(data.to_unit_float(data.to_tensor_nchw(clear[idx])), settings)
                out = smoothgrad.saliency_maps(model, x, chunk["image_id"].tolist(), chunk["label"].tolist(), settings,
                                             draw=draw, stream=(model_name, wc.variant), device=device,
                                             noise_sigma=sigma)
                yield {**out, "image_id": chunk["image_id"].tolist(), "label": chunk["label"].to_numpy(),
                       "class_name": chunk["class_name"].tolist(), "model": model_name,
                       "variant": wc.variant, "draw": draw}

    n = mapstore.write_maps(
        sm.output[0], batches(), settings, p.topk,
        {"model": model_name, "variant": wc.variant, "draws": p.draws, "shard": int(wc.shard),
         "shards": p.shards, "checkpoint": sm.input.model, "arch": meta["arch"],
         "versions": runtime.versions(), "device": runtime.device_description(device)},
        log_fn=log,
    )
    log(f"{n} maps written to {sm.output[0]}")


run_job(snakemake, main)  # noqa: F821
