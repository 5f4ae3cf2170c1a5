rule distances:
    input:
        saliency_shards(),
    output:
        "results/stats/distances.parquet",
    log:
        "results/logs/stats/distances.log",
    conda:
        "../envs/analysis.yaml"
    params:
        test_blurs=as_json(TEST_BLURS),
        seeds=as_json(SEEDS),
        draws=SAL["draws"],
        code=code_version("distances.py"),
    script:
        "../workflow/scripts/distances.py"


rule ttests:
    input:
        "results/stats/distances.parquet",
    output:
        report(
            "results/stats/ttests.tsv",
            caption="../workflow/report/ttests.rst",
            category="Tests",
        ),
    log:
        "results/logs/stats/ttests.log",
    conda:
        "../envs/analysis.yaml"
    params:
        test_blurs=as_json(TEST_BLURS),
        adjust=config["stats"]["adjust"],
        code=code_version("ttests.py"),
    script:
        "../workflow/scripts/ttests.py"


rule null_tests:
    input:
        distances="results/stats/distances.parquet",
        ttests="results/stats/ttests.tsv",
        shards=saliency_shards(),
        maps="results/stats/map_metrics.parquet",
        grid="results/grid/tests.tsv",
    output:
        tests=report(
            "results/stats/tests.tsv",
            caption="../workflow/report/tests.rst",
            category="Tests",
        ),
        values="results/stats/model_values.tsv",
    log:
        "results/logs/stats/null_tests.log",
    benchmark:
        "results/benchmarks/null_tests.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        test_blurs=as_json(TEST_BLURS),
        replicates=REPLICATES,
        stats=get_stats_params("adjust", "bootstrap", "resamples", "seed"),
        code=code_version("null_tests.py"),
    script:
        "../workflow/scripts/null_tests.py"


rule focus_metrics:
    input:
        unpack(get_focus_metrics_input),
    output:
        maps="results/stats/map_metrics.parquet",
        pairs="results/stats/pair_metrics.parquet",
    log:
        "results/logs/stats/focus_metrics.log",
    benchmark:
        "results/benchmarks/focus_metrics.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        test_blurs=as_json(TEST_BLURS),
        seeds=as_json(SEEDS),
        draws=SAL["draws"],
        sets=as_json(saliency_sets()),
        code=code_version("focus_metrics.py"),
    script:
        "../workflow/scripts/focus_metrics.py"


rule claims:
    input:
        unpack(get_claims_input),
    output:
        claims=report(
            "results/stats/claims.tsv",
            caption="../workflow/report/claims.rst",
            category="Tests",
        ),
        known="results/stats/known_answer.tsv",
        null_figure=report(
            "results/figures/nulls.png",
            caption="../workflow/report/nulls.rst",
            category="Tests",
        ),
        known_figure=report(
            "results/figures/known_answer.png",
            caption="../workflow/report/known_answer.rst",
            category="Saliency",
            subcategory="Known answer",
        ),
        spread_figure=report(
            "results/figures/spread.png",
            caption="../workflow/report/spread.rst",
            category="Saliency",
            subcategory="Focus metrics",
        ),
    log:
        "results/logs/stats/claims.log",
    conda:
        "../envs/analysis.yaml"
    params:
        test_blurs=as_json(TEST_BLURS),
        seed=PRIMARY_SEED,
        stats=get_stats_params("adjust", "alpha", "resamples", "seed"),
        synthetic=DATASET["source"] == "synthetic",
        grid=GRID.to_json(),
        dpi=config["figures"]["dpi"],
        code=code_version("claims.py"),
    script:
        "../workflow/scripts/claims.py"
