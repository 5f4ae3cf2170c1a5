"""The accuracy matrix (models x test variants), its heatmap and all training curves."""

import json

import pandas as pd

from blurfocus import evaluate, figures
from blurfocus.runtime import run_job


def main(sm, log):
    table = evaluate.accuracy_matrix(pd.read_csv(t, sep="\t") for t in sm.input.tables)
    table.to_csv(sm.output.table, sep="\t", index=False, float_format="%.6g")
    log("\n" + table.to_string(index=False))
    figures.accuracy_heatmap(table, sm.output.heatmap, dpi=sm.params.dpi)
    histories = {}
    for path in sm.input.metrics:
        m = json.loads(open(path).read())
        histories[m["model"]] = m["history"]
    figures.training_curves(histories, sm.output.curves, dpi=sm.params.dpi)


run_job(snakemake, main)  # noqa: F821
