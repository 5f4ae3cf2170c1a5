"""Ingest: decode and check every image once, split, write manifest, rejected list, arrays."""

import json
from pathlib import Path

from blurfocus import ingest
from blurfocus.runtime import run_job


def main(sm, log):
    d = json.loads(sm.params.dataset)  # common.smk's get_ingest_params
    path = Path(d["path"])
    if d["source"] == "oxford_pets":
        ingest.download_oxford(path, log_fn=log)
    elif d["url"] and not path.exists():
        ingest.fetch_archive(d["url"], path, log_fn=log)
    result = ingest.ingest(
        d["source"],
        path,
        Path(sm.output.manifest).parent / "clear",
        classes=d["classes"],
        split=d["split"],
        seed=d["seed"],
        image_size=d["image_size"],
        min_size=d["min_size"],
        limit_per_class=d["limit_per_class"],
        threads=sm.threads,
        log_fn=log,
    )
    ingest.write_outputs(result, sm.output.manifest, sm.output.rejected, sm.output.summary,
                         seeds={"dataset.seed": d["seed"]})
    s = result.summary
    log(f"used {s['used']} of {s['found']} files; rejected {s['rejected']} {s['rejected_by_reason']}; "
        f"converted to RGB {s['converted_to_rgb']}; duplicates {s['duplicates']}")


run_job(snakemake, main)  # noqa: F821
