"""Adjusted p-values per rank and distance distributions."""

import pandas as pd

from blurfocus import figures
from blurfocus.runtime import run_job


def main(sm, log):
    figures.pvalue_figure(pd.read_csv(sm.input.ttests, sep="\t"), sm.output.pvalues, sm.params.alpha, sm.params.dpi)
    figures.distance_figure(pd.read_parquet(sm.input.distances), sm.output.distances, sm.params.dpi)


run_job(snakemake, main)  # noqa: F821
