"""Data sources: read alpaca JSON, `messages` / ShareGPT JSONL or CSV in any encoding into
one shape, a `datasets.Dataset` of `{"id", "messages"}` rows.

`messages` is a list of `{"role": "system" | "user" | "assistant", "content": str}` ending
with an assistant turn. Ids are `<source name>:<n>` where n is the 1-based record number in
the file (data rows for CSV, header excluded), or the record's own `id` when it has one.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from finetune.config import SourceConfig
from medlc_core.errors import UserError
from medlc_core.provenance import sha256_file

ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
}
MAX_RECORDED_INVALID = 20


class DataError(UserError, ValueError):
    """A data file that cannot be read as configured; names the file, record and key."""


class InvalidRecord(Exception):
    """One malformed record; `key` and `expected` say what was wrong."""

    def __init__(self, key: str, expected: str, got: Any):
        super().__init__(f"{key}: expected {expected}, got {got!r}")


@dataclass
class LoadedSource:
    config: SourceConfig
    dataset: datasets.Dataset  # columns: id, messages
    sha256: str
    records: int  # records in the file
    invalid: list[dict[str, Any]] = field(default_factory=list)  # first skipped records
    invalid_count: int = 0

    @property
    def available(self) -> int:
        return len(self.dataset)


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Hide datasets' per-file progress bars; the run's own rich bar is the progress display."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _text(record: dict[str, Any], key: str, required: bool = True) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidRecord(key, "a non-empty string", value)
    return value


def _check_messages(messages: list[dict[str, str]], key: str) -> list[dict[str, str]]:
    if not messages or messages[-1]["role"] != "assistant":
        raise InvalidRecord(
            key, "a conversation ending with an assistant turn", [m["role"] for m in messages]
        )
    for i, message in enumerate(messages):
        if message["role"] == "system" and i != 0:
            raise InvalidRecord(f"{key}[{i}]", "a system message only in first position", "system")
        if not message["content"].strip():
            raise InvalidRecord(f"{key}[{i}].content", "a non-empty string", message["content"])
    return messages


def alpaca_messages(record: dict[str, Any], columns: dict) -> list[dict[str, str]]:
    """instruction (+ "\\n\\n" + input) -> user, output -> assistant; optional system and
    `history` ([[user, assistant], ...]) as in LLaMA-Factory's alpaca files."""
    instruction = _text(record, "instruction")
    extra = _text(record, "input", required=False)
    messages = []
    if _text(record, "system", required=False).strip():
        messages.append({"role": "system", "content": record["system"]})
    for i, turn in enumerate(record.get("history") or []):
        if not (isinstance(turn, (list, tuple)) and len(turn) == 2 and all(isinstance(t, str) for t in turn)):
            raise InvalidRecord(f"history[{i}]", "a [user, assistant] pair of strings", turn)
        messages += [{"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]}]
    user = instruction + ("\n\n" + extra if extra.strip() else "")
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": _text(record, "output")}]
    return _check_messages(messages, "messages")


def _turns(
    record: dict[str, Any], key: str, role_key: str, text_key: str, roles: dict[str, str]
) -> list[dict[str, str]]:
    """A list of turn objects under `key`, each naming its speaker and text, as messages."""
    turns = record.get(key)
    if not isinstance(turns, list):
        raise InvalidRecord(key, f"a list of {{{role_key}, {text_key}}}", turns)
    messages = []
    for i, turn in enumerate(turns):
        if (
            not isinstance(turn, dict)
            or turn.get(role_key) not in roles
            or not isinstance(turn.get(text_key), str)
        ):
            raise InvalidRecord(
                f"{key}[{i}]", f"{{{role_key}: one of {sorted(roles)}, {text_key}: string}}", turn
            )
        messages.append({"role": roles[turn[role_key]], "content": turn[text_key]})
    return messages


def openai_messages(record: dict[str, Any], columns: dict) -> list[dict[str, str]]:
    return _check_messages(_turns(record, "messages", "role", "content", {r: r for r in ROLES}), "messages")


def sharegpt_messages(record: dict[str, Any], columns: dict) -> list[dict[str, str]]:
    messages = _turns(record, "conversations", "from", "value", SHAREGPT_ROLES)
    if record.get("system"):
        messages.insert(0, {"role": "system", "content": _text(record, "system")})
    return _check_messages(messages, "conversations")


def csv_messages(record: dict[str, Any], columns: dict) -> list[dict[str, str]]:
    prompt_columns = columns["prompt"] if isinstance(columns["prompt"], list) else [columns["prompt"]]
    # Parts of a multi-column prompt may be empty (a title-less question); the whole may not.
    parts = [record[c].strip() for c in prompt_columns if record[c] and record[c].strip()]
    if not parts:
        raise InvalidRecord("+".join(prompt_columns), "a non-empty prompt", "")
    messages = []
    if columns.get("system") and record[columns["system"]].strip():
        messages.append({"role": "system", "content": record[columns["system"]]})
    messages.append({"role": "user", "content": "\n".join(parts)})
    messages.append({"role": "assistant", "content": _text(record, columns["response"])})
    return _check_messages(messages, "messages")


CONVERTERS: dict[str, Callable[[dict[str, Any], dict], list[dict[str, str]]]] = {
    "alpaca": alpaca_messages,
    "messages": openai_messages,
    "sharegpt": sharegpt_messages,
    "csv": csv_messages,
}


def _decode_check(path: Path, encoding: str, source: SourceConfig) -> str:
    """Decode the whole file up front so a wrong encoding fails with a line number."""
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} (byte {err.start}) is not valid {encoding}; set `encoding:` for "
            f"source {source.name!r} (Chinese files are often gb18030)"
        ) from err
    except LookupError as err:
        raise DataError(f"source {source.name!r}: encoding: unknown codec {encoding!r}") from err


def _read_raw(source: SourceConfig, path: Path, text: str) -> datasets.Dataset:
    if source.format == "csv":
        header = next(csv.reader(io.StringIO(text)), [])
        wanted = dict(source.columns)
        for key, value in wanted.items():
            for column in value if isinstance(value, list) else [value]:
                if column not in header:
                    raise DataError(f"{path}: columns.{key}: no column {column!r}; the header has {header}")
        # Every column read as text, empty cells as "" rather than NaN, so nothing is coerced.
        features = datasets.Features({c: datasets.Value("string") for c in header})
        kwargs: dict[str, Any] = dict(features=features, keep_default_na=False, na_filter=False)
        builder = "csv"
    else:
        kwargs = {}
        builder = "json"
    try:
        return datasets.load_dataset(
            builder, data_files=str(path), split="train", encoding=source.encoding, **kwargs
        )
    except Exception as err:  # datasets wraps parser errors; keep the cause, add the file
        raise DataError(f"{path}: cannot be read as {source.format}: {err}") from err


def load_source(source: SourceConfig) -> LoadedSource:
    """Read one configured file into `{"id", "messages"}` rows, validating every record."""
    path = Path(source.path)
    if not path.is_file():
        raise DataError(f"source {source.name!r}: path: no such file {path}")
    text = _decode_check(path, source.encoding, source)
    raw = _read_raw(source, path, text)
    convert = CONVERTERS[source.format]
    id_key = source.columns.get("id") if source.format == "csv" else "id"
    ids: list[str] = []
    conversations: list[list[dict[str, str]]] = []
    invalid: list[dict[str, Any]] = []
    invalid_count = 0
    seen: set[str] = set()
    for number, record in enumerate(raw, start=1):
        try:
            messages = convert(record, source.columns)
        except InvalidRecord as err:
            if source.on_invalid == "error":
                raise DataError(
                    f"{path}: record {number}: {err} (set on_invalid: skip on source {source.name!r} "
                    "to drop such records and count them in the manifest)"
                ) from None
            invalid_count += 1
            if len(invalid) < MAX_RECORDED_INVALID:
                invalid.append({"record": number, "reason": str(err)})
            continue
        own_id = record.get(id_key) if id_key else None
        example_id = f"{source.name}:{own_id if own_id not in (None, '') else number}"
        if example_id in seen:
            raise DataError(f"{path}: record {number}: {id_key}: expected a unique id, got {own_id!r} again")
        seen.add(example_id)
        ids.append(example_id)
        conversations.append(messages)
    dataset = datasets.Dataset.from_dict({"id": ids, "messages": conversations})
    return LoadedSource(source, dataset, sha256_file(path), len(raw), invalid, invalid_count)
