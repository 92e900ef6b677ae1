"""The fine-tuning config: typed dataclasses, loaded from YAML and validated on load.

Every knob that changes between runs lives here, and a run writes the resolved config it
used next to its checkpoint. Errors name the file, the key and what was expected, e.g.
`configs/x.yaml: optim.lr: expected a number, got 'fast'`.

Relative paths (data sources, output_dir) are resolved against the working directory, as
with `lm_eval --output_path` and `accelerate launch`; run medlc from the repository root.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

Role = Literal["general", "medical"]
SourceFormat = Literal["alpaca", "messages", "sharegpt", "csv"]


_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(ValueError):
    """A config file or override that does not match the schema; names file and key."""


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
    columns: dict[str, Union[str, list[str]]] = field(default_factory=dict)
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
    target_modules: Union[str, list[str]] = "all-linear"
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


# ---------------------------------------------------------------------------------------
# Loading: a small schema walker over the dataclasses above, so the schema is written once.


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) if a is not type(None) else "null" for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping to {_describe(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {[f.name for f in dataclasses.fields(tp)]}"
    return str(tp)


def _convert(tp: Any, value: Any, key: str, file: str) -> Any:
    def fail() -> ConfigError:
        return ConfigError(f"{file}: {key}: expected {_describe(tp)}, got {value!r}")

    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail()
        return build_dataclass(tp, value, key, file)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(tp):
            if option is type(None) and value is None:
                return None
            if option is type(None):
                continue
            try:
                return _convert(option, value, key, file)
            except ConfigError:
                continue
        raise fail()
    if origin is Literal:
        # YAML 1.1 reads a bare `no` as false; accept it where "no" is a valid choice.
        if value is False and "no" in typing.get_args(tp):
            return "no"
        if value not in typing.get_args(tp):
            raise fail()
        return value
    if origin is list:
        if not isinstance(value, list):
            raise fail()
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{key}[{i}]", file) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail()
        _, item = typing.get_args(tp)
        return {str(k): _convert(item, v, f"{key}.{k}", file) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if tp is float:
        # PyYAML (YAML 1.1) reads `1e-4` as a string; it is too common a way to write a
        # learning rate to refuse.
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail()
        return value
    raise TypeError(f"unsupported config type {tp}")  # a schema bug, not a user error


def build_dataclass(cls: type, data: dict[str, Any], prefix: str, file: str) -> Any:
    """Validate a raw mapping against a config dataclass (recursively) and build it."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(
                f"{file}: {prefix + '.' if prefix else ''}{key}: unknown key; expected one of {sorted(names)}"
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], key, file)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{file}: {key}: missing; expected {_describe(hints[f.name])}")
    return cls(**kwargs)


def _check(condition: bool, file: str, key: str, expected: str, got: Any) -> None:
    if not condition:
        raise ConfigError(f"{file}: {key}: expected {expected}, got {got!r}")


def _validate(config: FinetuneConfig, file: str) -> None:
    """Rules that span more than one value's type."""
    data, optim, adapter = config.data, config.optim, config.adapter
    _check(0.0 <= data.general_fraction <= 1.0, file, "data.general_fraction", "a number in [0, 1]", data.general_fraction)
    _check(data.n >= 1, file, "data.n", "an integer >= 1", data.n)
    _check(0.0 <= data.eval_fraction < 1.0, file, "data.eval_fraction", "a number in [0, 1)", data.eval_fraction)
    _check(data.max_length >= 8, file, "data.max_length", "an integer >= 8", data.max_length)
    _check(len(data.sources) >= 1, file, "data.sources", "at least one source", data.sources)
    seen: set[str] = set()
    for i, source in enumerate(data.sources):
        key = f"data.sources[{i}]"
        _check(source.name not in seen, file, f"{key}.name", "a name unique among sources", source.name)
        seen.add(source.name)
        _check(source.weight > 0, file, f"{key}.weight", "a number > 0", source.weight)
        if source.format == "csv":
            for column in ("prompt", "response"):
                _check(column in source.columns, file, f"{key}.columns.{column}", "a CSV column name (csv format)", None)
            extra = set(source.columns) - {"prompt", "response", "system", "id"}
            _check(not extra, file, f"{key}.columns", "only keys prompt, response, system, id", sorted(extra))
        else:
            _check(not source.columns, file, f"{key}.columns", "no column mapping (only csv sources take one)", source.columns)
    roles = {s.role for s in data.sources}
    if data.general_fraction > 0:
        _check("general" in roles, file, "data.sources", "a source with role: general (general_fraction > 0)", sorted(roles))
    if data.general_fraction < 1:
        _check("medical" in roles, file, "data.sources", "a source with role: medical (general_fraction < 1)", sorted(roles))
    _check(optim.lr > 0, file, "optim.lr", "a number > 0", optim.lr)
    _check(len(optim.betas) == 2, file, "optim.betas", "two numbers", optim.betas)
    _check(optim.epochs >= 1, file, "optim.epochs", "an integer >= 1", optim.epochs)
    _check(optim.max_steps is None or optim.max_steps >= 1, file, "optim.max_steps", "null or an integer >= 1", optim.max_steps)
    _check(optim.micro_batch_size >= 1, file, "optim.micro_batch_size", "an integer >= 1", optim.micro_batch_size)
    _check(optim.grad_accum >= 1, file, "optim.grad_accum", "an integer >= 1", optim.grad_accum)
    _check(0.0 <= optim.warmup_ratio < 1.0, file, "optim.warmup_ratio", "a number in [0, 1)", optim.warmup_ratio)
    _check(not (optim.warmup_steps and optim.warmup_ratio), file, "optim.warmup_steps", "warmup_steps or warmup_ratio, not both", optim.warmup_steps)
    if adapter.method == "lora":
        _check(adapter.r >= 1, file, "adapter.r", "an integer >= 1", adapter.r)
        _check(0.0 <= adapter.dropout < 1.0, file, "adapter.dropout", "a number in [0, 1)", adapter.dropout)
    else:
        _check(not adapter.save_merged, file, "adapter.save_merged", "false for full fine-tuning (the model is already whole)", True)
    runtime = config.runtime
    for key in ("log_every",):
        _check(getattr(runtime, key) >= 1, file, f"runtime.{key}", "an integer >= 1", getattr(runtime, key))
    for key in ("eval_every", "save_every", "keep_checkpoints"):
        _check(getattr(runtime, key) >= 0, file, f"runtime.{key}", "an integer >= 0", getattr(runtime, key))


def parse_override(text: str) -> tuple[list[str], Any]:
    """`optim.lr=1e-4` -> (["optim", "lr"], 0.0001); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"--override {text!r}: expected KEY=VALUE, e.g. optim.lr=1e-4")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def apply_override(data: dict[str, Any], path: list[str], value: Any, origin: str) -> None:
    """Set a dotted key in the raw YAML mapping; list items are addressed by index."""
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        where = ".".join(path[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{origin}: {where}: expected a list index below {len(node)}")
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"{origin}: {where}: cannot descend into {node!r}")
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"{origin}: {'.'.join(path)}: expected a list index below {len(node)}")
        node[int(last)] = value
    else:
        node[last] = value


def config_from_dict(data: dict[str, Any], file: str = "<config>") -> FinetuneConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a YAML mapping at the top level, got {type(data).__name__}")
    config = build_dataclass(FinetuneConfig, data, "", file)
    _validate(config, file)
    if not config.run_name:
        config.run_name = Path(config.output_dir).name
    return config


def load_config(path: str | Path, overrides: list[str] | None = None) -> FinetuneConfig:
    """Read, override and validate a fine-tuning YAML."""
    file = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{file}: no such config file") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML: {err}") from err
    data = data or {}
    for text in overrides or []:
        key_path, value = parse_override(text)
        apply_override(data, key_path, value, f"--override {text!r}")
    return config_from_dict(data, file)
