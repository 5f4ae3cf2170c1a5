"""Fine-tune one model (naive on clear, expert on blurred training images)."""

import json
import time
from pathlib import Path

import hashlib

import numpy as np
import pandas as pd
import torch

from blurfocus import data, figures, ingest, models, runtime, train
from blurfocus.runtime import run_job
from blurfocus.train_settings import TrainSettings


def file_digest(path):
    arr = np.load(path, mmap_mode="r")
    h = hashlib.blake2b(digest_size=16)
    for start in range(0, len(arr), 4096):
        h.update(np.ascontiguousarray(arr[start : start + 4096]).tobytes())
    return h.hexdigest()


def main(sm, log):
    p, wc = sm.params, sm.wildcards
    spec = json.loads(p.model)  # arch, weights, trainable
    arch, weights = spec["arch"], spec["weights"]
    settings = TrainSettings.from_json(p.training)  # seed: this model's stream seed
    device = models.resolve_device(p.device)
    manifest = pd.read_parquet(sm.input.manifest)
    classes = manifest.drop_duplicates("label").sort_values("label")["class_name"].tolist()
    tr, va = ingest.load_split(manifest, "train"), ingest.load_split(manifest, "val")
    train_x = data.to_tensor_nchw(data.open_images(sm.input.train))
    val_x = data.to_tensor_nchw(data.open_images(sm.input.val))
    if len(train_x) != len(tr) or len(val_x) != len(va):
        raise RuntimeError("image arrays and manifest disagree; rerun ingest")
    train_y = torch.as_tensor(tr["label"].to_numpy(), dtype=torch.long)
    val_y = torch.as_tensor(va["label"].to_numpy(), dtype=torch.long)
    seed = int(wc.seed)
    role = p.get("role") or wc.role  # rule train_shuffled (literal path) names its role in a param
    if p.get("permute_labels"):  # Adebayo et al.'s data randomization: same images, permuted labels
        train_y = train.permute_labels(train_y, seed)
        log(f"training labels permuted (seed {seed}); class counts kept: {torch.bincount(train_y).tolist()}")
    torch.manual_seed(p.init_seed)  # this model's initialization (seeding.training_seeds)
    model, pre = models.build_model(arch, weights, len(classes))
    trainable = models.set_trainable(model, spec["trainable"], pre["head"])
    n_params = sum(q.numel() for n, q in model.net.named_parameters() if n in set(trainable))
    log(f"{role}-s{seed}: {arch} (weights {weights}, init seed {p.init_seed}, stream seed {settings.seed}) on {p.train_variant} images, "
        f"{len(train_x)} train / {len(val_x)} val, {n_params} trainable parameters, device {device}")
    key = settings.key({"arch": arch, "weights": weights, "trainable": spec["trainable"], "init_seed": p.init_seed,
                        "train": file_digest(sm.input.train), "val": file_digest(sm.input.val),
                        "device": device.type, "code": p.code})
    resume = Path(sm.output.model).with_name("resume.pt")
    t0 = time.perf_counter()
    result = train.fine_tune(model, train_x, train_y, val_x, val_y, settings, device,
                             resume_path=resume, resume_key=key, log_fn=log)
    seconds = time.perf_counter() - t0
    meta = {
        "arch": arch, "weights": weights, "classes": classes,
        "input_size": int(train_x.shape[-1]), "mean": pre["mean"], "std": pre["std"],
        "role": role, "seed": seed, "init_seed": p.init_seed, "stream_seed": settings.seed, "train_variant": p.train_variant,
        "kept": settings.keep, "epoch": result.kept_epoch, "val_accuracy": result.val_accuracy,
        "versions": runtime.versions(), "device": runtime.device_description(device),
    }
    models.save_checkpoint(sm.output.model, model, meta)
    metrics = {**meta, "model": f"{role}-s{seed}", "best_epoch": result.best_epoch,
               "trainable_parameters": n_params, "settings": settings.__dict__,
               "history": result.history, "train_seconds": seconds}
    Path(sm.output.metrics).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    figures.training_curves({f"{role}-s{seed}": result.history}, sm.output.curve)
    train.clear_resume(resume)
    log(f"kept epoch {result.kept_epoch} ({settings.keep}), validation accuracy {result.val_accuracy:.4f}")


run_job(snakemake, main)  # noqa: F821
