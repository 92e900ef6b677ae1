"""The study file: one YAML from base model to answered question, validated on load.

    name: my_study
    output_dir: runs/my_study          # checkpoints/, results/, report/ and study/ go here
    base_model: {name: gemma3-270m, pretrained: gemma3-270m, model_args: {dtype: float32}}
    data:                              # finetune's `data` section, less the grid's two keys
      sources: [{name: ..., path: ..., role: general | medical, format: ...}, ...]
      max_length: 512
    grid: {general_fractions: [0.0, 0.5, 1.0], ns: [16]}
    finetune: {seed: 0, model: {dtype: float32}, adapter: {...}, optim: {...}, runtime: {...}}
    compare: [...]                     # roster entries (harness_configs/README.md): stock models
    baselines: [count, retrieve]       # medlc-baseline methods
    settings: {...}                    # a harness config's settings, for every pair
    tasks: [medlc_closedbook_cloze, medlc_openbook_cloze_1k]

Every section keeps the schema it has elsewhere: `data` and `finetune` are read with
finetune.config's dataclasses, `compare` and `settings` with medlc.runner.config's, so a
key means the same in a study as in `medlc finetune` or `medlc run`. From it the study
derives the fine-tuning base config and sweep (`derived.py`) and, once the sweep has
saved its checkpoints, the harness config that scores them: the checkpoint paths come
from one place, finetune.recipe.saved_model_dir.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from finetune.config import AdapterConfig, DataConfig, ModelConfig, OptimConfig, RuntimeConfig
from medlc.runner.config import Kind, ModelSpec, Requirement, Settings
from medlc_core.config import ConfigError, apply_sets, build, check, expect, read_yaml

Method = Literal["count", "retrieve", "random"]
GRID_KEYS = ("general_fraction", "n")  # DataConfig keys the grid sets, never the study's data


@dataclass(frozen=True)
class BaseModel:
    """The model every checkpoint is tuned from; scored itself as the volume-0 point."""

    pretrained: str = field(metadata=expect("a model: hub id, folder, bundled name or .gguf file"))
    name: str = ""  # display name; "" -> pretrained
    gguf_file: str | None = None
    revision: str | None = None
    kind: Kind = "general"
    requires: tuple[Requirement, ...] = ()  # as a roster entry's: [hub], [gpu]
    # Scoring arguments for the base and every checkpoint (e.g. dtype); finetune's own
    # `finetune.model` section says how it is loaded for training.
    model_args: dict[str, Any] = field(default_factory=dict)
    apply_chat_template: bool | None = None


@dataclass(frozen=True)
class Grid:
    general_fractions: tuple[float, ...] = field(metadata=expect("a non-empty list of fractions in [0, 1]"))
    ns: tuple[int, ...] = field(metadata=expect("a non-empty list of training-set sizes"))


@dataclass(frozen=True)
class FinetuneSettings:
    """finetune's config less the model it starts from, the data and where it writes."""

    seed: int = 0
    model: dict[str, Any] = field(default_factory=dict)  # finetune.model less pretrained/gguf_file
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


@dataclass(frozen=True)
class Estimate:
    """Reference rates for the dry run's cost estimate; the defaults are this project's
    2-core CPU with Gemma 3 270M in float32 (finetune/README.md, benchmarks/README.md)."""

    train_tokens_per_second: float = 20.0
    score_tokens_per_second: float = 375.0
    seconds_per_item: float = 0.3  # besides the prompt's tokens: options, bookkeeping
    seconds_per_model_load: float = 10.0
    chars_per_token: float = 1.1  # Chinese exam text in Gemma's tokenizer


@dataclass(frozen=True)
class StudyConfig:
    base_model: BaseModel
    data: dict[str, Any] = field(metadata=expect("finetune's data section (sources, max_length, ...)"))
    grid: Grid
    tasks: tuple[str, ...] = field(metadata=expect("a non-empty list of lm-eval task or group names"))
    output_dir: str = field(metadata=expect("a folder for the study's checkpoints, results and report"))
    name: str = ""  # "": the file's stem
    description: str = ""
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)
    compare: tuple[dict[str, Any], ...] = ()  # roster entries, checked as a roster checks them
    baselines: tuple[Method, ...] = ()
    settings: Settings = field(default_factory=Settings)
    estimate: Estimate = field(default_factory=Estimate)
    path: Path = field(default=Path(), metadata={"not_in_file": True})
    text: str = field(default="", metadata={"not_in_file": True})
    overrides: tuple[str, ...] = field(default=(), metadata={"not_in_file": True})

    @property
    def base_name(self) -> str:
        return self.base_model.name or self.base_model.pretrained

    @property
    def root(self) -> Path:
        return Path(self.output_dir)


def _check(config: StudyConfig) -> None:
    path = config.path

    def rule(ok: bool, key: str, expected: str, got: Any = None) -> None:
        check(ok, path, key, expected, got)

    grid = config.grid
    rule(bool(grid.general_fractions), "grid.general_fractions", "a non-empty list", [])
    rule(bool(grid.ns), "grid.ns", "a non-empty list", [])
    for i, fraction in enumerate(grid.general_fractions):
        rule(0 <= fraction <= 1, f"grid.general_fractions[{i}]", "a fraction in [0, 1]", fraction)
    for i, n in enumerate(grid.ns):
        rule(n >= 1, f"grid.ns[{i}]", "an integer >= 1", n)
    rule(
        len(set(grid.general_fractions)) == len(grid.general_fractions), "grid.general_fractions", "each once"
    )
    rule(len(set(grid.ns)) == len(grid.ns), "grid.ns", "each once", list(grid.ns))
    for key in GRID_KEYS:
        rule(key not in config.data, f"data.{key}", "no value here: the grid sets it for every point")
    # The data section is finetune's DataConfig: its types are checked with finetune's schema.
    build(DataConfig, {**config.data, "general_fraction": 0.0, "n": 1}, path, "data")
    for reserved in ("pretrained", "gguf_file"):
        rule(reserved not in config.finetune.model, f"finetune.model.{reserved}", "it in base_model")
    base = {"pretrained": config.base_model.pretrained, **config.finetune.model}
    build(ModelConfig, base, path, "finetune.model")
    rule(bool(config.tasks), "tasks", "a non-empty list of lm-eval task or group names", [])
    rule(len(set(config.baselines)) == len(config.baselines), "baselines", "each method once")
    for i, entry in enumerate(config.compare):
        build(ModelSpec, entry, path, f"compare[{i}]")
        rule(
            entry.get("kind") != "mixture",
            f"compare[{i}].kind",
            "general, medical or baseline (the grid makes the mixtures)",
        )


def parse_study(path: Path, text: str, overrides: tuple[str, ...] = ()) -> StudyConfig:
    """Validate a study's text (plus `--set` edits); `path` names the file in errors."""
    from medlc_core.config import parse_yaml

    data = apply_sets(parse_yaml(text, path), overrides, path)
    config = build(StudyConfig, data, path, path=path, text=text, overrides=tuple(overrides))
    config = dataclasses.replace(config, name=config.name or path.stem)
    _check(config)
    return config


def load_study(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> StudyConfig:
    """Read and validate a study file, with `--set KEY=VALUE` edits applied on top."""
    path = Path(path)
    text, _ = read_yaml(path, "study file")
    return parse_study(path, text, tuple(overrides))


__all__ = ["BaseModel", "ConfigError", "Estimate", "Grid", "StudyConfig", "load_study", "parse_study"]
