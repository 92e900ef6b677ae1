#!/usr/bin/env bash
# The GPU checks of the scorer and the recipe, as one script of about ten minutes on one
# H200-class GPU, with medlc installed (`pip install -e .` over a CUDA build of torch):
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # default benchmarks/results/gpu
#
# 1. bench_scorer.py: stock `hf` against `medlc-hf`, Gemma 3 270M in bfloat16 with sdpa,
#    at 4k, 16k and 32k, for letter, cloze and the three variants together, 10 items each;
#    medlc-hf at batch_size=auto (stock at 1, see bench_scorer.py --help). Peak memory is
#    each child's torch.cuda.max_memory_allocated.
# 2. A one-minute LoRA fine-tuning smoke in bf16 autocast (finetune/configs/gpu_smoke.yaml).
#
# Everything it prints goes to OUT_DIR/gpu_check.log, the figures to OUT_DIR/*.json.
# Not covered: `accelerate launch` data parallel, which needs two or more GPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/gpu}"
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
python=${PYTHON:-python}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
"$python" -c "import torch, transformers, lm_eval; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__, 'lm_eval', lm_eval.__version__, 'device', torch.cuda.get_device_name())"
"$python" -c "import importlib.util as u; print('flash_attn installed:', u.find_spec('flash_attn') is not None)"

date; uptime
timeout 480 "$python" benchmarks/bench_scorer.py --device cuda --dtype bfloat16 --attn_implementation sdpa \
    --buckets 4k,16k,32k --items 10 --modes letter,cloze,all --batch_size auto \
    --json "$out/scorer_gpu_bf16.json"

date
rm -rf runs/gpu_smoke
timeout 150 "$python" -m finetune finetune/configs/gpu_smoke.yaml --set "output_dir=runs/gpu_smoke"
cp runs/gpu_smoke/run_result.json "$out/gpu_smoke_result.json"
date
