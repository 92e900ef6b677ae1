"""The one YAML-to-dataclass reader: a config's schema is its dataclasses, written once.

`build(cls, data, file)` checks a parsed YAML mapping against the type hints of `cls`
(recursively: nested dataclasses, lists, tuples, mappings, Literal choices, unions) and
builds it. Every error names the file, the key path and what was expected:

    configs/x.yaml: optim.lr: expected a number, got 'fast'
    cfg.yaml: roster[2].kind: expected one of ['general', 'medical', 'mixture'], got 'base'

A field may say in words what it expects (`field(metadata=expect("a positive count"))`),
and a field marked `field(metadata=NOT_IN_FILE)` is never read from YAML (the loader
passes it). Rules that span several values are checked after building, with `check`.

`--set KEY=VALUE` edits (`apply_sets`) change the parsed YAML before it is checked, so
an edited value is validated exactly like a written one.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from medlc_core.errors import UserError

T = TypeVar("T")
NOT_IN_FILE = {"not_in_file": True}
_MISSING = object()
# PyYAML (YAML 1.1) reads `1e-4` as a string; it is too common a way to write a number
# (a learning rate) to refuse.
_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(UserError, ValueError):
    """A config file, or a `--set` edit of one, that does not match its schema."""


def expect(text: str) -> dict[str, str]:
    """Field metadata saying in words what a key takes, used in its type errors."""
    return {"expected": text}


def fail(file: str | Path, key: str, expected: str, got: Any = _MISSING) -> ConfigError:
    """The error for `key` in `file`: `file: key: expected ..., got ...`."""
    shown = "" if got is _MISSING else f", got {got!r}"
    return ConfigError(f"{file}: {key or '(top level)'}: expected {expected}{shown}")


def check(condition: bool, file: str | Path, key: str, expected: str, got: Any = _MISSING) -> None:
    """Raise `fail(...)` unless `condition`: for rules that span more than one value."""
    if not condition:
        raise fail(file, key, expected, got)


def describe(tp: Any) -> str:
    """What a type hint accepts, in words: `a list of an integer`, `one of ['a', 'b']`."""
    origin = typing.get_origin(tp)
    simple = {bool: "true or false", int: "an integer", float: "a number", str: "a string", Any: "any value"}
    if tp in simple:
        return simple[tp]
    if origin is Literal:
        return f"one of {list(typing.get_args(tp))}"
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"a list of {describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping to {describe(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {_keys(tp)}"
    return str(tp)


def _keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if not f.metadata.get("not_in_file")]


def _convert(tp: Any, value: Any, key: str, file: str, expected: str | None = None) -> Any:
    def wrong() -> ConfigError:
        return fail(file, key, expected or describe(tp), value)

    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise wrong()
        return build(tp, value, file, key)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        for option in typing.get_args(tp):
            if option is type(None):
                continue
            try:
                return _convert(option, value, key, file)
            except ConfigError:
                continue
        raise wrong()
    if origin is Literal:
        # YAML 1.1 reads a bare `no` as false; accept it where "no" is a valid choice.
        if value is False and "no" in typing.get_args(tp):
            return "no"
        if isinstance(value, bool) or value not in typing.get_args(tp):
            raise wrong()
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise wrong()
        item = typing.get_args(tp)[0]
        items = [_convert(item, v, f"{key}[{i}]", file) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong()
        item = typing.get_args(tp)[1]
        return {str(k): _convert(item, v, f"{key}.{k}", file) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is int:
        # YAML `true` is an int to isinstance; never let it pass as a number.
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if tp is float:
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    raise TypeError(f"unsupported config type {tp}")  # a schema bug, not a user error


def build(cls: type[T], data: Any, file: str | Path, prefix: str = "", **given: Any) -> T:
    """Check a parsed YAML mapping against dataclass `cls` (recursively) and build it.

    `prefix` is the key path of `data` in its file (e.g. `roster[1]`), for errors; `given`
    supplies the fields marked NOT_IN_FILE. A null section (`settings:` with nothing under
    it) takes its default, like an absent one.
    """
    file = str(file)
    if not isinstance(data, dict):
        raise fail(file, prefix, f"a mapping with keys {_keys(cls)}", type(data).__name__)
    hints = typing.get_type_hints(cls)
    names = _keys(cls)
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(f"{file}: {where}: unknown key; expected one of {sorted(names)}")
    kwargs = dict(given)
    for f in dataclasses.fields(cls):
        if f.metadata.get("not_in_file"):
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        value = data.get(f.name, _MISSING)
        if value is None and has_default and dataclasses.is_dataclass(hints[f.name]):
            value = _MISSING
        if value is not _MISSING:
            kwargs[f.name] = _convert(hints[f.name], value, key, file, f.metadata.get("expected"))
        elif not has_default:
            expected = f.metadata.get("expected") or describe(hints[f.name])
            raise ConfigError(f"{file}: {key}: missing; expected {expected}")
    return cls(**kwargs)


def parse_yaml(text: str, file: str | Path) -> Any:
    """YAML text -> Python data; a syntax error names the file, line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{file}: not valid YAML{where}: {problem}") from err


def read_yaml(path: str | Path, what: str = "config file") -> tuple[str, Any]:
    """A YAML file's exact text (recorded beside results) and its parsed data."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: expected UTF-8 text ({err.reason} at byte {err.start})") from err
    return text, parse_yaml(text, path)


def apply_set(data: Any, assignment: str, file: str | Path) -> Any:
    """Apply one `--set dotted.key=value` edit to parsed YAML and return the data.

    The value is read as YAML (`50`, `null`, `[a, b]`); list items are addressed by index
    (`roster.0.pretrained=x`); missing or null mappings on the way are created.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{file}: --set {assignment!r}: expected KEY=VALUE, e.g. settings.limit=50")
    value = parse_yaml(raw, f"{file}: --set {key}")
    parts = key.strip().split(".")
    data = {} if data is None else data
    node = data
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{file}: --set {where}: expected a list index below {len(node)}")
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
        else:
            parent = ".".join(parts[:depth]) or "(top level)"
            raise ConfigError(f"{file}: --set {where}: {parent} is {node!r}, not a mapping or list")
        if depth == len(parts) - 1:
            node[index] = value
        else:
            if isinstance(node, dict) and node.get(index) is None:
                node[index] = {}
            node = node[index]
    return data


def apply_sets(data: Any, assignments: typing.Iterable[str], file: str | Path) -> Any:
    """Apply `--set` edits in order; later edits win."""
    for assignment in assignments:
        data = apply_set(data, assignment, file)
    return data
