"""Load exam items from CMExam CSV, MedQA JSONL, medlc JSONL or any mapped JSON/JSONL/CSV.

Every row ends as an `ExamItem` or as a counted `Drop` with its reason; nothing disappears.
With `strict=True` (the default, and the CLI's) the first bad row stops the load with a
`SourceError` naming the file, the row and the problem, because a silently smaller exam
is worse than no exam. `strict=False` turns those errors into drops that the manifest lists.
Errors that make the rest of a file unreadable (an unclosed CSV quote, malformed JSON list,
an unreadable header, a JSON object where a list was expected), a file with no records and
a mapping naming a column the file lacks always raise.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlc_core.provenance import sha256_file
from medlc_tasks.exam.fields import (
    RowError,
    conflict_terms,
    letter_of_answer_text,
    option_aliases,
    parse_answer,
    parse_options,
    text_of,
)
from medlc_tasks.exam.records import Row, container_of, csv_header, iter_rows
from medlc_tasks.exam.schema import ExamItem
from medlc_tasks.exam.support import CONFLICT_TERMS, OPTION_ALIASES
from medlc_tasks.exam.textnorm import SourceError, decode_bytes, normalize

FORMATS = ("auto", "medlc", "cmexam", "medqa", "mapped")
MAPPABLE_FIELDS = ("id", "question", "options", "answer", "evidence", "department", "difficulty")
REQUIRED_MAPPED = ("question", "options", "answer")
CMEXAM_MAPPING = {
    "question": "Question",
    "options": "Options",
    "answer": "Answer",
    "evidence": "Explanation",
    "department": "Clinical Department|Department",
    "difficulty": "Difficulty level|Difficulty",
    "id": "id|ID",
}
MEDQA_MAPPING = {
    "question": "question",
    "options": "options",
    "answer": "answer_idx",
    "evidence": "explanation|evidence",
    "id": "id",
}
_MEDLC_FIELDS = {
    "id", "question", "options", "answer", "evidence", "department", "difficulty", "counterfactual",
    "contradicts_common_knowledge", "common_knowledge_answer", "anchors", "meta",
}  # fmt: skip
_REQUIRED_MEDLC = ("id", "question", "options", "answer", "evidence")


@dataclass(frozen=True)
class Drop:
    """An input row that is not in the exam, and why."""

    source: str
    row: int
    item_id: str
    kind: str  # a stable key for counting: missing_answer, duplicate_id, ...
    reason: str  # the human sentence, with the row's location


@dataclass
class LoadResult:
    source: str  # file name
    sha256: str
    format: str
    encoding: str
    mapping: dict[str, str] | None  # field -> column(s) read; None for the native medlc format
    rows_read: int = 0
    undecodable_bytes: int = 0
    # Option slots whose text was empty (a 4-option item exported with E = ""), removed
    # from kept items; counted, since such an item is normal and not a malformed row.
    empty_options_removed: int = 0
    items: list[ExamItem] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        options = Counter(str(len(item.options)) for item in self.items)
        return {
            "rows_read": self.rows_read,
            "kept": len(self.items),
            "dropped": len(self.drops),
            "multi_answer_kept": sum(item.is_multi_answer for item in self.items),
            "empty_options_removed": self.empty_options_removed,
            "options": dict(sorted(options.items())),
            "drop_kinds": dict(sorted(Counter(drop.kind for drop in self.drops).items())),
        }


def parse_mapping(spec: str) -> dict[str, str]:
    """`question=题干,options=选项,answer=答案` -> a dict, checked against the known fields."""
    mapping: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or not column:
            raise SourceError("--map", repr(part), "expected field=column")
        if key not in MAPPABLE_FIELDS:
            raise SourceError(
                "--map", repr(part), f"unknown field {key!r}; expected one of {MAPPABLE_FIELDS}"
            )
        mapping[key] = column
    missing = [key for key in REQUIRED_MAPPED if key not in mapping]
    if missing:
        raise SourceError("--map", spec, f"missing field(s) {missing}; a mapping needs {REQUIRED_MAPPED}")
    return mapping


def load_items(
    path: str | Path,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    encoding: str = "auto",
    strict: bool = True,
    drop_multi_answer: bool = False,
) -> LoadResult:
    """Read one exam source file into normalised items plus counted drops."""
    path = Path(path)
    if fmt not in FORMATS:
        raise SourceError(path.name, "format", f"unknown format {fmt!r}; expected one of {FORMATS}")
    if not path.is_file():
        raise SourceError(str(path), "file", "no such file")
    decoded = decode_bytes(path.read_bytes(), path.name, encoding, strict)
    container = container_of(path, decoded.text)
    rows = list(iter_rows(path, decoded.text, container))
    if not rows:
        # A file that contributes nothing is a wrong file, not a row to drop.
        raise SourceError(path.name, "records", f"no records: {_EMPTY_CONTAINER[container]}")
    fmt, column_map = _resolve_format(path, decoded.text, container, rows, fmt, mapping)
    # The manifest records the column mapping actually used, built-in ones included.
    result = LoadResult(path.name, sha256_file(path), fmt, decoded.encoding, column_map)
    result.undecodable_bytes = decoded.undecodable_bytes
    first_seen: dict[str, str] = {}
    for row in rows:
        result.rows_read += 1
        guess_id = f"{path.stem}-{row.number}"
        try:
            item, empty_options = _parse_row(row, fmt, column_map, guess_id)
            if item.id in first_seen:
                raise RowError("duplicate_id", f"duplicate id {item.id!r} (first at {first_seen[item.id]})")
            first_seen[item.id] = row.where
        except RowError as err:
            if strict:
                raise SourceError(path.name, row.where, str(err)) from None
            item_id = _row_id(row.fields, column_map) or guess_id
            result.drops.append(Drop(path.name, row.number, item_id, err.kind, f"{row.where}: {err}"))
            continue
        if drop_multi_answer and item.is_multi_answer:
            reason = f"{row.where}: multi-answer item {item.answer!r} filtered by request"
            result.drops.append(Drop(path.name, row.number, item.id, "multi_answer_filtered", reason))
            continue
        item.source, item.source_row = path.name, row.number
        result.empty_options_removed += empty_options
        result.items.append(item)
    return result


_EMPTY_CONTAINER = {
    "csv": "the CSV has a header and no data rows",
    "json": "the JSON list is empty",
    "jsonl": "no line holds a record",
}


def _row_id(fields: dict[str, Any] | None, column_map: dict[str, str] | None) -> str:
    """The id a row gives itself (the mapped id column, or `id`), for naming a dropped row."""
    value = _pick(fields or {}, "id" if column_map is None else column_map.get("id"))
    return "" if value is None or isinstance(value, (dict, list)) else normalize(str(value))


def _resolve_format(
    path: Path, text: str, container: str, rows: list[Row], fmt: str, mapping: dict[str, str] | None
) -> tuple[str, dict[str, str] | None]:
    """The format to read with and its column mapping (None for the native medlc format)."""
    if mapping is not None and fmt not in ("auto", "mapped"):
        raise SourceError(path.name, "format", f"a field mapping applies to format 'mapped', not {fmt!r}")
    if fmt == "auto":
        fmt = "mapped" if mapping is not None else _detect_format(path, text, container, rows)
    if fmt == "mapped":
        if mapping is None:
            needed = "a field mapping (--map question=...,options=...,answer=...)"
            raise SourceError(path.name, "format", f"format 'mapped' needs {needed}")
        if container == "csv":
            _check_columns(path, "line 1", "column", csv_header(path, text), mapping)
        else:
            keys = list(dict.fromkeys(key for row in rows if row.fields is not None for key in row.fields))
            _check_columns(path, "records", "key", keys, mapping)
        return fmt, dict(mapping)
    return fmt, {"cmexam": CMEXAM_MAPPING, "medqa": MEDQA_MAPPING}.get(fmt)


def _parse_row(row: Row, fmt: str, column_map: dict[str, str] | None, guess_id: str) -> tuple[ExamItem, int]:
    """The row's item and how many empty option slots were removed from it."""
    if row.fields is None:
        raise RowError("malformed_row", row.problem)
    _reject_undecodable(row.fields)
    if column_map is None:
        return _medlc_item(row.fields)
    return _mapped_item(row.fields, column_map, fmt, guess_id)


def _detect_format(path: Path, text: str, container: str, rows: list[Row]) -> str:
    if container == "csv":
        header = set(csv_header(path, text))
        if {"Question", "Options", "Answer"} <= header:
            return "cmexam"
        raise SourceError(
            path.name,
            "line 1",
            f"cannot detect the format from columns {sorted(header)}; pass --format and --map",
        )
    first = next((row.fields for row in rows if row.fields is not None), None)
    if first is None:
        raise SourceError(path.name, "format", "no readable rows to detect the format from; pass --format")
    if "answer_idx" in first:
        return "medqa"
    if set(_REQUIRED_MEDLC) <= set(first):
        return "medlc"
    raise SourceError(
        path.name, "format", f"cannot detect the format from keys {sorted(first)}; pass --format and --map"
    )


def _check_columns(path: Path, where: str, noun: str, present: list[str], mapping: dict[str, str]) -> None:
    """Every column the mapping names exists: a mistyped name is an error, not N empty rows."""
    for key, spec in mapping.items():
        for part in spec.split("+"):
            if not any(column in present for column in part.split("|")):
                found = f"{noun}s are {present}"
                raise SourceError(path.name, where, f"--map {key}={spec}: no {noun} {part!r}; {found}")


def _reject_undecodable(fields: dict[str, Any]) -> None:
    if "\ufffd" in json.dumps(fields, ensure_ascii=False):
        raise RowError("undecodable", "undecodable bytes in this row (replaced with U+FFFD)")


def _pick(fields: dict[str, Any], spec: str | None) -> Any:
    """The value of the first listed column present (`a|b` means a, else b)."""
    if spec is None:
        return None
    for column in spec.split("|"):
        if column in fields:
            return fields[column]
    return None


# A mapped row without one of these columns fails with this kind, naming the column.
_MISSING_KIND = {"question": "empty_question", "options": "no_option_text", "answer": "missing_answer"}


def _mapped_item(
    fields: dict[str, Any], mapping: dict[str, str], fmt: str, guess_id: str
) -> tuple[ExamItem, int]:
    for key, kind in _MISSING_KIND.items():
        spec = mapping[key]
        # MedQA rows without answer_idx are read from their answer text instead.
        medqa_answer_text = key == "answer" and fmt == "medqa" and "answer" in fields
        present = "+" in spec or any(column in fields for column in spec.split("|"))
        if not present and not medqa_answer_text:
            raise RowError(kind, f"this record has no {key} (no key {spec!r})")
    options_spec = mapping["options"]
    if "+" in options_spec:  # one column per option, in letter order
        raw_options: Any = [fields.get(column, "") for column in options_spec.split("+")]
    else:
        raw_options = _pick(fields, options_spec)
    question = text_of(_pick(fields, mapping["question"]))
    if not question:
        raise RowError("empty_question", "empty question")
    options, empty = parse_options(raw_options)
    answer_raw = _pick(fields, mapping["answer"])
    if fmt == "medqa" and not text_of(answer_raw):
        answer_raw = letter_of_answer_text(fields.get("answer"), options)
    answer = parse_answer(answer_raw, options, empty)
    used = {column for spec in mapping.values() for part in spec.split("+") for column in part.split("|")}
    meta = {key: value for key, value in fields.items() if key not in used and value not in ("", None)}
    item = ExamItem(
        id=text_of(_pick(fields, mapping.get("id"))) or guess_id,
        question=question,
        options=options,
        answer=answer,
        evidence=text_of(_pick(fields, mapping.get("evidence"))),
        department=text_of(_pick(fields, mapping.get("department"))),
        difficulty=text_of(_pick(fields, mapping.get("difficulty"))),
        meta=meta,
    )
    return item, len(empty)


def _medlc_item(fields: dict[str, Any]) -> tuple[ExamItem, int]:
    unknown = sorted(set(fields) - _MEDLC_FIELDS)
    if unknown:
        raise RowError("malformed_row", f"unknown key(s) {unknown}; extra data belongs under 'meta'")
    question = text_of(fields.get("question"))
    if not question:
        raise RowError("empty_question", "empty question")
    item_id = text_of(fields.get("id"))
    if not item_id:
        raise RowError("malformed_row", "missing id")
    options, empty = parse_options(fields.get("options"))
    answer = parse_answer(fields.get("answer"), options, empty)
    anchors = fields.get("anchors", [])
    if not isinstance(anchors, list) or not all(isinstance(a, str) for a in anchors):
        raise RowError("malformed_row", "'anchors' must be a list of strings")
    flags = {}
    for key in ("counterfactual", "contradicts_common_knowledge"):
        flags[key] = fields.get(key, False)
        if not isinstance(flags[key], bool):
            raise RowError("malformed_row", f"{key!r} must be true or false, got {flags[key]!r}")
    common = fields.get("common_knowledge_answer") or ""
    common = parse_answer(common, options, empty) if common else ""
    if flags["contradicts_common_knowledge"] and (not common or common == answer):
        raise RowError(
            "malformed_row",
            "contradicts_common_knowledge needs a common_knowledge_answer that differs from the key",
        )
    meta = fields.get("meta", {})
    if not isinstance(meta, dict):
        raise RowError("malformed_row", "'meta' must be an object")
    if OPTION_ALIASES in meta:
        meta = {**meta, OPTION_ALIASES: option_aliases(meta[OPTION_ALIASES], options)}
    if CONFLICT_TERMS in meta:
        meta = {**meta, CONFLICT_TERMS: conflict_terms(meta[CONFLICT_TERMS])}
    item = ExamItem(
        id=item_id,
        question=question,
        options=options,
        answer=answer,
        evidence=text_of(fields.get("evidence")),
        department=text_of(fields.get("department")),
        difficulty=text_of(fields.get("difficulty")),
        counterfactual=flags["counterfactual"],
        contradicts_common_knowledge=flags["contradicts_common_knowledge"],
        common_knowledge_answer=common,
        anchors=[normalize(anchor) for anchor in anchors if normalize(anchor)],
        meta=meta,
    )
    return item, len(empty)
