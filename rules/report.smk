# what the explorer reads; the cue masks on synthetic data
EXPLORER_INPUT = {
    "manifest": "results/data/manifest.parquet",
    "shards": saliency_shards(),
    "arrays": get_test_arrays(),
    "distances": "results/stats/distances.parquet",
}
if DATASET["source"] == "synthetic":
    EXPLORER_INPUT["masks"] = "results/data/synthetic/masks.npz"
EXPLORER = config["report"]["explorer"]


rule explorer:
    input:
        **EXPLORER_INPUT,
    output:
        "results/explorer/explorer.json",
    log:
        "results/logs/report/explorer.log",
    benchmark:
        "results/benchmarks/explorer.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        variants=as_json(TEST_VARIANTS),
        seeds=as_json(SEEDS),
        topk=SAL["topk"],
        explorer=as_json(EXPLORER),
        code=code_version("explorer.py"),
    script:
        "../workflow/scripts/explorer.py"


rule report:
    input:
        unpack(get_sanity_outputs),
        **({"dose_response": GRID_FILES["dose_response"]} if GRID.sweeps else {}),
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
        explorer="results/explorer/explorer.json",
        claims_figure="results/figures/claims.png",
        grid_accuracy=GRID_FILES["accuracy"],
        grid_shift=GRID_FILES["shift"],
        grid_between=GRID_FILES["between"],
        grid_figure=GRID_FILES["figure"],
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
        code=code_version("report.py"),  # also hashes blurfocus/assets (report.ASSETS)
    script:
        "../workflow/scripts/report.py"
