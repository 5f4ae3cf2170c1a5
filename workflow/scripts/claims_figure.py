"""The p-values per claim (results/stats/claims.tsv) in one figure."""

import pandas as pd

from blurfocus import figures
from blurfocus.runtime import run_job


def main(sm, log):
    claims = pd.read_csv(sm.input[0], sep="\t")
    figures.claims_figure(claims, sm.output[0], sm.params.alpha, sm.params.dpi)
    log(f"{len(claims)} claims drawn")


run_job(snakemake, main)  # noqa: F821
