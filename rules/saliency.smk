from blurfocus.smoothgrad_settings import SmoothGradSettings

# the SmoothGrad settings, built and checked in the library, reach jobs as one canonical JSON param
SMOOTHGRAD = SmoothGradSettings.from_config(SAL).to_json()


rule saliency:
    input:
        model="results/models/{role}-s{seed}/model.pt",
        manifest="results/data/manifest.parquet",
        images=lambda wc: variant_array(wc.variant, "test"),
        clear_images=variant_array("clear", "test"),
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
        settings=SMOOTHGRAD,
        topk=SAL["topk"],
        shards=SAL["shards"],
        draws=lambda wc: saliency_draws(model_id(wc.role, wc.seed), wc.variant),
        limit_per_class=SAL["limit_per_class"],
        device=config["device"],
        code=code_version("saliency.py"),
    script:
        "../workflow/scripts/saliency.py"
