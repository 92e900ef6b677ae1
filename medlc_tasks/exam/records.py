"""Read the rows of a JSON, JSONL or CSV file, each with the place it came from.

The standard library's csv and json readers are used rather than `datasets`: a row must be
traceable to its file and row (and line) in every error message, and the encoding must be
the one the user stated or the builder detected, neither of which `datasets.load_dataset`
exposes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlc_tasks.exam.textnorm import SourceError

CONTAINERS = ("csv", "json", "jsonl")


@dataclass(frozen=True)
class Row:
    number: int  # 1-based: the line of a JSONL file, the record of a CSV or JSON list
    where: str  # "line 7", "row 3 (line 5)", "record 4": used in every message about it
    fields: dict[str, Any] | None  # None when the row could not be parsed
    problem: str = ""  # why `fields` is None


def container_of(path: Path, text: str) -> str:
    """csv, json (one list) or jsonl, from the suffix and, for .json, the content.

    A `.json` file is a list of records, or JSONL under another name. A file that is one
    JSON object (or any other single value) is neither, and is refused here: read as JSONL
    it would be a single record with the wrong keys.
    """
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        if text.lstrip().startswith("["):
            return "json"
        _refuse_single_json_value(path, text)
        return "jsonl"
    raise SourceError(
        path.name,
        "file name",
        f"cannot tell the layout from suffix {suffix!r}; expected .csv, .json or .jsonl",
    )


def _refuse_single_json_value(path: Path, text: str) -> None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return  # several values (JSONL), or rows that are malformed one by one
    expected = "expected a JSON list of records, or JSONL (one object per line)"
    if not isinstance(value, dict):
        raise SourceError(path.name, "top level", f"{expected}; got a single {type(value).__name__}")
    lists = [key for key, inner in value.items() if isinstance(inner, list) and inner]
    hint = f"; its key {lists[0]!r} holds a list: save that list as the file" if lists else ""
    keys = sorted(value)[:10]
    raise SourceError(path.name, "top level", f"{expected}; got one JSON object with keys {keys}{hint}")


def iter_rows(path: Path, text: str, container: str) -> Iterator[Row]:
    if container == "csv":
        yield from _csv_rows(path, text)
    elif container == "json":
        yield from _json_rows(path, text)
    else:
        yield from _jsonl_rows(text)


def csv_header(path: Path, text: str) -> list[str]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    for header in csv.reader(io.StringIO(text), delimiter=delimiter):
        return [name.strip() for name in header]
    raise SourceError(path.name, "line 1", "empty CSV: no header row")


def _csv_rows(path: Path, text: str) -> Iterator[Row]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # strict=True turns an unclosed quote into an error instead of one giant last field.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise SourceError(path.name, "line 1", "empty CSV: no header row") from None
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise SourceError(path.name, "line 1", f"header repeats column(s) {duplicated}")
    record, next_line = 0, reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # The reader cannot resynchronise after a quoting error, so the rest of the
            # file is unreadable: that is never a droppable row.
            raise SourceError(
                path.name, f"line {reader.line_num}", f"malformed CSV ({err}); rows after it cannot be read"
            ) from None
        start_line, next_line = next_line, reader.line_num + 1
        if not any(value.strip() for value in values):
            continue
        record += 1
        where = f"row {record} (line {start_line})"
        if len(values) != len(header):
            yield Row(record, where, None, f"malformed row: {len(values)} fields, header has {len(header)}")
        else:
            yield Row(record, where, dict(zip(header, values, strict=True)))


def _json_rows(path: Path, text: str) -> Iterator[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SourceError(
            path.name, f"line {err.lineno} column {err.colno}", f"malformed JSON: {err.msg}"
        ) from None
    if not isinstance(data, list):
        raise SourceError(
            path.name, "top level", f"expected a JSON list of objects, got {type(data).__name__}"
        )
    for index, value in enumerate(data, start=1):
        where = f"record {index}"
        if isinstance(value, dict):
            yield Row(index, where, value)
        else:
            yield Row(
                index, where, None, f"malformed row: expected a JSON object, got {type(value).__name__}"
            )


def _jsonl_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            yield Row(number, where, None, f"malformed JSON: {err.msg} at column {err.colno}")
            continue
        if isinstance(value, dict):
            yield Row(number, where, value)
        else:
            yield Row(
                number, where, None, f"malformed row: expected a JSON object, got {type(value).__name__}"
            )
