# The arms x test-variants grid (blurfocus.grid): accuracy, focus shift and between-arm tables at
# the model level, the dose-response / specificity / control tests (merged into tests.tsv by
# null_tests), the grid figure, and the dose-response figure when the config has a strength sweep.


rule grid:
    input:
        shards=saliency_shards(),
        maps="results/stats/map_metrics.parquet",
        predictions=expand(
            "results/eval/{model}.predictions.parquet", model=models_all()
        ),
    output:
        **get_grid_outputs("tables"),
    log:
        "results/logs/stats/grid.log",
    benchmark:
        "results/benchmarks/grid.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        design=GRID.to_json(),
        replicates=REPLICATES,
        stats=get_stats_params("adjust", "bootstrap", "seed"),
        code=code_version("grid_tables.py"),
    script:
        "../workflow/scripts/grid_tables.py"


rule grid_figures:
    input:
        accuracy=GRID_FILES["accuracy"],
        shift=GRID_FILES["shift"],
    output:
        **get_grid_outputs("figures"),
    log:
        "results/logs/figures/grid.log",
    conda:
        "../envs/analysis.yaml"
    params:
        design=GRID.to_json(),
        dpi=config["figures"]["dpi"],
        code=code_version("grid_figures.py"),
    script:
        "../workflow/scripts/grid_figures.py"
