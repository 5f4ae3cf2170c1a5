"""Ingest: decode and check every image once, split, write manifest, rejected list, arrays."""

import json
from pathlib import Path

from blurfocus import ingest
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    path = Path(p.path)
    if p.source == "oxford_pets":
        ingest.download_oxford(path, log_fn=log)
    elif p.url and not path.exists():
        ingest.fetch_archive(p.url, path, log_fn=log)
    result = ingest.ingest(
        p.source,
        path,
        Path(sm.output.manifest).parent / "clear",
        classes=json.loads(p.classes),
        split=json.loads(p.split),
        seed=p.seed,
        image_size=p.image_size,
        min_size=p.min_size,
        limit_per_class=p.limit_per_class,
        threads=sm.threads,
        log_fn=log,
    )
    ingest.write_outputs(result, sm.output.manifest, sm.output.rejected, sm.output.summary,
                         seeds={"dataset.seed": p.seed})
    s = result.summary
    log(f"used {s['used']} of {s['found']} files; rejected {s['rejected']} {s['rejected_by_reason']}; "
        f"converted to RGB {s['converted_to_rgb']}; duplicates {s['duplicates']}")


run_job(snakemake, main)  # noqa: F821
