rule report:
    input:
        unpack(get_sanity_outputs),
        summary="results/data/ingest.json",
        rejected="results/data/rejected.tsv",
        contact_sheet="results/figures/contact_sheet.png",
        accuracy="results/eval/accuracy.tsv",
        heatmap="results/figures/accuracy.png",
        curves="results/figures/training_curves.png",
        metrics=expand("results/models/{model}/metrics.json", model=models_all()),
        focus=expand("results/figures/focus/{variant}.png", variant=TEST_BLURS),
        activations="results/figures/activations.png",
        ttests="results/stats/ttests.tsv",
        distances="results/stats/distances.parquet",
        pvalues="results/figures/pvalues.png",
        distance_figure="results/figures/distances.png",
        tests="results/stats/tests.tsv",
        claims="results/stats/claims.tsv",
        known="results/stats/known_answer.tsv",
        known_figure="results/figures/known_answer.png",
        null_figure="results/figures/nulls.png",
        spread_figure="results/figures/spread.png",
        pairs="results/stats/pair_metrics.parquet",
    output:
        html=report(
            "results/report.html",
            caption="../workflow/report/report.rst",
            category="Report",
        ),
        provenance="results/provenance.json",
    log:
        "results/logs/report.log",
    conda:
        "../envs/analysis.yaml"
    params:
        config=as_json(config),
        variants=as_json(TEST_BLURS),
        code=code_version("report", "sanity"),
    script:
        "../workflow/scripts/report.py"
