"""From source files to items with their final evidence: merged, scrubbed, or found in a reference.

loads -> items (an id seen in an earlier file is a duplicate) -> evidence scrubbed of
answer leaks, or the reference passage that holds the key -> PreparedItem, or a counted Drop
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medlc_core.provenance import sha256_file
from medlc_tasks.exam.book import Passage, PassagePool, chunk_reference
from medlc_tasks.exam.leaks import scrub_leaks
from medlc_tasks.exam.loaders import Drop, LoadResult
from medlc_tasks.exam.schema import ExamItem, PreparedItem
from medlc_tasks.exam.support import ItemFacts, SupportRules, mentions_item, missing_key_options
from medlc_tasks.exam.textnorm import SourceError, coverage, normalize, read_text


def merge_loads(loads: list[LoadResult], strict: bool) -> tuple[list[ExamItem], list[Drop]]:
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


def read_references(
    files: Iterable[str | Path], encoding: str, strict: bool, min_chars: int, max_chars: int
) -> tuple[list[Passage], list[dict[str, Any]]]:
    """Reference files as scrubbed passages of about min..max characters, plus what the
    manifest says of each."""
    passages: list[Passage] = []
    info = []
    for path in map(Path, files):
        if not path.is_file():
            raise SourceError(str(path), "file", "no such reference file")
        decoded = read_text(path, encoding, strict)
        chunks = chunk_reference(normalize(decoded.text), path.name, min_chars, max_chars)
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


def prepare_evidence(
    items: list[ExamItem],
    references: PassagePool,
    rules: SupportRules,
    min_chars: int,
    max_chars: int,
    drops: list[Drop],
) -> list[PreparedItem]:
    """Scrub each item's evidence, or find it in a reference; drop (counted) what cannot work.

    `rules.question_overlap` is the share of the question a reference passage must hold to
    stand in for a missing explanation.
    """
    prepared = []
    for item in items:
        evidence_from = "explanation"
        scrubbed = scrub_leaks(item.evidence)
        evidence = scrubbed.text
        if not item.evidence:
            found = reference_evidence(item, references, rules)
            if found is None:
                drops.append(
                    item_drop(
                        item,
                        "no_evidence",
                        "no explanation, and no reference passage holds the keyed option(s)",
                    )
                )
                continue
            evidence, evidence_from = found.text, found.source
        if len(evidence) < min_chars:
            reason = f"evidence is {len(evidence)} characters after scrubbing answer leaks; needs {min_chars}"
            drops.append(item_drop(item, "evidence_too_short", reason))
            continue
        if len(evidence) > max_chars:
            reason = f"evidence is {len(evidence)} characters; the limit is {max_chars}"
            drops.append(item_drop(item, "evidence_too_long", reason))
            continue
        prepared.append(
            PreparedItem(dataclasses.replace(item, evidence=evidence), scrubbed.leaks, evidence_from)
        )
    return prepared


def reference_evidence(item: ExamItem, references: PassagePool, rules: SupportRules) -> Passage | None:
    """The reference passage holding every keyed option text that best matches the question."""
    facts = ItemFacts.of_item(item)
    best, best_score = None, 0.0
    for passage, key, bigrams in zip(references.passages, references.keys, references.bigrams, strict=True):
        about_item = mentions_item(passage.text, facts, rules, key, bigrams)
        if not about_item or missing_key_options(passage.text, facts, key):
            continue
        score = coverage(facts.question_grams, bigrams)
        if best is None or score > best_score:
            best, best_score = passage, score
    return best


def item_drop(item: ExamItem, kind: str, reason: str) -> Drop:
    """A counted drop of a loaded item, located by its source row."""
    return Drop(item.source, item.source_row, item.id, kind, f"row {item.source_row}: {reason}")
