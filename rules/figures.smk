rule focus_figure:
    input:
        manifest="results/data/manifest.parquet",
        shards=lambda wc: saliency_shards(
            models=primary_models(), variants=["clear", wc.variant]
        ),
        clear_images="results/data/clear/test.npy",
        blurred_images="results/blur/{variant}/test.npy",
    output:
        report(
            "results/figures/focus/{variant}.png",
            caption="../workflow/report/focus.rst",
            category="Saliency",
            subcategory="Focus (Figure 3)",
        ),
    log:
        "results/logs/figures/focus/{variant}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        per_class=config["figures"]["images_per_class"],
        percentile=config["figures"]["clip_percentile"],
        limit_per_class=SAL["limit_per_class"],
        models=as_json(primary_models()),
        dpi=config["figures"]["dpi"],
        code=code_version("focus_figure.py"),
    script:
        "../workflow/scripts/focus_figure.py"


rule activation_figure:
    input:
        manifest="results/data/manifest.parquet",
        models=expand("results/models/{model}/model.pt", model=primary_models()),
        images=variant_array(TRAIN_BLUR, "test"),
    output:
        report(
            "results/figures/activations.png",
            caption="../workflow/report/activations.rst",
            category="Saliency",
            subcategory="Activations",
        ),
    log:
        "results/logs/figures/activations.log",
    conda:
        "../envs/torch.yaml"
    params:
        layers=as_json(config["figures"]["layers"]),
        channels=config["figures"]["channels"],
        variant=TRAIN_BLUR,
        dpi=config["figures"]["dpi"],
        code=code_version("activation_figure.py"),
    script:
        "../workflow/scripts/activation_figure.py"


rule test_figures:
    input:
        ttests="results/stats/ttests.tsv",
        distances="results/stats/distances.parquet",
    output:
        pvalues=report(
            "results/figures/pvalues.png",
            caption="../workflow/report/pvalues.rst",
            category="Tests",
        ),
        distances=report(
            "results/figures/distances.png",
            caption="../workflow/report/distances.rst",
            category="Tests",
        ),
    log:
        "results/logs/figures/test_figures.log",
    conda:
        "../envs/analysis.yaml"
    params:
        alpha=config["stats"]["alpha"],
        dpi=config["figures"]["dpi"],
        code=code_version("test_figures.py"),
    script:
        "../workflow/scripts/test_figures.py"


rule claims_figure:
    input:
        "results/stats/claims.tsv",
    output:
        report(
            "results/figures/claims.png",
            caption="../workflow/report/claims_figure.rst",
            category="Tests",
        ),
    log:
        "results/logs/figures/claims_figure.log",
    conda:
        "../envs/analysis.yaml"
    params:
        alpha=config["stats"]["alpha"],
        dpi=config["figures"]["dpi"],
        code=code_version("claims_figure.py"),
    script:
        "../workflow/scripts/claims_figure.py"
