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

from medlc_core.errors import UserError
from medlc_tasks.exam.balance import NamingBalance, ShortcutLimits, unnamed_options
from medlc_tasks.exam.book import (
    SEP,
    Book,
    BookError,
    Candidates,
    Passage,
    PassagePool,
    assemble_book,
    rank_candidates,
    sample_indices,
)
from medlc_tasks.exam.decoys import plan_decoys
from medlc_tasks.exam.loaders import Drop, load_items
from medlc_tasks.exam.manifest import compose_manifest, drop_summary, write_exam_files
from medlc_tasks.exam.plan import Shortfall, needed_chars, plan_auto, smallest_bucket
from medlc_tasks.exam.schema import DEFAULT_BUCKETS, DEPTHS, BuiltRecord, ExamItem, PreparedItem
from medlc_tasks.exam.shortcuts import item_rng
from medlc_tasks.exam.siblings import find_siblings
from medlc_tasks.exam.sources import item_drop, merge_loads, prepare_evidence, read_references
from medlc_tasks.exam.store import CLOSED_BUCKET, write_exam_atomically
from medlc_tasks.exam.support import ItemFacts, SupportRules
from medlc_tasks.exam.textnorm import SourceError

BUILDER_VERSION = "2.0.0"
AUTO_BUCKETS = "auto"
Progress = Callable[[str, int, int], None]


class EmptyExamError(UserError, ValueError):
    """A build that kept no item: nothing is written, and `summary` says what was dropped and why."""

    def __init__(self, summary: dict[str, Any]):
        self.summary = summary
        counts = summary["counts"]
        kinds = ", ".join(f"{kind}: {count}" for kind, count in summary["drop_kinds"].items()) or "none"
        reasons = "; ".join(f"{r['kind']} x{r['count']}: {r['reason']}" for r in summary["drop_reasons_top"])
        fixes = "; ".join(summary["advice"])
        empty = ": the sources hold no items" if counts["items_read"] == 0 else ""
        super().__init__(
            f"no item kept: {counts['items_read']} read, {counts['items_dropped']} dropped ({kinds}){empty}"
            + (f". Most common: {reasons}" if reasons else "")
            + (f". To keep more: {fixes}" if fixes else "")
        )


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
    sibling_stem_chars: int = 20  # a shared question prefix this long, ending a sentence, is a case stem
    decoy_min_chars: int = 20  # a decoy cut to the sentences naming its option has at least this many
    rules: SupportRules = field(default_factory=SupportRules)
    shortcut_limits: ShortcutLimits = field(default_factory=ShortcutLimits)


@dataclass
class _Material:
    """What one item's books are made of, chosen once for every bucket."""

    candidates: Candidates
    decoys: list[Passage]
    capacity: int  # characters the gold, decoys and distractors can reach together


def as_spec(source: SourceSpec | str | Path) -> SourceSpec:
    return source if isinstance(source, SourceSpec) else SourceSpec(Path(source))


def build_exam(
    sources: Sequence[SourceSpec | str | Path],
    out_dir: str | Path,
    buckets: dict[str, int] | None = None,
    seed: int = 1234,
    reference_files: Iterable[str | Path] = (),
    options: BuildOptions | None = None,
    progress: Progress | None = None,
    replace: bool = True,
) -> dict[str, Any]:
    """Build a complete exam into out_dir (atomically) and return its manifest.

    `buckets=None` plans the standard buckets from the pool (plan.py): every one the pool
    can fill for all kept items is built and the rest are recorded as skipped. An explicit
    dict is a requirement. An existing exam at out_dir is replaced; with replace=False it is
    kept instead (the cache case, where another process may have finished the same build first).
    """
    options = options or BuildOptions()
    specs = [as_spec(source) for source in sources]
    if not specs:
        raise SourceError("build-exam", "inputs", "no exam source files given")
    if buckets is not None and not buckets:
        raise SourceError("build-exam", "--buckets", "no buckets given")
    wanted = dict(DEFAULT_BUCKETS if buckets is None else buckets)
    notify = progress or (lambda stage, done, total: None)
    max_evidence = options.max_evidence_chars or min(wanted.values()) // 2

    loads = [
        load_items(s.path, s.format, s.mapping, s.encoding, options.strict, options.drop_multi_answer)
        for s in specs
    ]
    items, drops = merge_loads(loads, options.strict)
    references, reference_info = read_references(
        reference_files,
        options.reference_encoding,
        options.strict,
        options.reference_min_chars,
        options.reference_max_chars,
    )
    evidence_rules = dataclasses.replace(options.rules, question_overlap=options.reference_evidence_overlap)
    prepared = prepare_evidence(
        items, PassagePool(references), evidence_rules, options.min_evidence_chars, max_evidence, drops
    )
    pool = PassagePool(
        [Passage(p.item.evidence, p.item.id, p.item.department) for p in prepared] + references
    )
    siblings = find_siblings([entry.item for entry in prepared], options.sibling_stem_chars)
    materials = _gather(prepared, pool, wanted, seed, options, siblings, notify)
    kept, built, skipped = _plan(prepared, materials, wanted, buckets is None, options, drops)
    if not kept:
        raise EmptyExamError(drop_summary(loads, drops, [s.bucket for s in skipped]))
    records = _assemble_books(kept, materials, pool, built, seed, options, notify)

    config = {
        **asdict(options), "buckets": built, "buckets_requested": AUTO_BUCKETS if buckets is None else wanted,
        "seed": seed, "max_evidence_chars": max_evidence,
    }  # fmt: skip
    manifest = compose_manifest(
        builder_version=BUILDER_VERSION,
        config=config,
        loads=loads,
        references=reference_info,
        prepared=kept,
        drops=drops,
        records=records,
        pool_repeats_removed=pool.repeats_removed,
        skipped=skipped,
    )
    write_exam_atomically(out_dir, lambda staging: write_exam_files(staging, records, manifest), replace)
    return manifest


def _gather(
    prepared: list[PreparedItem],
    pool: PassagePool,
    buckets: dict[str, int],
    seed: int,
    options: BuildOptions,
    siblings: dict[str, list[str]],
    notify: Progress,
) -> dict[str, _Material]:
    """Per item, once: its decoys, then its ranked distractors (balanced against the key)."""
    # Enough for the largest book, plus one reference passage of slack for the last filler.
    needed = int(max(buckets.values()) * (1 + options.length_tolerance)) + options.reference_max_chars
    smallest = min(buckets.values())
    materials = {}
    for done, entry in enumerate(prepared, start=1):
        item = entry.item
        rng = item_rng(seed, "rank", item.id)
        indices = sample_indices(pool, rng, options.max_ranked)
        entry.siblings = siblings.get(item.id, [])
        room = smallest - len(item.evidence)
        decoy_rng = item_rng(seed, "decoys", item.id)
        plan = plan_decoys(
            item, pool, indices, options.rules, entry.siblings, room, decoy_rng, options.decoy_min_chars
        )
        answer_index = -1 if item.is_multi_answer else list(item.options).index(item.answer)
        texts = [item.evidence, *(decoy.text for decoy in plan.decoys)]
        balance = NamingBalance(list(item.options.values()), answer_index, texts)
        taken = {decoy.pool_index for decoy in plan.decoys}
        ranked = rank_candidates(
            item, pool, options.rules, rng, needed, indices, balance, entry.siblings, taken
        )
        entry.refused_conflicting, entry.refused_near_duplicates = ranked.conflicting, ranked.near_duplicates
        entry.refused_unbalancing, entry.sibling_passages_excluded = ranked.unbalancing, ranked.siblings
        entry.decoys = [
            {"letters": list(d.letters), "source": d.source, "chars": len(d.text)} for d in plan.decoys
        ]
        entry.decoys_unavailable = plan.unavailable
        capacity = sum(len(text) + SEP for text in texts) - SEP + ranked.eligible_chars
        materials[item.id] = _Material(ranked, [Passage(d.text, d.source) for d in plan.decoys], capacity)
        notify("choosing decoys and distractors", done, len(prepared))
    return materials


def _plan(
    prepared: list[PreparedItem],
    materials: dict[str, _Material],
    buckets: dict[str, int],
    auto: bool,
    options: BuildOptions,
    drops: list[Drop],
) -> tuple[list[PreparedItem], dict[str, int], list[Shortfall]]:
    """The items kept, the buckets built and those skipped (see plan.py for the rule)."""
    tolerance = options.length_tolerance
    required = {smallest_bucket(buckets): buckets[smallest_bucket(buckets)]} if auto else buckets
    kept = []
    for entry in prepared:
        material = materials[entry.item.id]
        short = [b for b, t in required.items() if material.capacity < needed_chars(t, tolerance)]
        if not short:
            kept.append(entry)
            continue
        bucket = max(short, key=required.__getitem__)
        ranked = material.candidates
        message = (
            f"its books can reach only {material.capacity} characters (the gold, "
            f"{len(material.decoys)} decoys "
            f"and {ranked.eligible_chars} of usable distractors; {ranked.conflicting} passages back another "
            f"option, {ranked.near_duplicates} copy the gold, {ranked.siblings} are siblings'); bucket "
            f"{bucket} needs {needed_chars(required[bucket], tolerance)}: add --reference FILE with more text"
            + ("" if auto else ", or drop the bucket")
        )
        _reject(drops, entry.item, "book_unfillable", message, options.strict)
    if not auto or not kept:
        return kept, dict(buckets), []
    capacity = {entry.item.id: materials[entry.item.id].capacity for entry in kept}
    built, skipped = plan_auto(buckets, tolerance, capacity)
    return kept, built, skipped


def _assemble_books(
    kept: list[PreparedItem],
    materials: dict[str, _Material],
    pool: PassagePool,
    buckets: dict[str, int],
    seed: int,
    options: BuildOptions,
    notify: Progress,
) -> dict[str, list[BuiltRecord]]:
    """The closed-book records, then one record per item for each bucket, in item order.

    Each item's `decoys_missing` is filled in from the books as built: the non-key options
    no passage but the gold names.
    """
    depth_slots = _depth_slots([entry.item for entry in kept], seed)
    facts = {entry.item.id: ItemFacts.of_item(entry.item) for entry in kept}
    records = {CLOSED_BUCKET: [_record(entry.item, CLOSED_BUCKET, 0, -1.0, None) for entry in kept]}
    for bucket_number, (bucket, target) in enumerate(buckets.items()):
        rows = []
        for entry in kept:
            item, material = entry.item, materials[entry.item.id]
            depth = DEPTHS[(depth_slots[item.id] + bucket_number) % len(DEPTHS)]
            rng = item_rng(seed, "book", bucket, item.id)
            try:
                book = assemble_book(
                    item,
                    pool,
                    material.candidates,
                    material.decoys,
                    target,
                    depth,
                    options.length_tolerance,
                    rng,
                )
            except BookError as err:
                raise BookError(f"bucket {bucket}: {err}") from None
            missing = unnamed_options(book.passages, book.gold_index, facts[item.id])
            if missing:
                entry.decoys_missing[bucket] = missing
            rows.append(_record(item, bucket, target, depth, book))
        records[bucket] = rows
        notify(f"assembling {bucket} books", bucket_number + 1, len(buckets))
    return records


def _reject(drops: list[Drop], item: ExamItem, kind: str, reason: str, strict: bool) -> None:
    if strict:
        raise BookError(f"{item.source}, row {item.source_row}, item {item.id!r}: {reason}")
    drops.append(item_drop(item, kind, reason))


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
