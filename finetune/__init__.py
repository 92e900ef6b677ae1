"""Mixture fine-tuning: base model + general:medical data mix -> checkpoints the harness reads.

    medlc finetune finetune/configs/tiny_cpu_smoke.yaml
    accelerate launch -m finetune CONFIG.yaml          # multi-GPU, DDP or FSDP
    medlc sweep finetune/configs/sweep_tiny_ratio.yaml --shard 0/2

See finetune/README.md.
"""

from finetune.config import ConfigError, FinetuneConfig, load_config
from finetune.mixture import SourceTooSmallError, build_mixture, plan_mixture
from finetune.recipe import RunResult, train

__all__ = [
    "ConfigError",
    "FinetuneConfig",
    "RunResult",
    "SourceTooSmallError",
    "build_mixture",
    "load_config",
    "plan_mixture",
    "train",
]
