# Sanity checks of the saliency method (Adebayo et al., 2018): cascading model-parameter
# randomization of the first replicate's naive and expert models on clear and on the first test
# blur variant, and data randomization (a model trained on permuted labels vs the naive model).

SANITY = config["sanity"]
SANITY_VARIANTS = ["clear"] + TEST_BLURS[:1]
SHUFFLED_MODEL = f"shuffled-s{PRIMARY_SEED}"


# inputs of sanity_check: the first replicate's naive and expert models, the test arrays, and
# the permuted-label model when data randomization is on
SANITY_INPUT = {
    "models": [
        f"results/models/{model_id(r, PRIMARY_SEED)}/model.pt" for r in STUDY_ROLES
    ],
    "manifest": "results/data/manifest.parquet",
    "images": [variant_array(v, "test") for v in SANITY_VARIANTS],
}
if SANITY["data_randomization"]:
    SANITY_INPUT["shuffled"] = f"results/models/{SHUFFLED_MODEL}/model.pt"
    SANITY_INPUT["shuffled_metrics"] = f"results/models/{SHUFFLED_MODEL}/metrics.json"


rule train_shuffled:
    input:
        manifest="results/data/manifest.parquet",
        train=variant_array("clear", "train"),
        val=variant_array("clear", "val"),
    output:
        model="results/models/shuffled-s{seed}/model.pt",
        metrics="results/models/shuffled-s{seed}/metrics.json",
        curve=report(
            "results/models/shuffled-s{seed}/curve.png",
            caption="../workflow/report/sanity_shuffled.rst",
            category="Sanity check",
        ),
    log:
        "results/logs/train/shuffled-s{seed}.log",
    benchmark:
        "results/benchmarks/train/shuffled-s{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        role="shuffled",
        permute_labels=True,
        model=MODEL,
        train_variant="clear",
        # the naive replicate's own seeds: it differs from naive-s{seed} only in the permuted labels
        training=lambda wc: get_train_params(
            wc, "naive", epochs=SANITY["shuffled_epochs"], keep="last"
        ),
        init_seed=lambda wc: get_training_seeds(wc, "naive")[0],
        device=config["device"],
        code=code_version("train.py"),
    script:
        "../workflow/scripts/train.py"


rule sanity_check:
    input:
        **SANITY_INPUT,
    output:
        table="results/sanity/randomization.tsv",
        data="results/sanity/data_randomization.tsv",
        verdict="results/sanity/verdict.tsv",
        examples="results/sanity/examples.npz",
    log:
        "results/logs/sanity/randomization.log",
    benchmark:
        "results/benchmarks/sanity.tsv"
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        variants=as_json(SANITY_VARIANTS),
        images=SANITY["images"],
        red_flag_spearman=SANITY["red_flag_spearman"],
        red_flag_ssim=SANITY["red_flag_ssim"],
        settings=SMOOTHGRAD,
        device=config["device"],
        code=code_version("sanity.py"),
    script:
        "../workflow/scripts/sanity.py"


rule sanity_figure:
    input:
        table="results/sanity/randomization.tsv",
        data="results/sanity/data_randomization.tsv",
        verdict="results/sanity/verdict.tsv",
        examples="results/sanity/examples.npz",
    output:
        report(
            "results/figures/sanity.png",
            caption="../workflow/report/sanity.rst",
            category="Sanity check",
        ),
    log:
        "results/logs/sanity/figure.log",
    conda:
        "../envs/analysis.yaml"
    params:
        red_flag_spearman=SANITY["red_flag_spearman"],
        red_flag_ssim=SANITY["red_flag_ssim"],
        percentile=config["figures"]["clip_percentile"],
        dpi=config["figures"]["dpi"],
        code=code_version("sanity_figure.py"),
    script:
        "../workflow/scripts/sanity_figure.py"
