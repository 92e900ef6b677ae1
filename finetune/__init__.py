"""Mixture fine-tuning: base model + general:medical data mix -> checkpoints the harness reads.

    medlc finetune finetune/configs/tiny_cpu_smoke.yaml
    accelerate launch -m finetune CONFIG.yaml          # multi-GPU, DDP or FSDP
    medlc sweep finetune/configs/sweep_tiny_ratio.yaml --shard 0/2

See finetune/README.md.
"""

from __future__ import annotations

import importlib

# Loaded on first use (PEP 562): `medlc --help` and `medlc finetune --help` import this
# package, and the recipe and mixture modules pull in torch and datasets.
_EXPORTS = {
    "ConfigError": "finetune.config",
    "FinetuneConfig": "finetune.config",
    "load_config": "finetune.config",
    "SourceTooSmallError": "finetune.mixture",
    "build_mixture": "finetune.mixture",
    "plan_mixture": "finetune.mixture",
    "RunResult": "finetune.recipe",
    "train": "finetune.recipe",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'finetune' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
