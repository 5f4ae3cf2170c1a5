"""Assemble results/report.html from the tables and figures."""

import json
from pathlib import Path

import pandas as pd

from blurfocus import focus, report, runtime
from blurfocus.runtime import run_job


def main(sm, log):
    config = json.loads(sm.params.config)
    i = sm.input
    variants = json.loads(sm.params.variants)
    metrics = [json.loads(Path(m).read_text()) for m in i.metrics]
    device = ", ".join(sorted({m["device"] for m in metrics}))
    seeds = {
        "dataset": config["dataset"]["seed"], "synthetic": config["dataset"]["synthetic"]["seed"],
        "blur": config["blur"]["seed"], "init": config["training"]["init_seed"],
        "training": config["training"]["seeds"], "design": config["training"]["design"],
        "saliency": config["saliency"]["seed"],
        "saliency_draws": config["saliency"]["draws"], "stats": config["stats"]["seed"],
    }
    prov = runtime.provenance(seeds, device=device, training_versions=metrics[0]["versions"], config=config)
    distances = pd.read_parquet(i.distances)
    study = [(c.name, (c.a.model, c.a.variant, c.a.draw), (c.b.model, c.b.variant, c.b.draw))
             for c in focus.study_comparisons(variants, config["training"]["seeds"][0])]
    examples = report.telling_examples(distances, study)
    summary = json.loads(Path(i.summary).read_text())
    claims = pd.read_csv(i.claims, sep="\t")
    sections = [
        report.config_section(config),
        report.data_section(summary, pd.read_csv(i.rejected, sep="\t"), i.contact_sheet),
        report.accuracy_section(pd.read_csv(i.accuracy, sep="\t"), i.heatmap, i.curves),
        report.focus_section(dict(zip(variants, i.focus)), i.activations, config["saliency"]["topk"],
                             config["figures"]["clip_percentile"]),
        report.explorer_section(Path(i.explorer).read_text(), examples),
        report.ttest_section(pd.read_csv(i.ttests, sep="\t"), distances,
                             config["stats"]["alpha"], i.pvalues, i.distance_figure),
        report.claims_section(claims,
                              pd.read_csv(i.tests, sep="\t", dtype={"rank": str, "null": str}),
                              config["stats"]["alpha"], i.null_figure, examples, i.claims_figure),
        report.grid_section(pd.read_csv(i.grid_accuracy, sep="\t"), pd.read_csv(i.grid_shift, sep="\t"),
                            pd.read_csv(i.grid_between, sep="\t"), claims, i.grid_figure,
                            i.dose_response if "dose_response" in i.keys() else None,
                            report.variants_table(config["blur"]["variants"], config["dataset"]["image_size"],
                                                  config["blur"]["scale"]),
                            chance=1.0 / len(summary["classes"])),
        report.known_answer_section(pd.read_csv(i.known, sep="\t"), i.known_figure),
        report.metrics_section(pd.read_parquet(i.pairs), i.spread_figure),
    ]
    if "sanity" in i.keys():
        sections.append(report.sanity_section(pd.read_csv(i.sanity_verdict, sep="\t"), i.sanity_figure))
    sections = [s for s in sections if s is not None]
    html = report.render(config["report"]["title"], sections, report.provenance_footer(prov["versions"], device, seeds))
    Path(sm.output.html).write_text(html)
    Path(sm.output.provenance).write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n")
    log(f"report written ({len(html) // 1024} KiB)")


run_job(snakemake, main)  # noqa: F821
