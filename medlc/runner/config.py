"""Harness configs: which models, which tasks, and the lm-eval settings they share.

A config is YAML with three sections, validated on load; every error names the file, the
key path (e.g. `roster[2].kind`) and what was expected:

    settings: {backend, batch_size, device, seed, limit, ...}   # shared by every pair
    roster:   [{name, kind, pretrained | checkpoints | method, ...}]  # the models
    tasks:    [medlc_closedbook, medlc_openbook, ...]            # tasks or groups

See harness_configs/README.md for every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from medlc.runner.backends import BackendName, check_spec
from medlc_core.config import (
    NOT_IN_FILE,
    ConfigError,
    apply_sets,
    build,
    check,
    expect,
    parse_yaml,
    read_yaml,
)
from medlc_core.provenance import sha256_text

__all__ = [
    "ConfigError",
    "HarnessConfig",
    "ModelSpec",
    "Settings",
    "load_config",
    "packaged_config",
    "parse_config",
]

Kind = Literal["general", "medical", "mixture", "baseline"]
# The rules of `medlc-baseline` (medlc.baselines.METHODS; a test keeps the two equal, so this
# module stays free of lm-eval).
BaselineMethod = Literal["count", "retrieve", "random"]
BASELINE_BACKEND = "medlc-baseline"
Requirement = Literal["hub", "gpu"]
RESERVED_MODEL_ARGS = ("pretrained", "peft", "gguf_file", "revision")  # roster keys of their own


@dataclass(frozen=True)
class ModelSpec:
    """One roster entry as written. `checkpoints` entries expand to many models later."""

    name: str = field(metadata=expect("a display name"))
    kind: Kind
    # Hub id, local dir, bundled name or .gguf path; with `checkpoints`, the base model
    # (default: each adapter's base_model_name_or_path).
    pretrained: str | None = None
    gguf_file: str | None = None
    peft: str | None = None  # adapter directory
    revision: str | None = None
    checkpoints: str | None = None  # glob of mixture checkpoint folders
    model_args: dict[str, Any] = field(default_factory=dict)
    apply_chat_template: bool | None = None  # None: use settings.apply_chat_template
    general_fraction: float | None = None
    n: int | None = None
    requires: tuple[Requirement, ...] = ()
    # `kind: baseline` only: the model-free rule, and its tie-break seed (default settings.seed).
    method: BaselineMethod | None = None
    seed: int | None = None
    # The lm-eval backend that scores this model (None: settings.backend); see backends.py.
    backend: BackendName | None = None
    # Where it was written, e.g. "roster[1]", for error messages.
    key: str = field(default="", metadata=NOT_IN_FILE)


@dataclass(frozen=True)
class Settings:
    backend: BackendName = "medlc-hf"
    batch_size: int | str = field(default=1, metadata=expect("a positive integer or 'auto' / 'auto:N'"))
    device: str | None = None  # None: cuda when available, else cpu
    seed: int = 1234
    # lm-eval's limit: the first N items of each task.
    limit: int | float | None = field(
        default=None, metadata=expect("a positive count or a fraction in (0, 1]")
    )
    # N items per task, stratified by depth x counterfactual x department and drawn with
    # `seed` (medlc/runner/sampling.py): the same items for every model and baseline, and,
    # unlike `limit`, a subset that spans the departments and depths of an ordered exam.
    sample_items: int | None = None
    num_fewshot: int | None = None
    apply_chat_template: bool = False
    system_instruction: str | None = None
    gen_kwargs: dict[str, Any] | None = None
    model_args: dict[str, Any] = field(default_factory=dict)  # defaults for every model
    exam_dir: str | None = None  # None: the bundled exam
    include_paths: tuple[str, ...] = ()  # extra lm-eval task folders
    bootstrap_iters: int = 100_000  # lm-eval's own stderr; the report bootstraps itself
    compress_samples: bool = False


@dataclass(frozen=True)
class HarnessConfig:
    roster: tuple[ModelSpec, ...] = field(metadata=expect("a list of models"))
    tasks: tuple[str, ...] = field(metadata=expect("a non-empty list of lm-eval task or group names"))
    name: str = ""  # "": the file's stem
    description: str = ""
    settings: Settings = field(default_factory=Settings)
    path: Path = field(default=Path(), metadata=NOT_IN_FILE)
    # The file exactly as read, recorded beside every result.
    text: str = field(default="", metadata=NOT_IN_FILE)
    # Command-line KEY=VALUE edits applied on top of `text`.
    overrides: tuple[str, ...] = field(default=(), metadata=NOT_IN_FILE)

    @property
    def sha256(self) -> str:
        return sha256_text(self.text + "".join("\n--set " + o for o in self.overrides))


def _check_settings(path: Path, s: Settings) -> None:
    def rule(ok: bool, key: str, expected: str, got: Any) -> None:
        check(ok, path, f"settings.{key}", expected, got)

    batch = s.batch_size
    rule(
        batch >= 1 if isinstance(batch, int) else batch.startswith("auto"),
        "batch_size",
        "a positive integer or 'auto' / 'auto:N'",
        batch,
    )
    if s.limit is not None:
        rule(
            s.limit > 0 and (isinstance(s.limit, int) or s.limit <= 1),
            "limit",
            "a positive count or a fraction in (0, 1]",
            s.limit,
        )
    if s.sample_items is not None:
        rule(s.sample_items >= 1, "sample_items", "a positive count", s.sample_items)
        rule(
            s.limit is None,
            "sample_items",
            "either `limit` (first N items) or `sample_items` (N stratified items), not both",
            s.limit,
        )
    if s.num_fewshot is not None:
        rule(s.num_fewshot >= 0, "num_fewshot", "a count >= 0", s.num_fewshot)
    rule(s.bootstrap_iters >= 0, "bootstrap_iters", "a count >= 0", s.bootstrap_iters)
    for i, item in enumerate(s.include_paths):
        rule(bool(item.strip()), f"include_paths[{i}]", "a non-empty string", item)


def _check_model(path: Path, m: ModelSpec, default_backend: str) -> None:
    def rule(ok: bool, key: str, expected: str, got: Any = None) -> None:
        check(ok, path, f"{m.key}.{key}", expected, got)

    rule(bool(m.name.strip()), "name", "a display name", m.name)
    if m.kind == "baseline":
        _check_baseline(path, m)
        return
    rule(m.method is None, "method", "no `method` except on a `kind: baseline` entry", m.method)
    rule(m.seed is None, "seed", "no `seed` except on a `kind: baseline` entry", m.seed)
    backend = m.backend or default_backend
    rule(
        backend != BASELINE_BACKEND,
        "backend",
        f"a model's backend; {BASELINE_BACKEND} is named by `kind: baseline` with a `method`",
        backend,
    )
    if m.checkpoints is None:
        check_spec(backend, m.pretrained, m.peft, m.model_args, f"{path}: {m.key}")
    else:
        rule(m.kind == "mixture", "kind", "'mixture' for a `checkpoints` glob", m.kind)
        rule(
            m.peft is None,
            "peft",
            "no `peft` beside `checkpoints`: each checkpoint folder is its adapter",
            m.peft,
        )
    if m.general_fraction is not None:
        rule(0 <= m.general_fraction <= 1, "general_fraction", "a fraction in [0, 1]", m.general_fraction)
    if m.n is not None:
        rule(m.n >= 0, "n", "a count >= 0", m.n)
    for reserved in RESERVED_MODEL_ARGS:
        rule(
            reserved not in m.model_args,
            f"model_args.{reserved}",
            f"`{reserved}` as its own roster key, not in model_args",
            m.model_args.get(reserved),
        )


# What a model-free baseline has no use for: it loads no weights and takes no backend arguments.
_NOT_FOR_BASELINES = (
    "pretrained",
    "gguf_file",
    "peft",
    "revision",
    "checkpoints",
    "model_args",
    "apply_chat_template",
    "general_fraction",
    "n",
    "requires",
    "backend",
)


def _check_baseline(path: Path, m: ModelSpec) -> None:
    check(m.method is not None, path, f"{m.key}.method", "a baseline rule: count, retrieve or random", None)
    for key in _NOT_FOR_BASELINES:
        value = getattr(m, key)
        check(
            value in (None, {}, ()),
            path,
            f"{m.key}.{key}",
            f"no `{key}` on a `kind: baseline` entry (a baseline takes only `method` and `seed`)",
            value,
        )


def parse_config(path: Path, text: str, overrides: tuple[str, ...] = ()) -> HarnessConfig:
    """Validate a config's text (plus `--set` overrides); `path` names the file in errors."""
    data = apply_sets(parse_yaml(text, path), overrides, path)
    config = build(HarnessConfig, data, path, path=path, text=text, overrides=tuple(overrides))
    roster = tuple(replace(m, key=f"roster[{i}]") for i, m in enumerate(config.roster))
    config = replace(config, roster=roster, name=config.name or path.stem)
    _check_settings(path, config.settings)
    check(bool(roster), path, "roster", "at least one model", [])
    for model in roster:
        _check_model(path, model, config.settings.backend)
    names = [m.name for m in roster]
    for i, name in enumerate(names):
        check(
            name not in names[:i], path, f"roster[{i}].name", f"a unique display name; {name!r} is used twice"
        )
    check(bool(config.tasks), path, "tasks", "a non-empty list of lm-eval task or group names", [])
    for i, task in enumerate(config.tasks):
        check(bool(task.strip()), path, f"tasks[{i}]", "a non-empty string", task)
    check(len(set(config.tasks)) == len(config.tasks), path, "tasks", "each task once", list(config.tasks))
    return config


def load_config(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> HarnessConfig:
    """Read and validate a harness config, with `--set KEY=VALUE` edits applied on top."""
    path = Path(path)
    text, _ = read_yaml(path)
    return parse_config(path, text, tuple(overrides))


def packaged_config(name: str = "default") -> Path:
    """A config shipped in the `harness_configs` package, e.g. `default` or `ci_regression`."""
    import harness_configs

    return Path(harness_configs.__file__).parent / f"{name}.yaml"
