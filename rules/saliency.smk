rule saliency:
    input:
        model="results/models/{role}-s{seed}/model.pt",
        manifest="results/data/manifest.parquet",
        images=lambda wc: variant_array(wc.variant, "test"),
    output:
        "results/saliency/{role}-s{seed}/{variant}/shard{shard}.parquet",
    log:
        "results/logs/saliency/{role}-s{seed}/{variant}/shard{shard}.log",
    benchmark:
        "results/benchmarks/saliency/{role}-s{seed}/{variant}/shard{shard}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        n_samples=SAL["n_samples"],
        sigma=SAL["sigma"],
        sigma_range=SAL["sigma_range"],
        target=SAL["target"],
        mode=SAL["mode"],
        reduce=SAL["reduce"],
        topk=SAL["topk"],
        seed=SAL["seed"],
        shards=SAL["shards"],
        draws=lambda wc: saliency_draws(model_id(wc.role, wc.seed)),
        batch_size=SAL["batch_size"],
        limit_per_class=SAL["limit_per_class"],
        precision=SAL["precision"],
        device=config["device"],
        code=code_version("saliency.py"),
    script:
        "../workflow/scripts/saliency.py"
