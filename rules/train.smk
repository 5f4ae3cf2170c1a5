rule train:
    input:
        unpack(get_train_arrays),
    output:
        model="results/models/{role}-s{seed}/model.pt",
        metrics="results/models/{role}-s{seed}/metrics.json",
        curve=report(
            "results/models/{role}-s{seed}/curve.png",
            caption="../workflow/report/curve.rst",
            category="Training",
            subcategory="{role}-s{seed}",
        ),
    log:
        "results/logs/train/{role}-s{seed}.log",
    benchmark:
        "results/benchmarks/train/{role}-s{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        model=MODEL,
        train_variant=lambda wc: train_variant(wc.role),
        training=lambda wc: get_train_params(wc),
        init_seed=lambda wc: get_training_seeds(wc)[0],
        device=config["device"],
        code=code_version("train.py"),
    script:
        "../workflow/scripts/train.py"


rule evaluate:
    input:
        model="results/models/{role}-s{seed}/model.pt",
        manifest="results/data/manifest.parquet",
        arrays=get_test_arrays,
    output:
        table="results/eval/{role}-s{seed}.tsv",
        predictions="results/eval/{role}-s{seed}.predictions.parquet",
    log:
        "results/logs/eval/{role}-s{seed}.log",
    benchmark:
        "results/benchmarks/eval/{role}-s{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        variants=as_json(TEST_VARIANTS),
        device=config["device"],
        code=code_version("evaluate.py"),
    script:
        "../workflow/scripts/evaluate.py"


rule accuracy_table:
    input:
        tables=expand("results/eval/{model}.tsv", model=models_all()),
        metrics=expand("results/models/{model}/metrics.json", model=models_all()),
    output:
        table=report(
            "results/eval/accuracy.tsv",
            caption="../workflow/report/accuracy.rst",
            category="Accuracy",
        ),
        heatmap=report(
            "results/figures/accuracy.png",
            caption="../workflow/report/accuracy.rst",
            category="Accuracy",
        ),
        curves=report(
            "results/figures/training_curves.png",
            caption="../workflow/report/curve.rst",
            category="Training",
        ),
    log:
        "results/logs/eval/accuracy_table.log",
    conda:
        "../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
        code=code_version("accuracy_table.py"),
    script:
        "../workflow/scripts/accuracy_table.py"
