"""The fine-tuning config: typed dataclasses, loaded from YAML and validated on load.

Every knob that changes between runs lives here, and a run writes the resolved config it
used next to its checkpoint. Errors name the file, the key and what was expected, e.g.
`configs/x.yaml: optim.lr: expected a number, got 'fast'`.

Relative paths (data sources, output_dir) are resolved against the working directory, as
with `lm_eval --output_path` and `accelerate launch`; run medlc from the repository root.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medlc_core.config import ConfigError, apply_sets, build, check, read_yaml

__all__ = [
    "AdapterConfig",
    "ConfigError",
    "DataConfig",
    "FinetuneConfig",
    "ModelConfig",
    "OptimConfig",
    "RuntimeConfig",
    "SourceConfig",
    "gpu_requests",
    "load_config",
]

Role = Literal["general", "medical"]
SourceFormat = Literal["alpaca", "messages", "sharegpt", "csv"]


@dataclass
class SourceConfig:
    """One data file and how to read it."""

    name: str
    path: str
    role: Role
    format: SourceFormat
    encoding: str = "utf-8"
    # Share of its role's examples this source provides, relative to the role's other sources.
    weight: float = 1.0
    # CSV only: `prompt` (a column or a list joined by newlines), `response`, optional
    # `system` and `id` columns.
    columns: dict[str, str | list[str]] = field(default_factory=dict)
    # `error` stops on the first malformed row; `skip` drops it and counts it in the manifest.
    on_invalid: Literal["error", "skip"] = "error"


@dataclass
class ModelConfig:
    # A hub id, a local directory, a `.gguf` file, a bundled name (`gemma3-270m`), or a
    # directory with `gguf_file`; see medlc_core.models.resolve_pretrained.
    pretrained: str
    gguf_file: str | None = None
    # Weights dtype on load. Mixed precision (runtime.mixed_precision) keeps float32 master
    # weights and autocasts; bfloat16 here halves memory for frozen LoRA bases.
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2", "flash_attention_3"] = "sdpa"
    trust_remote_code: bool = False


@dataclass
class DataConfig:
    sources: list[SourceConfig]
    general_fraction: float
    n: int
    max_length: int = 1024
    # Held-out examples for eval loss, drawn per source before training rows and never
    # trained on: round(n * eval_fraction), mixed at the same general_fraction.
    eval_fraction: float = 0.0
    allow_oversample: bool = False
    # Longer examples are cut at max_length and counted in the manifest, or refused.
    overlong: Literal["truncate", "error"] = "truncate"
    # `auto`: the tokenizer's chat template when it has one, else the plain template.
    template: Literal["auto", "chat", "plain"] = "auto"


@dataclass
class AdapterConfig:
    method: Literal["lora", "full"] = "lora"
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    # Also write `merged/`: base + adapter folded into plain weights.
    save_merged: bool = False


@dataclass
class OptimConfig:
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    scheduler: Literal[
        "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"
    ] = "cosine"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    epochs: int = 1
    # Optimizer steps; when set it wins over epochs (the data order cycles epoch by epoch).
    max_steps: int | None = None
    micro_batch_size: int = 4
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0


@dataclass
class RuntimeConfig:
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    gradient_checkpointing: bool = False
    packing: bool = True
    log_every: int = 1
    # Steps between eval-loss passes; 0 evaluates only at the end.
    eval_every: int = 0
    # Steps between resumable checkpoints; 0 saves none (only the final save).
    save_every: int = 100
    keep_checkpoints: int = 2  # the newest K; 0 keeps them all
    # `auto` adds TensorBoard if installed, and W&B if installed and WANDB_PROJECT is set.
    report_to: list[Literal["auto", "tensorboard", "wandb"]] = field(default_factory=lambda: ["auto"])


@dataclass
class FinetuneConfig:
    model: ModelConfig
    data: DataConfig
    output_dir: str
    seed: int = 0
    run_name: str = ""
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _validate(config: FinetuneConfig, file: str) -> None:
    """Rules that span more than one value's type."""
    data, optim, adapter, runtime = config.data, config.optim, config.adapter, config.runtime

    def rule(ok: bool, key: str, expected: str, got: Any) -> None:
        check(ok, file, key, expected, got)

    fraction = data.general_fraction
    rule(0.0 <= fraction <= 1.0, "data.general_fraction", "a number in [0, 1]", fraction)
    rule(data.n >= 1, "data.n", "an integer >= 1", data.n)
    rule(0.0 <= data.eval_fraction < 1.0, "data.eval_fraction", "a number in [0, 1)", data.eval_fraction)
    rule(data.max_length >= 8, "data.max_length", "an integer >= 8", data.max_length)
    rule(len(data.sources) >= 1, "data.sources", "at least one source", data.sources)
    seen: set[str] = set()
    for i, source in enumerate(data.sources):
        key = f"data.sources[{i}]"
        rule(source.name not in seen, f"{key}.name", "a name unique among sources", source.name)
        seen.add(source.name)
        rule(source.weight > 0, f"{key}.weight", "a number > 0", source.weight)
        if source.format == "csv":
            for column in ("prompt", "response"):
                rule(
                    column in source.columns,
                    f"{key}.columns.{column}",
                    "a CSV column name (csv format)",
                    None,
                )
            extra = sorted(set(source.columns) - {"prompt", "response", "system", "id"})
            rule(not extra, f"{key}.columns", "only keys prompt, response, system, id", extra)
        else:
            rule(
                not source.columns,
                f"{key}.columns",
                "no column mapping (only csv sources take one)",
                source.columns,
            )
    roles = sorted({s.role for s in data.sources})
    if data.general_fraction > 0:
        rule("general" in roles, "data.sources", "a source with role: general (general_fraction > 0)", roles)
    if data.general_fraction < 1:
        rule("medical" in roles, "data.sources", "a source with role: medical (general_fraction < 1)", roles)
    rule(optim.lr > 0, "optim.lr", "a number > 0", optim.lr)
    rule(len(optim.betas) == 2, "optim.betas", "two numbers", optim.betas)
    rule(optim.epochs >= 1, "optim.epochs", "an integer >= 1", optim.epochs)
    rule(
        optim.max_steps is None or optim.max_steps >= 1,
        "optim.max_steps",
        "null or an integer >= 1",
        optim.max_steps,
    )
    rule(optim.micro_batch_size >= 1, "optim.micro_batch_size", "an integer >= 1", optim.micro_batch_size)
    rule(optim.grad_accum >= 1, "optim.grad_accum", "an integer >= 1", optim.grad_accum)
    rule(0.0 <= optim.warmup_ratio < 1.0, "optim.warmup_ratio", "a number in [0, 1)", optim.warmup_ratio)
    rule(
        not (optim.warmup_steps and optim.warmup_ratio),
        "optim.warmup_steps",
        "warmup_steps or warmup_ratio, not both",
        optim.warmup_steps,
    )
    if adapter.method == "lora":
        rule(adapter.r >= 1, "adapter.r", "an integer >= 1", adapter.r)
        rule(0.0 <= adapter.dropout < 1.0, "adapter.dropout", "a number in [0, 1)", adapter.dropout)
    else:
        rule(
            not adapter.save_merged,
            "adapter.save_merged",
            "false for full fine-tuning (the model is already whole)",
            True,
        )
    rule(runtime.log_every >= 1, "runtime.log_every", "an integer >= 1", runtime.log_every)
    for key in ("eval_every", "save_every", "keep_checkpoints"):
        rule(getattr(runtime, key) >= 0, f"runtime.{key}", "an integer >= 0", getattr(runtime, key))


def gpu_requests(config: FinetuneConfig) -> list[str]:
    """The keys of `config` that only make sense on a GPU, as `key: value`."""
    asks = []
    if config.runtime.mixed_precision != "no":
        asks.append(f"runtime.mixed_precision: {config.runtime.mixed_precision}")
    if config.model.dtype != "float32":
        asks.append(f"model.dtype: {config.model.dtype}")
    if config.model.attn_implementation.startswith("flash"):
        asks.append(f"model.attn_implementation: {config.model.attn_implementation}")
    return asks


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> FinetuneConfig:
    """Read a fine-tuning YAML, apply `--set KEY=VALUE` edits, and validate the result."""
    _, data = read_yaml(path)
    data = apply_sets(data, overrides or (), path)
    config = build(FinetuneConfig, data, path)
    _validate(config, str(path))
    if not config.run_name:
        config.run_name = Path(config.output_dir).name
    return config
