"""The grid figure (arm x test variant: accuracy, focus shift) and the dose-response figure."""

import pandas as pd

from blurfocus import figures, grid
from blurfocus.runtime import run_job


def main(sm, log):
    design = grid.GridDesign.from_json(sm.params.design)
    accuracy = pd.read_csv(sm.input.accuracy, sep="\t")
    shift = pd.read_csv(sm.input.shift, sep="\t")
    figures.grid_figure(accuracy, shift, sm.output.figure, dpi=sm.params.dpi)
    log(f"grid figure: {accuracy['arm'].nunique()} arms x {accuracy['test_variant'].nunique()} test variants")
    if "dose_response" in sm.output.keys():
        figures.dose_response_figure(accuracy, shift, design.sweeps, sm.output.dose_response, dpi=sm.params.dpi)
        log(f"dose-response figure: {len(design.sweeps)} sweep(s)")


run_job(snakemake, main)  # noqa: F821
