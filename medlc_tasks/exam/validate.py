"""Check a built exam: every book honest, every record consistent, every file as recorded.

The content checks call the same functions the builder used to choose passages (support.py,
leaks.py, book.depth_tolerance), with the thresholds the manifest recorded, so the validator
judges a book by the rules it was built under. It also catches what a later hand edit or a
different tool might have broken: a tampered file, a moved gold passage, a leaked letter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from medlc_core.provenance import sha256_file
from medlc_tasks.exam.balance import BucketFigures, ShortcutLimits, bucket_figures, record_facts
from medlc_tasks.exam.book import depth_tolerance
from medlc_tasks.exam.leaks import find_leaks
from medlc_tasks.exam.schema import DEPTHS, PASSAGE_SEPARATOR, BuiltRecord
from medlc_tasks.exam.store import CLOSED_BUCKET, ExamDirError, read_manifest, read_records
from medlc_tasks.exam.support import (
    ItemFacts,
    SupportRules,
    distractor_conflict,
    is_near_duplicate,
    missing_key_options,
)
from medlc_tasks.exam.textnorm import char_ngrams, match_key

# Bucket-level limits on answering without reading (balance.py); problems only where the
# exam's manifest enforces them (the bundled exam), warnings otherwise.
SHORTCUT_CHECKS = ("count_shortcut", "key_only_named", "decoy_coverage")
SHORTCUT_FIX = (
    "rebuild with --reference FILE holding passages that name the non-key options in other contexts "
    "(manifest.json lists them per item under decoys_missing), or list the options' other names in "
    "meta.option_aliases"
)
CHECKS = (
    "file_hash",
    "bucket_file",
    "empty_exam",
    "same_items",
    "record",
    "book_join",
    "book_length",
    "gold_depth",
    "depth_balance",
    "evidence_supports_key",
    "distractor_supports_other_option",
    "near_duplicate_distractor",
    "leaked_letters",
    *SHORTCUT_CHECKS,
)


@dataclass(frozen=True)
class Problem:
    item_id: str  # "" for a problem with a whole file or bucket
    bucket: str
    check: str  # one of CHECKS
    message: str


# What validate-exam accepts without calling it a problem, and reports as a count:
# check -> why. An explanation that supports the key in other words is normal in real
# exams; the builder marks such items in the manifest (items.<id>.evidence_paraphrases_key).
# A counterfactual key is the exception: its evidence must state it (text or alias),
# because no reader could know a fictional rule otherwise.
ACCEPTED = {
    "evidence_supports_key": "explanation paraphrases the key (evidence_paraphrases_key in the manifest)",
}


class Findings(list):
    """The problems found, in order, plus `accepted`: check -> ids of items that were
    accepted under `ACCEPTED` instead of being reported as problems."""

    def __init__(self, problems=()):
        super().__init__(problems)
        self.accepted: dict[str, list[str]] = {}

    def add(self, item_id: str, bucket: str, check: str, message: str) -> None:
        self.append(Problem(item_id, bucket, check, message))

    def accept(self, check: str, item_id: str) -> None:
        ids = self.accepted.setdefault(check, [])
        if item_id not in ids:
            ids.append(item_id)


def validate_exam(
    exam_dir: str | Path, skip: tuple[str, ...] = (), shortcuts: ShortcutReport | None = None
) -> Findings:
    """Every problem found in a built exam, in a stable order; an empty list means it passed.

    The result is a list of `Problem`; its `accepted` attribute counts what passed only
    because a documented rule accepts it (see `ACCEPTED`). `shortcuts` is the exam's
    `shortcut_report` when the caller has already made it.
    """
    unknown = sorted(set(skip) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; expected some of {CHECKS}")
    exam_dir = Path(exam_dir)
    manifest = read_manifest(exam_dir)
    found = Findings()
    _check_files(exam_dir, manifest, found)
    config = manifest.get("config", {})
    checker = _BookChecker(
        SupportRules(**config.get("rules", {})), float(config.get("length_tolerance", 0.05))
    )
    items_info = manifest.get("items", {})
    buckets = manifest.get("buckets", {})
    closed: dict[str, BuiltRecord] | None = None
    for bucket in [CLOSED_BUCKET, *manifest.get("bucket_order", list(buckets))]:
        try:
            records = read_records(exam_dir, bucket)
        except ExamDirError as err:
            found.add("", bucket, "bucket_file", str(err))
            continue
        if closed is None:
            closed = {record.id: record for record in records}
            if not records:
                found.add("", bucket, "empty_exam", _empty_exam_message(manifest))
        else:
            _check_same_items(bucket, closed, records, found)
        for record in records:
            _check_record(record, found)
        if bucket == CLOSED_BUCKET:
            continue
        _check_balance(bucket, records, found)
        for record in records:
            if record.target_chars != buckets.get(bucket):
                message = f"target_chars {record.target_chars} but the bucket is {buckets.get(bucket)}"
                found.add(record.id, bucket, "book_length", message)
            checker.check(record, items_info.get(record.id, {}), found)
    _check_shortcuts(shortcuts or shortcut_report(exam_dir), found)
    result = Findings(problem for problem in found if problem.check not in skip)
    result.accepted = {check: ids for check, ids in found.accepted.items() if check not in skip}
    return result


@dataclass(frozen=True)
class ShortcutReport:
    """Per bucket, how far the books can be answered without reading, against the exam's limits."""

    figures: dict[str, BucketFigures]  # in bucket order; a bucket whose file is unreadable is absent
    limits: ShortcutLimits  # from the manifest's config; defaults (not enforced) for older exams
    breaches: list[Problem]  # one per bucket and limit broken


def shortcut_report(exam_dir: str | Path) -> ShortcutReport:
    """The count-rule accuracy, only-key share and decoy coverage of every bucket (see balance.py)."""
    manifest = read_manifest(exam_dir)
    limits = ShortcutLimits(**manifest.get("config", {}).get("shortcut_limits", {}))
    items_info = manifest.get("items", {})
    figures, breaches = {}, []
    for bucket in manifest.get("bucket_order", list(manifest.get("buckets", {}))):
        try:
            records = read_records(exam_dir, bucket)
        except ExamDirError:
            continue  # the bucket_file check reports it
        figures[bucket] = bucket_figures(records, lambda r: record_facts(r, items_info.get(r.id, {})))
        for check, message in figures[bucket].breaches(limits).items():
            breaches.append(Problem("", bucket, check, message))
    return ShortcutReport(figures, limits, breaches)


def _check_shortcuts(report: ShortcutReport, found: Findings) -> None:
    if report.limits.enforce:
        found.extend(report.breaches)


def _empty_exam_message(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts", {})
    kinds = ", ".join(f"{kind}: {n}" for kind, n in manifest.get("drop_kinds", {}).items()) or "none"
    read = counts.get("items_read", "?")
    return f"the exam holds no items ({read} read, all dropped; drop kinds: {kinds}): nothing to score"


_COMPARED = ("question", "choices", "options", "answer")


def _check_same_items(
    bucket: str, closed: dict[str, BuiltRecord], records: list[BuiltRecord], found: Findings
) -> None:
    """Every bucket asks the closed book's items, in its order, with the same question,
    options and answer: a score difference between buckets must come from the book alone."""
    ids = [record.id for record in records]
    if ids != list(closed):
        missing, extra = sorted(set(closed) - set(ids)), sorted(set(ids) - set(closed))
        message = f"items differ from the closed book: missing {missing[:5]}, extra {extra[:5]}, or reordered"
        found.add("", bucket, "same_items", message)
    for record in records:
        twin = closed.get(record.id)
        if twin is None:
            continue
        differ = [name for name in _COMPARED if getattr(record, name) != getattr(twin, name)]
        if differ:
            found.add(record.id, bucket, "same_items", f"{', '.join(differ)} differ from the closed book")


def _check_files(exam_dir: Path, manifest: dict[str, Any], found: Findings) -> None:
    for name, digest in sorted(manifest.get("files", {}).items()):
        path = exam_dir / name
        if not path.is_file():
            found.add("", name, "file_hash", f"{name} is listed in the manifest but missing")
        elif sha256_file(path) != digest:
            found.add(
                "", name, "file_hash", f"{name} changed after the build: sha256 differs from the manifest"
            )


def _check_record(record: BuiltRecord, found: Findings) -> None:
    def problem(message: str) -> None:
        found.add(record.id, record.bucket, "record", message)

    if len(record.choices) != len(record.options):
        problem(f"{len(record.choices)} choices but {len(record.options)} option texts")
    if not record.answer or any(letter not in record.choices for letter in record.answer):
        problem(f"answer {record.answer!r} is not among the choices {record.choices}")
    elif record.multi_answer != (len(record.answer) > 1):
        problem(f"multi_answer is {record.multi_answer} for answer {record.answer!r}")
    elif not record.multi_answer and record.answer_index != record.choices.index(record.answer):
        problem(f"answer_index {record.answer_index} does not point at {record.answer!r}")


def _check_balance(bucket: str, records: list[BuiltRecord], found: Findings) -> None:
    counts = Counter(record.depth for record in records)
    spread = {depth: counts.get(depth, 0) for depth in DEPTHS}
    if records and max(spread.values()) - min(spread.values()) > 1:
        found.add("", bucket, "depth_balance", f"depth counts {spread} differ by more than one")


class _BookChecker:
    """Checks of one open-book record; per-item facts are kept across buckets."""

    def __init__(self, rules: SupportRules, tolerance: float):
        self.rules, self.tolerance = rules, tolerance
        self._facts: dict[str, ItemFacts] = {}

    def check(self, record: BuiltRecord, info: dict[str, Any], found: Findings) -> None:
        """`info` is the manifest's entry for the item: anchors, and meta with aliases and conflict terms."""

        def problem(check: str, message: str) -> None:
            found.add(record.id, record.bucket, check, message)

        book_chars = len(record.book)
        if PASSAGE_SEPARATOR.join(record.passages) != record.book:
            problem("book_join", "the passages joined by the separator are not the book")
        if record.book_chars != book_chars:
            problem(
                "book_join", f"book_chars is {record.book_chars} but the book has {book_chars} characters"
            )
        target, tolerance = record.target_chars, self.tolerance
        if not target * (1 - tolerance) <= book_chars <= target * (1 + tolerance):
            problem("book_length", f"book has {book_chars} characters; target {target} +-{tolerance:.0%}")
        if not 0 <= record.gold_index < len(record.passages):
            problem(
                "gold_depth", f"gold_index {record.gold_index} outside the {len(record.passages)} passages"
            )
            return
        self._check_depth(record, problem)
        if record.id not in self._facts:
            self._facts[record.id] = record_facts(record, info)
        facts = self._facts[record.id]
        gold = record.passages[record.gold_index]
        missing = missing_key_options(gold, facts)
        if missing and info.get("evidence_paraphrases_key") and not record.counterfactual:
            found.accept("evidence_supports_key", record.id)
        elif missing:
            texts = ", ".join(f"{letter} {facts.options[letter]!r}" for letter in missing)
            stated = "a counterfactual key must be stated"
            why = stated if record.counterfactual else "not marked as paraphrased"
            problem(
                "evidence_supports_key",
                f"the gold passage does not contain the keyed option text {texts} ({why}; "
                "name it through meta.option_aliases if the passage says it in other words)",
            )
        gold_grams = _trigrams(gold)
        for index, passage in enumerate(record.passages):
            where = f"passage {index}" + (" (gold)" if index == record.gold_index else "")
            for leak in _leaks(passage):
                problem("leaked_letters", f"{where} leaks the answer: {leak!r}")
            if index == record.gold_index:
                continue
            conflict = distractor_conflict(passage, facts, self.rules, _key(passage))
            if conflict is not None:
                problem("distractor_supports_other_option", f"{where} {conflict}: {passage[:60]!r}")
            if is_near_duplicate(gold_grams, _trigrams(passage), self.rules):
                problem(
                    "near_duplicate_distractor",
                    f"{where} nearly duplicates the gold passage: {passage[:60]!r}",
                )

    @staticmethod
    def _check_depth(record: BuiltRecord, problem: Callable[[str, str], None]) -> None:
        gold = record.passages[record.gold_index]
        actual = sum(len(p) + len(PASSAGE_SEPARATOR) for p in record.passages[: record.gold_index])
        if record.gold_char_offset != actual or record.book[actual : actual + len(gold)] != gold:
            problem(
                "gold_depth",
                f"gold_char_offset {record.gold_char_offset} but the gold passage starts at {actual}",
            )
        sources = record.passage_sources
        if len(sources) == len(record.passages) and sources[record.gold_index] != record.id:
            origin = sources[record.gold_index]
            problem(
                "gold_depth",
                f"the passage at gold_index {record.gold_index} comes from {origin!r}, not this item",
            )
        if record.depth not in DEPTHS:
            problem("gold_depth", f"depth {record.depth} is not one of {DEPTHS}")
        ideal = record.depth * (len(record.book) - len(gold))
        allowed = depth_tolerance(record.passages, record.gold_index)
        if abs(actual - ideal) > allowed:
            where = f"depth {record.depth} puts it near {ideal:.0f} (+-{allowed})"
            problem("gold_depth", f"gold starts at character {actual}; {where}")


@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    return match_key(text)


@lru_cache(maxsize=65536)
def _trigrams(text: str) -> frozenset[str]:
    return char_ngrams(text, 3)


@lru_cache(maxsize=65536)
def _leaks(text: str) -> tuple[str, ...]:
    return tuple(find_leaks(text))
