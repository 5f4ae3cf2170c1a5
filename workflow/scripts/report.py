"""Assemble results/report.html from the tables and figures."""

import json
from pathlib import Path

import pandas as pd

from blurfocus import report, runtime
from blurfocus.runtime import run_job


def main(sm, log):
    config = json.loads(sm.params.config)
    i = sm.input
    variants = json.loads(sm.params.variants)
    device = json.loads(Path(i.metrics[0]).read_text())["device"]
    sections = [
        report.config_section(config),
        report.data_section(json.loads(Path(i.summary).read_text()), pd.read_csv(i.rejected, sep="\t"), i.contact_sheet),
        report.accuracy_section(pd.read_csv(i.accuracy, sep="\t"), i.heatmap, i.curves),
        report.focus_section(dict(zip(variants, i.focus)), i.activations, config["saliency"]["topk"],
                             config["figures"]["clip_percentile"]),
        report.ttest_section(pd.read_csv(i.ttests, sep="\t"), pd.read_parquet(i.distances),
                             config["stats"]["alpha"], i.pvalues, i.distance_figure),
    ]
    html = report.render(config["report"]["title"], sections, report.provenance_footer(runtime.versions(), device))
    Path(sm.output[0]).write_text(html)
    log(f"report written ({len(html) // 1024} KiB)")


run_job(snakemake, main)  # noqa: F821
