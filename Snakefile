"""blurfocus: where does an image classifier look, and how does fine-tuning on blurred images
move its focus? Run `snakemake --cores 8 --resources gpu=1` (see README.md)."""

import os

from snakemake.utils import min_version

min_version("9.0")


# the embedded default; --configfile FILE and --config KEY=VALUE override it
configfile: os.path.join(workflow.basedir, "config.yaml")


include: "rules/common.smk"


wildcard_constraints:
    role="|".join(ROLES),
    seed=r"\d+",
    variant=r"[A-Za-z][A-Za-z0-9_]*",
    split="train|val|test",
    shard=r"\d+",
    draw=r"\d+",


include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/saliency.smk"
include: "rules/stats.smk"
include: "rules/grid.smk"
include: "rules/figures.smk"
include: "rules/sanity.smk"
include: "rules/report.smk"


localrules:
    all,
    accuracy_table,
    distances,
    ttests,
    test_figures,
    claims,
    claims_figure,
    grid_figures,
    sanity_figure,
    report,


rule all:
    default_target: True
    input:
        get_final_outputs(),
