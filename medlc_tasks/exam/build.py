"""Build an exam directory: load sources, scrub leaks, rank distractors, assemble every book.

    sources -> items (loaders) -> evidence (scrubbed, or found in a reference) -> pool
            -> ranked candidates per item -> one book per item and bucket -> files + manifest

The output depends only on the inputs, the seed and the options: random choices come from
`random.Random` seeded with the seed, the item id and the bucket; files list items in
source order with sorted JSON keys; the manifest holds no timestamps or absolute paths.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medlc_core.provenance import sha256_file
from medlc_tasks.exam.book import (
    Book,
    BookError,
    Candidates,
    Passage,
    PassagePool,
    assemble_book,
    chunk_reference,
    rank_candidates,
)
from medlc_tasks.exam.leaks import scrub_leaks
from medlc_tasks.exam.loaders import Drop, LoadResult, load_items
from medlc_tasks.exam.manifest import compose_manifest, write_exam_files
from medlc_tasks.exam.schema import DEFAULT_BUCKETS, DEPTHS, BuiltRecord, ExamItem
from medlc_tasks.exam.store import CLOSED_BUCKET, write_exam_atomically
from medlc_tasks.exam.support import ItemFacts, SupportRules, mentions_item, missing_key_options
from medlc_tasks.exam.textnorm import SourceError, coverage, normalize, read_text

BUILDER_VERSION = "1.0.0"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SourceSpec:
    """One exam source file and how to read it."""

    path: Path
    format: str = "auto"
    mapping: dict[str, str] | None = None
    encoding: str = "auto"


@dataclass(frozen=True)
class BuildOptions:
    """Every knob that shapes a built exam; all of it is written to the manifest."""

    strict: bool = True  # bad rows raise (True) or become counted drops (False)
    drop_multi_answer: bool = False  # keep multi-answer items (scored as exact set match) or drop them
    length_tolerance: float = 0.05  # book length within target * (1 +- tolerance)
    min_evidence_chars: int = 20
    max_evidence_chars: int | None = None  # None: half the smallest bucket, so depth still means something
    reference_min_chars: int = 100
    reference_max_chars: int = 300
    reference_encoding: str = "auto"
    # A reference passage can stand in for a missing explanation when it holds every keyed
    # option and speaks about the item (an anchor, or this share of the question's bigrams).
    reference_evidence_overlap: float = 0.2
    max_ranked: int = 4000
    rules: SupportRules = field(default_factory=SupportRules)


@dataclass
class PreparedItem:
    """An item whose evidence is final, with what happened to it on the way."""

    item: ExamItem
    leaks: list[str]
    evidence_from: str  # "explanation" or the reference passage ("ref:<file>#<n>")
    # Passages refused as this item's distractors while ranking (filled in by ranking).
    refused_conflicting: int = 0
    refused_near_duplicates: int = 0


def as_spec(source: SourceSpec | str | Path) -> SourceSpec:
    return source if isinstance(source, SourceSpec) else SourceSpec(Path(source))


def build_exam(
    sources: Sequence[SourceSpec | str | Path],
    out_dir: str | Path,
    buckets: dict[str, int] = DEFAULT_BUCKETS,
    seed: int = 1234,
    reference_files: Iterable[str | Path] = (),
    options: BuildOptions | None = None,
    progress: Progress | None = None,
    replace: bool = True,
) -> dict[str, Any]:
    """Build a complete exam into out_dir (atomically) and return its manifest.

    An existing exam at out_dir is replaced; with replace=False it is kept instead (the
    cache case, where another process may have finished the same build first).
    """
    options = options or BuildOptions()
    specs = [as_spec(source) for source in sources]
    if not specs:
        raise SourceError("build-exam", "inputs", "no exam source files given")
    if not buckets:
        raise SourceError("build-exam", "--buckets", "no buckets given")
    notify = progress or (lambda stage, done, total: None)
    max_evidence = options.max_evidence_chars or min(buckets.values()) // 2

    loads = [
        load_items(s.path, s.format, s.mapping, s.encoding, options.strict, options.drop_multi_answer)
        for s in specs
    ]
    items, drops = _merge(loads, options.strict)
    references, reference_info = _read_references(reference_files, options)
    prepared = _prepare_evidence(items, PassagePool(references), options, max_evidence, drops)
    pool = PassagePool(
        [Passage(p.item.evidence, p.item.id, p.item.department) for p in prepared] + references
    )

    kept, candidates = _rank_distractors(prepared, pool, buckets, seed, options, drops, notify)
    records = _assemble_books(kept, candidates, pool, buckets, seed, options, notify)

    config = {**asdict(options), "buckets": dict(buckets), "seed": seed, "max_evidence_chars": max_evidence}
    manifest = compose_manifest(
        builder_version=BUILDER_VERSION,
        config=config,
        loads=loads,
        references=reference_info,
        prepared=kept,
        drops=drops,
        records=records,
        pool_repeats_removed=pool.repeats_removed,
    )
    write_exam_atomically(out_dir, lambda staging: write_exam_files(staging, records, manifest), replace)
    return manifest


def _rank_distractors(
    prepared: list[PreparedItem],
    pool: PassagePool,
    buckets: dict[str, int],
    seed: int,
    options: BuildOptions,
    drops: list[Drop],
    notify: Progress,
) -> tuple[list[PreparedItem], dict[str, Candidates]]:
    """Rank the pool once per item; an item the pool cannot fill to the largest bucket goes."""
    largest = max(buckets.values())
    # Enough for the largest book, plus one reference passage of slack for the last filler.
    needed = int(largest * (1 + options.length_tolerance)) + options.reference_max_chars
    kept, candidates = [], {}
    for done, entry in enumerate(prepared, start=1):
        item = entry.item
        # A string seed goes through SHA-512, so it is the same on every run and platform.
        rng = random.Random(f"{seed}:rank:{item.id}")
        ranked = rank_candidates(item, pool, options.rules, rng, needed, options.max_ranked)
        notify("ranking distractors", done, len(prepared))
        if len(item.evidence) + ranked.eligible_chars < largest * (1 - options.length_tolerance):
            message = (
                f"the pool offers only {ranked.eligible_chars} characters of usable distractors "
                f"({ranked.conflicting} back another option, {ranked.near_duplicates} copy the gold); "
                f"the {largest}-character bucket needs more: add --reference files or drop the bucket"
            )
            _reject(drops, item, "book_unfillable", message, options.strict)
            continue
        candidates[item.id] = ranked
        entry.refused_conflicting, entry.refused_near_duplicates = ranked.conflicting, ranked.near_duplicates
        kept.append(entry)
    return kept, candidates


def _assemble_books(
    kept: list[PreparedItem],
    candidates: dict[str, Candidates],
    pool: PassagePool,
    buckets: dict[str, int],
    seed: int,
    options: BuildOptions,
    notify: Progress,
) -> dict[str, list[BuiltRecord]]:
    """The closed-book records, then one record per item for each bucket, in item order."""
    depth_slots = _depth_slots([entry.item for entry in kept], seed)
    records = {CLOSED_BUCKET: [_record(entry.item, CLOSED_BUCKET, 0, -1.0, None) for entry in kept]}
    for bucket_number, (bucket, target) in enumerate(buckets.items()):
        rows = []
        for entry in kept:
            item = entry.item
            depth = DEPTHS[(depth_slots[item.id] + bucket_number) % len(DEPTHS)]
            rng = random.Random(f"{seed}:book:{bucket}:{item.id}")
            try:
                book = assemble_book(
                    item, pool, candidates[item.id], target, depth, options.length_tolerance, rng
                )
            except BookError as err:
                raise BookError(f"bucket {bucket}: {err}") from None
            rows.append(_record(item, bucket, target, depth, book))
        records[bucket] = rows
        notify(f"assembling {bucket} books", bucket_number + 1, len(buckets))
    return records


def _merge(loads: list[LoadResult], strict: bool) -> tuple[list[ExamItem], list[Drop]]:
    """All loaded items in source order; an id seen in an earlier file is a duplicate."""
    items: list[ExamItem] = []
    drops: list[Drop] = [drop for load in loads for drop in load.drops]
    first: dict[str, ExamItem] = {}
    for load in loads:
        for item in load.items:
            if item.id in first:
                earlier = first[item.id]
                message = f"duplicate id {item.id!r} (first in {earlier.source} row {earlier.source_row})"
                if strict:
                    raise SourceError(item.source, f"row {item.source_row}", message)
                drops.append(
                    Drop(
                        item.source,
                        item.source_row,
                        item.id,
                        "duplicate_id",
                        f"row {item.source_row}: {message}",
                    )
                )
                continue
            first[item.id] = item
            items.append(item)
    return items, drops


def _read_references(
    files: Iterable[str | Path], options: BuildOptions
) -> tuple[list[Passage], list[dict[str, Any]]]:
    """Reference files as scrubbed passages, plus what the manifest says about each file."""
    passages: list[Passage] = []
    info = []
    for path in map(Path, files):
        if not path.is_file():
            raise SourceError(str(path), "file", "no such reference file")
        decoded = read_text(path, options.reference_encoding, options.strict)
        chunks = chunk_reference(
            normalize(decoded.text), path.name, options.reference_min_chars, options.reference_max_chars
        )
        undecodable = emptied = leaks = 0
        for chunk in chunks:
            if "\ufffd" in chunk.text:
                undecodable += 1
                continue
            scrubbed = scrub_leaks(chunk.text)
            leaks += scrubbed.count
            if scrubbed.text:
                passages.append(dataclasses.replace(chunk, text=scrubbed.text))
            else:
                emptied += 1
        info.append({
            "name": path.name, "sha256": sha256_file(path), "encoding": decoded.encoding,
            "undecodable_bytes": decoded.undecodable_bytes, "passages": len(chunks) - undecodable - emptied,
            "passages_dropped_undecodable": undecodable, "passages_dropped_all_leak": emptied,
            "leaks_scrubbed": leaks,
        })  # fmt: skip
    return passages, info


def _prepare_evidence(
    items: list[ExamItem],
    references: PassagePool,
    options: BuildOptions,
    max_evidence: int,
    drops: list[Drop],
) -> list[PreparedItem]:
    """Scrub each item's evidence, or find it in a reference; drop (counted) what cannot work."""
    prepared = []
    for item in items:
        evidence_from = "explanation"
        scrubbed = scrub_leaks(item.evidence)
        evidence = scrubbed.text
        if not item.evidence:
            found = _reference_evidence(item, references, options)
            if found is None:
                drops.append(
                    _drop(
                        item,
                        "no_evidence",
                        "no explanation, and no reference passage holds the keyed option(s)",
                    )
                )
                continue
            evidence, evidence_from = found.text, found.source
        if len(evidence) < options.min_evidence_chars:
            needed = options.min_evidence_chars
            reason = f"evidence is {len(evidence)} characters after scrubbing answer leaks; needs {needed}"
            drops.append(_drop(item, "evidence_too_short", reason))
            continue
        if len(evidence) > max_evidence:
            reason = f"evidence is {len(evidence)} characters; the limit is {max_evidence}"
            drops.append(_drop(item, "evidence_too_long", reason))
            continue
        prepared.append(
            PreparedItem(dataclasses.replace(item, evidence=evidence), scrubbed.leaks, evidence_from)
        )
    return prepared


def _reference_evidence(item: ExamItem, references: PassagePool, options: BuildOptions) -> Passage | None:
    """The reference passage holding every keyed option text that best matches the question."""
    facts = ItemFacts.of_item(item)
    rules = dataclasses.replace(options.rules, question_overlap=options.reference_evidence_overlap)
    best, best_score = None, 0.0
    for passage, key, bigrams in zip(references.passages, references.keys, references.bigrams, strict=True):
        about_item = mentions_item(passage.text, facts, rules, key, bigrams)
        if not about_item or missing_key_options(passage.text, facts, key):
            continue
        score = coverage(facts.question_grams, bigrams)
        if best is None or score > best_score:
            best, best_score = passage, score
    return best


def _drop(item: ExamItem, kind: str, reason: str) -> Drop:
    return Drop(item.source, item.source_row, item.id, kind, f"row {item.source_row}: {reason}")


def _reject(drops: list[Drop], item: ExamItem, kind: str, reason: str, strict: bool) -> None:
    if strict:
        raise BookError(f"{item.source}, row {item.source_row}, item {item.id!r}: {reason}")
    drops.append(_drop(item, kind, reason))


def _depth_slots(items: list[ExamItem], seed: int) -> dict[str, int]:
    """A starting depth slot per item, balanced overall and within counterfactual/factual.

    Items are shuffled (so depth does not follow file order, which often follows topic or
    difficulty), grouped by counterfactual, and dealt slots 0..4 in turn. Bucket k adds k,
    so each item meets a different depth in consecutive buckets and every bucket stays balanced.
    """
    order = list(range(len(items)))
    random.Random(f"{seed}:depths").shuffle(order)
    rank = {index: position for position, index in enumerate(order)}
    dealt = sorted(range(len(items)), key=lambda i: (items[i].counterfactual, rank[i]))
    return {items[i].id: position % len(DEPTHS) for position, i in enumerate(dealt)}


def _record(item: ExamItem, bucket: str, target: int, depth: float, book: Book | None) -> BuiltRecord:
    choices = list(item.options)
    return BuiltRecord(
        id=item.id,
        question=item.question,
        choices=choices,
        options=[item.options[letter] for letter in choices],
        answer=item.answer,
        answer_index=choices.index(item.answer) if not item.is_multi_answer else -1,
        multi_answer=item.is_multi_answer,
        department=item.department,
        difficulty=item.difficulty,
        counterfactual=item.counterfactual,
        contradicts_common_knowledge=item.contradicts_common_knowledge,
        bucket=bucket,
        target_chars=target,
        depth=depth,
        passages=list(book.passages) if book else [],
        gold_index=book.gold_index if book else -1,
        book=book.text if book else "",
        book_chars=len(book.text) if book else 0,
        gold_char_offset=book.gold_char_offset if book else -1,
        passage_sources=list(book.sources) if book else [],
    )
