"""The original study's t-tests on the focus distances."""

import json

import pandas as pd

from blurfocus import stats
from blurfocus.runtime import run_job


def main(sm, log):
    distances = pd.read_parquet(sm.input[0])
    table = stats.study_ttests(distances, json.loads(sm.params.test_blurs), sm.params.adjust)
    table.to_csv(sm.output[0], sep="\t", index=False, float_format="%.6g")
    log(f"{len(table)} tests, p adjusted with {sm.params.adjust}")


run_job(snakemake, main)  # noqa: F821
