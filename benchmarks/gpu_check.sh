#!/usr/bin/env bash
# The GPU checks of the scorer and the recipe, as one script of about five minutes on one
# H200-class GPU:
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # default benchmarks/results/gpu
#
# 0. Where the checkout holds a bundle (.gpu/, from `python benchmarks/gpu_bundle.py pack`,
#    for a machine with a CUDA PyTorch stack and no index): its wheels are installed offline
#    into a folder of their own, and the model is Gemma 3 270M's config and tokenizer with
#    seeded random weights (the real weights are too large to carry; time and memory do not
#    depend on them). Without a bundle: medlc must be installed, and the model is the real
#    `gemma3-270m`.
# 1. bench_scorer.py: stock `hf` against `medlc-hf` (and the floor), in bfloat16 with sdpa,
#    at 4k, 16k and 32k, for letter, cloze and the three variants together, 10 items each,
#    then at 1k, where short books are read fused with their options (last, so a timeout
#    costs only that bucket);
#    medlc-hf at batch_size=auto (stock at 1, see bench_scorer.py --help). Peak memory is
#    torch.cuda.max_memory_allocated per mode, one child process per bucket and backend.
# 2. A one-minute LoRA fine-tuning smoke in bf16 autocast (finetune/configs/gpu_smoke.yaml).
#
# Everything it prints goes to OUT_DIR/gpu_check.log, the figures to OUT_DIR/*.json.
# Not covered: `accelerate launch` data parallel, which needs two or more GPUs.
#
# The same script rehearses on CPU, tiny sizes, with these variables (all optional):
#   PYTHON BUNDLE DEVICE DTYPE BUCKETS ITEMS BENCH_TIMEOUT SMOKE_STEPS
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/gpu}"
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
bundle=${BUNDLE:-.gpu}
device=${DEVICE:-cuda}
model=gemma3-270m
date; uptime || true
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
fi
if [ -d "$bundle" ]; then
    # Nothing there reaches the hub: fail at once rather than wait on a network timeout.
    export MEDLC_CACHE=${MEDLC_CACHE:-/tmp/medlc_cache} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
    "$python" benchmarks/gpu_bundle.py install "$bundle" /tmp/medlc_site
    export PYTHONPATH=/tmp/medlc_site
    model=/tmp/gemma3-270m-random
    "$python" benchmarks/gpu_bundle.py standin "$bundle/gemma3-270m-shape" "$model"
fi
"$python" - <<'EOF'
import importlib.util, torch, transformers, lm_eval, medlc
print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__,
      "lm_eval", lm_eval.__version__, "medlc", medlc.__version__)
print("device", torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU)")
print("flash_attn installed:", importlib.util.find_spec("flash_attn") is not None)
EOF

date
timeout "${BENCH_TIMEOUT:-330}" "$python" benchmarks/bench_scorer.py --model "$model" --device "$device" \
    --dtype "${DTYPE:-bfloat16}" --attn_implementation sdpa --buckets "${BUCKETS:-4k,16k,32k,1k}" \
    --items "${ITEMS:-10}" --modes letter,cloze,all --batch_size auto --json "$out/scorer_gpu.json"

date
steps=${SMOKE_STEPS:-60}
smoke=/tmp/medlc_gpu_smoke
rm -rf "$smoke"
timeout 150 "$python" -m finetune finetune/configs/gpu_smoke.yaml --set "output_dir=$smoke" \
    --set "model.pretrained=$model" --set "optim.max_steps=$steps" \
    --set "runtime.eval_every=$(( steps / 2 ))" --set "runtime.save_every=$steps" \
    $([ "$device" = cpu ] && echo --allow_cpu)
cp "$smoke/run_result.json" "$out/gpu_smoke_result.json"
date
