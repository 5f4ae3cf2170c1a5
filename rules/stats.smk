rule distances:
    input:
        saliency_shards(models=primary_models()),
    output:
        "results/stats/distances.parquet",
    params:
        test_blurs=as_json(TEST_BLURS),
        seed=PRIMARY_SEED,
        code=code_version("focus", "saliency"),
    log:
        "results/logs/stats/distances.log",
    conda:
        "../envs/analysis.yaml"
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
    params:
        test_blurs=as_json(TEST_BLURS),
        adjust=config["stats"]["adjust"],
        code=code_version("stats"),
    log:
        "results/logs/stats/ttests.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/ttests.py"
