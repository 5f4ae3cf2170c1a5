"""The sanity checks' figure (results/figures/sanity.png) from the sanity_check job's tables and
example maps; a figure option reruns this job only."""

import numpy as np
import pandas as pd

from blurfocus import figures, sanity
from blurfocus.runtime import run_job


def main(sm, log):
    p, i = sm.params, sm.input
    summary = sanity.summarize(pd.read_csv(i.table, sep="\t"))
    data = pd.read_csv(i.data, sep="\t")
    data_summary = sanity.summarize(data) if len(data) else None
    verdicts = pd.read_csv(i.verdict, sep="\t")
    trained = verdicts[verdicts["test"] == sanity.DATA_TEST]
    if data_summary is not None and "train_accuracy" in trained:
        data_summary = data_summary.assign(train_accuracy=float(trained["train_accuracy"].iloc[0]))
    with np.load(i.examples) as npz:
        examples = {k: npz[k] for k in npz.files}
    thresholds = sanity.Thresholds(p.red_flag_spearman, p.red_flag_ssim)
    figures.sanity_figure(summary, data_summary, examples, thresholds, sm.output[0], percentile=p.percentile, dpi=p.dpi)
    log(f"sanity figure: {len(summary)} cascade steps, {len(examples)} example maps")


run_job(snakemake, main)  # noqa: F821
