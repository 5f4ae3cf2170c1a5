import json
import os
import shutil
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The library lives in src/; make it importable here and in every job (scripts, cluster jobs,
# conda environments), whether or not the package is pip-installed.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
from blurfocus.runtime import export_source_path  # noqa: E402

export_source_path(SRC)  # PYTHONPATH for the jobs' scripts
from blurfocus.codeversion import code_version as _script_code_version  # noqa: E402
from blurfocus.config import ConfigError, validate_config  # noqa: E402
from blurfocus import arms, grid, ids, modeltests, seeding  # noqa: E402
from blurfocus.train_settings import TrainSettings  # noqa: E402

# ---------------------------------------------------------------- config validation
try:
    _validated = validate_config(config)
except ConfigError as exc:
    raise WorkflowError(
        f"{exc}\n(see config.yaml and src/blurfocus/schemas/config.schema.yaml)"
    )
config.clear()
config.update(_validated)

RESULTS = "results"
if Path(RESULTS).exists() and not os.access(RESULTS, os.W_OK | os.X_OK):
    raise WorkflowError(
        f"the results folder {Path(RESULTS).resolve()} is not writable; fix its permissions "
        "or run from another working directory (snakemake --directory DIR)"
    )
if not Path(RESULTS).exists() and not os.access(".", os.W_OK | os.X_OK):
    raise WorkflowError(
        f"cannot create results/ in {Path('.').resolve()} (not writable); "
        "run from a writable working directory (snakemake --directory DIR)"
    )

DATASET = config["dataset"]
BLUR = config["blur"]
SAL = config["saliency"]
TRAIN = config["training"]
SPLITS = ["train", "val", "test"]
SEEDS = [int(s) for s in TRAIN["seeds"]]  # replicate indices: K models per arm
# the first replicate feeds the original study's per-image analysis
PRIMARY_SEED = SEEDS[0]
# training arms {arm: training variant}, naive (clear) first; expert is the study's expert
ARMS = arms.training_arms(BLUR["train"], list(BLUR["variants"]))
ROLES = list(ARMS)
STUDY_ROLES = [
    ids.NAIVE,
    ids.EXPERT,
]  # the original study's per-image analysis compares these two
TRAIN_BLUR = ARMS[ids.EXPERT]
GRID = grid.GridDesign.from_config(
    config, ARMS
)  # arms x test variants: sweeps, kinds, controls
TEST_BLURS = list(BLUR["test"])
TEST_VARIANTS = ["clear"] + TEST_BLURS
THREADS = int(config["threads"])

# too few replicates for the model-level tests to support any claim: say so before anything runs
_design_note = modeltests.design_note(
    len(SEEDS),
    TEST_BLURS,
    TRAIN["design"] == "paired",
    config["stats"]["adjust"],
    config["stats"]["alpha"],
)
if _design_note:
    print(f"blurfocus warning: {_design_note}", file=sys.stderr)


def _uses_gpu():
    device = config["device"]
    if device == "cuda":
        return True
    if device == "cpu":
        return False
    return shutil.which("nvidia-smi") is not None


# heavy rules declare gpu=1 only when the jobs will run on a GPU
GPU = 1 if _uses_gpu() else 0


# ---------------------------------------------------------------- helpers
def code_version(script):
    """Hash of the library modules that workflow/scripts/SCRIPT imports (followed transitively,
    see blurfocus.codeversion); editing one reruns the rule's jobs (params trigger)."""
    return _script_code_version(
        Path(workflow.basedir) / "workflow" / "scripts" / script,
        Path(SRC) / "blurfocus",
    )


def as_json(value):
    """Config values that are lists/dicts reach jobs as canonical JSON strings (stable params)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def model_id(role, seed):
    return ids.model_id(role, seed)


def get_training_seeds(wildcards, role=None):
    """(initialization, stream) seeds of one model, from training.design (seeding.training_seeds)."""
    return seeding.training_seeds(
        role or wildcards.role, int(wildcards.seed), TRAIN["design"], TRAIN["init_seed"]
    )


# the model to fine-tune (arch, weights, trainable), one canonical JSON param
MODEL = as_json({key: config["model"][key] for key in ("arch", "weights", "trainable")})


def get_train_params(wildcards, role=None, **overrides):
    """One model's fine-tuning settings (train_settings.TrainSettings) as canonical JSON: the
    training section, the model's stream seed, and overrides (e.g. epochs, keep)."""
    stream_seed = get_training_seeds(wildcards, role)[1]
    return TrainSettings.from_config(TRAIN, stream_seed, **overrides).to_json()


def models_all():
    return [model_id(r, s) for s in SEEDS for r in ROLES]


def variant_array(variant, split):
    if variant == "clear":
        return f"results/data/clear/{split}.npy"
    return f"results/blur/{variant}/{split}.npy"


def train_variant(role):
    return ARMS[role]


# ---------------------------------------------------------------- input functions
def get_ingest_input(wildcards):
    if DATASET["source"] == "synthetic":
        return {"images": "results/data/synthetic/images"}
    return {}


def get_dataset_path():
    if DATASET["source"] == "synthetic":
        return "results/data/synthetic/images"
    return DATASET["path"]  # oxford_pets' default filled by blurfocus.config


# the replicate design of the model-level tests (null_tests, grid), one canonical JSON param
REPLICATES = as_json(
    {
        "seeds": SEEDS,
        "draws": SAL["draws"],
        "replicate_draws": SAL["replicate_draws"],
        "design": TRAIN["design"],
    }
)


def get_stats_params(*keys):
    """The stats settings (keys of the stats section) that a step uses, as one canonical JSON
    param; a change of another stats key does not rerun that step."""
    return as_json({key: config["stats"][key] for key in keys})


def get_ingest_params():
    """The data set to ingest, one canonical JSON param: source, resolved path, url, classes,
    split fractions, split seed, image size, minimum size and per-class limit."""
    keys = (
        "source",
        "url",
        "classes",
        "split",
        "seed",
        "image_size",
        "min_size",
        "limit_per_class",
    )
    return as_json({"path": get_dataset_path(), **{key: DATASET[key] for key in keys}})


def get_blur_spec(wildcards):
    return as_json(BLUR["variants"][wildcards.variant])


def get_train_arrays(wildcards):
    v = train_variant(wildcards.role)
    return {
        "manifest": "results/data/manifest.parquet",
        "train": variant_array(v, "train"),
        "val": variant_array(v, "val"),
    }


def get_test_arrays(wildcards=None):
    return [variant_array(v, "test") for v in TEST_VARIANTS]


def primary_models():
    return [model_id(r, PRIMARY_SEED) for r in STUDY_ROLES]


def saliency_sets():
    """(model, variant, draw) of every map set (see saliency_draws)."""
    sets = []
    for m in models_all():
        sets += [(m, v, d) for v in TEST_VARIANTS for d in range(saliency_draws(m, v))]
    return sets


def saliency_draws(model, variant):
    """SmoothGrad draws of one (model, variant): every draw for the first replicate (per-image
    noise floors and known nulls); for the other replicates draw 0 on clear images and
    replicate_draws on blurred ones (each model's own noise floor for the model-level tests).
    """
    if model in primary_models():
        return SAL["draws"]
    return 1 if variant == "clear" else SAL["replicate_draws"]


def saliency_shards(models=None, variants=None):
    """One Parquet file per (model, variant, shard), holding every draw of that model."""
    return [
        f"results/saliency/{m}/{v}/shard{i}.parquet"
        for m in models_all()
        for v in TEST_VARIANTS
        if (models is None or m in models) and (variants is None or v in variants)
        for i in range(SAL["shards"])
    ]


def get_focus_metrics_input(wildcards):
    inputs = {"shards": saliency_shards()}
    if DATASET["source"] == "synthetic":
        inputs["masks"] = "results/data/synthetic/masks.npz"
        inputs["manifest"] = "results/data/manifest.parquet"
    return inputs


def get_claims_input(wildcards):
    return {
        "distances": "results/stats/distances.parquet",
        "tests": "results/stats/tests.tsv",
        "maps": "results/stats/map_metrics.parquet",
        "pairs": "results/stats/pair_metrics.parquet",
        # which arms learned their training images (claims about one that did not are inconclusive)
        "accuracy": GRID_FILES["accuracy"],
        "manifest": "results/data/manifest.parquet",
    }


def get_sanity_outputs(wildcards=None):
    if not config["sanity"]["enabled"]:
        return {}
    return {
        "sanity": "results/sanity/randomization.tsv",
        "sanity_verdict": "results/sanity/verdict.tsv",
        "sanity_figure": "results/figures/sanity.png",
    }


def get_final_outputs():
    outputs = [
        "results/eval/accuracy.tsv",
        "results/grid/accuracy.tsv",
        "results/stats/ttests.tsv",
        "results/stats/tests.tsv",
        "results/stats/claims.tsv",
        "results/report.html",
    ]
    return outputs


# the grid's outputs (rule grid); the dose-response figure only when the config sweeps a strength
GRID_FILES = {
    "accuracy": "results/grid/accuracy.tsv",
    "shift": "results/grid/shift.tsv",
    "between": "results/grid/between.tsv",
    "tests": "results/grid/tests.tsv",
    "figure": "results/figures/grid.png",
}
if GRID.sweeps:
    GRID_FILES["dose_response"] = "results/figures/dose_response.png"
GRID_CAPTIONS = {
    "accuracy": "grid.rst",
    "shift": "grid.rst",
    "figure": "grid.rst",
    "dose_response": "dose_response.rst",
}


GRID_FIGURES = ("figure", "dose_response")


def get_grid_outputs(part):
    """The outputs of rule grid (``tables``) or grid_figures (``figures``), those with a caption
    flagged for Snakemake's report."""
    out = {}
    for key, path in GRID_FILES.items():
        if (key in GRID_FIGURES) != (part == "figures"):
            continue
        if key in GRID_CAPTIONS:
            caption = f"../workflow/report/{GRID_CAPTIONS[key]}"
            path = report(path, caption=caption, category="Grid")
        out[key] = path
    return out
