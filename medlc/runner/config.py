"""Harness configs: which models, which tasks, and the lm-eval settings they share.

A config is YAML with three sections, validated on load; every error names the file, the
key path (e.g. `roster[2].kind`) and what was expected:

    settings: {backend, batch_size, device, seed, limit, ...}   # shared by every pair
    roster:   [{name, kind, pretrained | checkpoints, ...}]      # the models
    tasks:    [medlc_closedbook, medlc_openbook, ...]            # tasks or groups

See harness_configs/README.md for every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medlc_core.provenance import sha256_text

KINDS = ("general", "medical", "mixture")
BACKENDS = ("medlc-hf", "hf")
REQUIREMENTS = ("hub", "gpu")


class ConfigError(ValueError):
    """A harness config that cannot be used; the message names file, key and expectation."""


@dataclass(frozen=True)
class ModelSpec:
    """One roster entry as written. `checkpoints` entries expand to many models later."""

    name: str
    kind: str
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
    requires: tuple[str, ...] = ()
    key: str = ""  # where it was written, e.g. "roster[1]", for error messages


@dataclass(frozen=True)
class Settings:
    backend: str = "medlc-hf"
    batch_size: int | str = 1
    device: str | None = None  # None: cuda when available, else cpu
    seed: int = 1234
    limit: int | float | None = None  # lm-eval's limit: the first N items of each task
    # N items spread evenly over each task (item i*n//N), the same items for every model;
    # unlike `limit`, a subset that spans departments and depths of an ordered exam.
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
    path: Path
    text: str  # the file exactly as read, recorded beside every result
    overrides: tuple[str, ...]  # command-line KEY=VALUE edits applied on top of `text`
    name: str
    description: str
    settings: Settings
    roster: tuple[ModelSpec, ...]
    tasks: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return sha256_text(self.text + "".join("\n--set " + o for o in self.overrides))


class _Reader:
    """Typed access to one mapping of the YAML, raising ConfigError with file and key."""

    def __init__(self, path: Path, data: Any, prefix: str):
        self.path, self.prefix = path, prefix
        if not isinstance(data, dict):
            self.fail("", f"a mapping, got {type(data).__name__}")
        self.data: dict[str, Any] = data

    def where(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)

    def fail(self, key: str, expected: str) -> None:
        raise ConfigError(f"{self.path}: {self.where(key) or '(top level)'}: expected {expected}")

    def check_keys(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            self.fail(unknown[0], f"one of the keys {sorted(allowed)}; '{unknown[0]}' is unknown")

    def get(self, key: str, types: tuple[type, ...], default: Any = None, what: str = "") -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        # YAML `true` is an int to isinstance; never let it pass as a number.
        if isinstance(value, bool) and bool not in types:
            self.fail(key, f"{what or ' or '.join(t.__name__ for t in types)}, got {value!r}")
        if not isinstance(value, types):
            self.fail(key, f"{what or ' or '.join(t.__name__ for t in types)}, got {value!r}")
        return value

    def required(self, key: str, types: tuple[type, ...], what: str = "") -> Any:
        if self.data.get(key) is None:
            self.fail(key, f"{what or types[0].__name__} (required)")
        return self.get(key, types, what=what)

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.get(key, (str,), default)
        if value not in choices:
            self.fail(key, f"one of {list(choices)}, got {value!r}")
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        value = self.get(key, (list,), [])
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{key}[{i}]", f"a non-empty string, got {item!r}")
        return tuple(value)


def _settings(path: Path, data: Any) -> Settings:
    r = _Reader(path, data if data is not None else {}, "settings")
    r.check_keys({f for f in Settings.__dataclass_fields__})
    batch_size = r.get("batch_size", (int, str), 1)
    if isinstance(batch_size, int) and batch_size < 1 or (
        isinstance(batch_size, str) and not batch_size.startswith("auto")
    ):
        r.fail("batch_size", f"a positive integer or 'auto' / 'auto:N', got {batch_size!r}")
    limit = r.get("limit", (int, float), None, what="a positive count or a fraction in (0, 1]")
    if limit is not None and (limit <= 0 or isinstance(limit, float) and limit > 1):
        r.fail("limit", f"a positive count or a fraction in (0, 1], got {limit!r}")
    sample_items = r.get("sample_items", (int,), None)
    if sample_items is not None and sample_items < 1:
        r.fail("sample_items", f"a positive count, got {sample_items}")
    if sample_items is not None and limit is not None:
        r.fail("sample_items", "either `limit` (first N items) or `sample_items` (N spread items), not both")
    few = r.get("num_fewshot", (int,), None)
    if few is not None and few < 0:
        r.fail("num_fewshot", f"a count >= 0, got {few}")
    iters = r.get("bootstrap_iters", (int,), 100_000)
    if iters < 0:
        r.fail("bootstrap_iters", f"a count >= 0, got {iters}")
    return Settings(
        backend=r.choice("backend", BACKENDS, "medlc-hf"),
        batch_size=batch_size,
        device=r.get("device", (str,), None),
        seed=r.get("seed", (int,), 1234),
        limit=limit,
        sample_items=sample_items,
        num_fewshot=few,
        apply_chat_template=r.get("apply_chat_template", (bool,), False),
        system_instruction=r.get("system_instruction", (str,), None),
        gen_kwargs=r.get("gen_kwargs", (dict,), None),
        model_args=r.get("model_args", (dict,), {}),
        exam_dir=r.get("exam_dir", (str,), None),
        include_paths=r.str_list("include_paths"),
        bootstrap_iters=iters,
        compress_samples=r.get("compress_samples", (bool,), False),
    )


def _model(path: Path, data: Any, key: str) -> ModelSpec:
    r = _Reader(path, data, key)
    r.check_keys({f for f in ModelSpec.__dataclass_fields__} - {"key"})
    name = r.required("name", (str,), "a display name")
    kind = r.choice("kind", KINDS)
    pretrained, checkpoints = r.get("pretrained", (str,)), r.get("checkpoints", (str,))
    if pretrained is None and checkpoints is None:
        r.fail("pretrained", "a model (hub id, folder, bundled name) or a `checkpoints` glob")
    if checkpoints is not None and kind != "mixture":
        r.fail("kind", f"'mixture' for a `checkpoints` glob, got {kind!r}")
    if checkpoints is not None and data.get("peft") is not None:
        r.fail("peft", "no `peft` beside `checkpoints`: each checkpoint folder is its adapter")
    fraction = r.get("general_fraction", (int, float), None)
    if fraction is not None and not 0 <= fraction <= 1:
        r.fail("general_fraction", f"a fraction in [0, 1], got {fraction}")
    n = r.get("n", (int,), None)
    if n is not None and n < 0:
        r.fail("n", f"a count >= 0, got {n}")
    requires = r.str_list("requires")
    for i, item in enumerate(requires):
        if item not in REQUIREMENTS:
            r.fail(f"requires[{i}]", f"one of {list(REQUIREMENTS)}, got {item!r}")
    model_args = r.get("model_args", (dict,), {})
    for reserved in ("pretrained", "peft", "gguf_file", "revision"):
        if reserved in model_args:
            r.fail(f"model_args.{reserved}", f"`{reserved}` as its own roster key, not in model_args")
    return ModelSpec(
        name=name,
        kind=kind,
        pretrained=pretrained,
        gguf_file=r.get("gguf_file", (str,)),
        peft=r.get("peft", (str,)),
        revision=r.get("revision", (str,)),
        checkpoints=checkpoints,
        model_args=model_args,
        apply_chat_template=r.get("apply_chat_template", (bool,), None),
        general_fraction=None if fraction is None else float(fraction),
        n=n,
        requires=requires,
        key=key,
    )


def apply_override(path: Path, data: Any, override: str) -> None:
    """Apply one `dotted.key=value` edit (value parsed as YAML; list items by index),
    e.g. `roster.0.pretrained=runs/new/adapter` or `settings.limit=50`."""
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {override!r}: expected KEY=VALUE, e.g. settings.limit=50")
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{path}: --set {where}: expected a list index below {len(node)}")
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
            if not last and not isinstance(node.get(part), (dict, list)):
                node[part] = {}
        else:
            raise ConfigError(f"{path}: --set {where}: {'.'.join(parts[:depth])} is not a mapping or list")
        if last:
            node[index] = yaml.safe_load(raw)
        else:
            node = node[index]


def parse_config(path: Path, text: str, overrides: tuple[str, ...] = ()) -> HarnessConfig:
    """Validate a config's text (plus `--set` overrides); `path` names the file in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    for override in overrides:
        if not isinstance(data, dict):
            break
        apply_override(path, data, override)
    top = _Reader(path, data, "")
    top.check_keys({"name", "description", "settings", "roster", "tasks"})
    roster_data = top.required("roster", (list,), "a list of models")
    if not roster_data:
        top.fail("roster", "at least one model")
    roster = tuple(_model(path, item, f"roster[{i}]") for i, item in enumerate(roster_data))
    names = [m.name for m in roster]
    for i, name in enumerate(names):
        if name in names[:i]:
            top.fail(f"roster[{i}].name", f"a unique display name; {name!r} is used twice")
    tasks = top.str_list("tasks")
    if not tasks:
        top.fail("tasks", "a non-empty list of lm-eval task or group names")
    if len(set(tasks)) != len(tasks):
        top.fail("tasks", "each task once")
    return HarnessConfig(
        path=path,
        text=text,
        overrides=tuple(overrides),
        name=top.get("name", (str,), path.stem),
        description=top.get("description", (str,), ""),
        settings=_settings(path, data.get("settings")),
        roster=roster,
        tasks=tasks,
    )


def load_config(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> HarnessConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    return parse_config(path, path.read_text(encoding="utf-8"), tuple(overrides))


def packaged_config(name: str = "default") -> Path:
    """A config shipped in the `harness_configs` package, e.g. `default` or `ci_regression`."""
    import harness_configs

    return Path(harness_configs.__file__).parent / f"{name}.yaml"
