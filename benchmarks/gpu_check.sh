#!/usr/bin/env bash
# GPU check: the saliency and training benchmarks on a CUDA GPU, in one short run (< 10 minutes).
#
#   bash benchmarks/gpu_check.sh            # from the repository root; outputs in ${OUT:-benchmarks/out}
#
# 1. nvidia-smi, torch / CUDA / cuDNN versions, the GPU torch sees, which Python packages are there.
# 2. benchmarks/bench_saliency.py --device cuda: AlexNet 224x224 and EfficientNet-Lite0 at 160 and
#    224 (SAL_MODELS), 32 images, n = 25 and 50 noisy samples: Captum, the engine before the speed
#    work (no BatchNorm folding, batched backward), folded with the batched backward, and after
#    (folded, one backward per target: the default path), side by side, a chunk-size sweep
#    (SAL_CHUNKS), plus the bf16 path and its map agreement with fp32. bench_saliency needs captum: when it is
#    missing, one quick `pip install captum` is tried (ALLOW_PIP=0 skips it; it fails fast
#    offline); if captum is still missing, a SmoothGrad-only timing (no Captum comparison) runs.
# 3. benchmarks/bench_training.py --device cuda: fine_tune fed from the uint8 cache against the
#    bare float loop, at 96x96 (the default config) and at 224x224 (the paper's input size).
# Each step has its own timeout; a failed or timed-out step is reported and the script goes on.
# Every step's output is also written to $OUT/<step>.txt; the summary is $OUT/summary.txt.
#
# Environment (for a smoke test on a machine without a GPU: DEVICE=cpu and small sizes):
#   DEVICE (cuda)  PYTHON (python)  THREADS (8)  SAL_IMAGES (32)  SAL_SAMPLES ("25 50")
#   SAL_MODELS ("alexnet:224 efficientnet_lite0:160 efficientnet_lite0:224")  SAL_CHUNKS ("64 200 800")
#   TRAIN_IMAGES_96 (8000)  TRAIN_IMAGES_224 (2000)  ALLOW_PIP (1)
set -euo pipefail

cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out}"
mkdir -p "$OUT"
DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python}"
THREADS="${THREADS:-8}"
SAL_IMAGES="${SAL_IMAGES:-32}"
SAL_SAMPLES="${SAL_SAMPLES:-25 50}"
SAL_MODELS="${SAL_MODELS:-alexnet:224 efficientnet_lite0:160 efficientnet_lite0:224}"
SAL_CHUNKS="${SAL_CHUNKS:-64 200 800}"
TRAIN_IMAGES_96="${TRAIN_IMAGES_96:-8000}"
TRAIN_IMAGES_224="${TRAIN_IMAGES_224:-2000}"
ALLOW_PIP="${ALLOW_PIP:-1}"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
START=$(date +%s)

note() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME TIMEOUT_S COMMAND...: run with a timeout, output to the terminal and $OUT/NAME.txt,
# the last line of the output into the summary; never stops the script
step() {
    local name="$1" limit="$2"
    shift 2
    echo "=== $name (timeout ${limit}s): $*"
    local t0 rc=0
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > >(tee "$OUT/$name.txt") 2>&1 || rc=$?
    wait  # for tee
    local last
    last=$(grep -v '^\s*$' "$OUT/$name.txt" | tail -n 1 || true)
    if [ "$rc" -eq 0 ]; then
        note "$name: ok in $(( $(date +%s) - t0 ))s: $last"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        note "$name: TIMED OUT after ${limit}s (last line: $last)"
    else
        note "$name: FAILED (rc $rc): $last"
    fi
}

echo "=== nvidia-smi"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$SUMMARY" || true
elif [ "$DEVICE" = cuda ]; then
    note "nvidia-smi not found: no NVIDIA GPU on this machine (run with DEVICE=cpu for a smoke test)"
    exit 1
else
    note "nvidia-smi not found (DEVICE=$DEVICE: going on)"
fi

echo "=== versions"
"$PYTHON" - "$DEVICE" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import importlib.util, platform, sys
import torch
print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA (torch build) {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}")
print(f"cuda available: {torch.cuda.is_available()}, devices: {torch.cuda.device_count()}"
      + (f", 0: {torch.cuda.get_device_name(0)} (capability {torch.cuda.get_device_capability(0)})" if torch.cuda.is_available() else ""))
mods = ["torchvision", "captum", "numpy", "scipy", "pandas", "pyarrow", "PIL", "yaml", "jsonschema"]
def have(m):
    try:
        __import__(m) if m == "captum" else None  # captum: really importable
        return importlib.util.find_spec(m) is not None
    except ImportError:
        return False
print("packages: " + ", ".join(f"{m} {'yes' if have(m) else 'MISSING'}" for m in mods))
if sys.argv[1] == "cuda" and not torch.cuda.is_available():
    sys.exit("torch sees no CUDA GPU")
EOF

HAVE_CAPTUM=1
if ! "$PYTHON" -c "import captum" 2> /dev/null; then
    HAVE_CAPTUM=0
    if [ "$ALLOW_PIP" = 1 ]; then
        echo "=== captum missing: trying pip install captum (fails fast offline)"
        if timeout 30 "$PYTHON" -m pip install --quiet --retries 0 --timeout 5 captum > "$OUT/pip-captum.txt" 2>&1 \
            && "$PYTHON" -c "import captum" 2> /dev/null; then
            HAVE_CAPTUM=1
            note "captum: installed with pip"
        else
            note "captum: missing and could not be installed (see pip-captum.txt): Captum comparison skipped"
        fi
    else
        note "captum: missing (ALLOW_PIP=0): Captum comparison skipped"
    fi
fi

# shellcheck disable=SC2086  # SAL_SAMPLES, SAL_MODELS and SAL_CHUNKS are lists
if [ "$HAVE_CAPTUM" = 1 ]; then
    step saliency 240 "$PYTHON" benchmarks/bench_saliency.py --device "$DEVICE" --models $SAL_MODELS \
        --images "$SAL_IMAGES" --samples $SAL_SAMPLES --threads "$THREADS" --chunks $SAL_CHUNKS
else
    step saliency-no-captum 120 "$PYTHON" - "$DEVICE" "$SAL_IMAGES" "$THREADS" $SAL_SAMPLES <<'EOF'
# blurfocus SmoothGrad alone (Captum missing): AlexNet 224 and EfficientNet-Lite0 160, both
# targets, sigma 0.15 of [0, 1], the engine's default path (BatchNorm folded)
import sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path("src").resolve()))
from blurfocus import models, smoothgrad
from blurfocus.smoothgrad_settings import SmoothGradSettings
device, n_img, threads, samples = torch.device(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), [int(a) for a in sys.argv[4:]]
torch.set_num_threads(threads)
torch.manual_seed(0)
ids, labels = [f"img{i}" for i in range(n_img)], [0] * n_img
def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()
for arch, size in (("alexnet", 224), ("efficientnet_lite0", 160)):
    model = smoothgrad.prepare_model(models.build_model(arch, "none", 2)[0]).to(device)
    x = torch.rand((n_img, 3, size, size), generator=torch.Generator().manual_seed(0)).to(device)
    for n in samples:
        s = SmoothGradSettings(n_samples=n, batch_size=2 * n, sigma_range="space")
        smoothgrad.saliency_maps(model, x, ids, labels, s, device=device)  # warm-up
        best = float("inf")
        for _ in range(3):
            sync(); t = time.perf_counter()
            smoothgrad.saliency_maps(model, x, ids, labels, s, device=device)
            sync(); best = min(best, time.perf_counter() - t)
        print(f"{arch} {size}px n={n}: blurfocus SmoothGrad (no Captum comparison): {n_img / best:.2f} images/s on {device}")
EOF
fi

step training-96 60 "$PYTHON" benchmarks/bench_training.py --device "$DEVICE" --size 96 \
    --images "$TRAIN_IMAGES_96" --threads "$THREADS"
step training-224 60 "$PYTHON" benchmarks/bench_training.py --device "$DEVICE" --size 224 \
    --images "$TRAIN_IMAGES_224" --threads "$THREADS"

note "total: $(( $(date +%s) - START ))s; outputs in $OUT"
echo "=== summary ($SUMMARY)"
cat "$SUMMARY"
