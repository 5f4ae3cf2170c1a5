rule synthetic_data:
    output:
        images=directory("results/data/synthetic/images"),
        masks="results/data/synthetic/masks.npz",
    log:
        "results/logs/data/synthetic.log",
    conda:
        "../envs/torch.yaml"
    params:
        spec=as_json(DATASET["synthetic"]),  # blurfocus.synthetic.generate's arguments
        code=code_version("synthetic.py"),
    script:
        "../workflow/scripts/synthetic.py"


rule ingest:
    input:
        unpack(get_ingest_input),
    output:
        manifest="results/data/manifest.parquet",
        rejected="results/data/rejected.tsv",
        summary="results/data/ingest.json",
        arrays=expand("results/data/clear/{split}.npy", split=SPLITS),
    log:
        "results/logs/data/ingest.log",
    benchmark:
        "results/benchmarks/ingest.tsv"
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    params:
        dataset=get_ingest_params(),
        code=code_version("ingest.py"),
    script:
        "../workflow/scripts/ingest.py"


rule blur_copies:
    input:
        manifest="results/data/manifest.parquet",
        images="results/data/clear/{split}.npy",
    output:
        images="results/blur/{variant}/{split}.npy",
        record="results/blur/{variant}/{split}.json",
    log:
        "results/logs/blur/{variant}/{split}.log",
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    params:
        spec=get_blur_spec,
        seed=BLUR["seed"],
        scale=BLUR["scale"],
        image_size=DATASET["image_size"],
        code=code_version("blur_copies.py"),
    script:
        "../workflow/scripts/blur_copies.py"


rule contact_sheet:
    input:
        manifest="results/data/manifest.parquet",
        arrays=get_test_arrays,
    output:
        report(
            "results/figures/contact_sheet.png",
            caption="../workflow/report/contact_sheet.rst",
            category="Data",
        ),
    log:
        "results/logs/figures/contact_sheet.log",
    conda:
        "../envs/analysis.yaml"
    params:
        variants=as_json(TEST_VARIANTS),
        per_class=config["figures"]["images_per_class"],
        dpi=config["figures"]["dpi"],
        code=code_version("contact_sheet.py"),
    script:
        "../workflow/scripts/contact_sheet.py"
