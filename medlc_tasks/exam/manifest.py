"""The manifest of a built exam: where it came from, what was dropped or scrubbed, what it holds."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

from medlc_core.provenance import sha256_file, versions
from medlc_tasks.exam.balance import bucket_figures
from medlc_tasks.exam.loaders import Drop, LoadResult
from medlc_tasks.exam.plan import Shortfall
from medlc_tasks.exam.schema import DEPTHS, FORMAT_VERSION, MANIFEST_FILE, BuiltRecord, PreparedItem
from medlc_tasks.exam.store import CLOSED_BUCKET, record_file
from medlc_tasks.exam.summary import advice, top_reasons
from medlc_tasks.exam.support import ItemFacts, missing_key_options


def drop_summary(
    loads: list[LoadResult],
    drops: list[Drop],
    skipped_buckets: Sequence[str] = (),
    items_short_of_decoys: int = 0,
) -> dict[str, Any]:
    """What was read and dropped, the commonest reasons and what to pass to keep more.

    The manifest holds all of it; a build that keeps nothing reports it in its error.
    """
    listed = [
        {"source": d.source, "row": d.row, "id": d.item_id, "kind": d.kind, "reason": d.reason} for d in drops
    ]
    kinds = _sorted_counts(drop.kind for drop in drops)
    read = sum(load.rows_read for load in loads)
    return {
        "counts": {"items_read": read, "items_kept": read - len(drops), "items_dropped": len(drops)},
        "drop_kinds": kinds,
        "drops": listed,
        "drop_reasons_top": top_reasons(listed),
        "advice": advice(kinds, skipped_buckets, items_short_of_decoys),
    }


def compose_manifest(
    builder_version: str,
    config: dict[str, Any],
    loads: list[LoadResult],
    references: list[dict[str, Any]],
    prepared: list[PreparedItem],
    drops: list[Drop],
    records: dict[str, list[BuiltRecord]],
    pool_repeats_removed: int,
    skipped: Sequence[Shortfall] = (),
) -> dict[str, Any]:
    """Everything needed to trust, reproduce and audit a build; `files` is added on write."""
    items = [entry.item for entry in prepared]
    leaky = {entry.item.id: entry.leaks for entry in prepared if entry.leaks}
    facts = {entry.item.id: ItemFacts.of_item(entry.item) for entry in prepared}
    figures = {
        bucket: bucket_figures(rows, lambda record: facts[record.id])
        for bucket, rows in records.items()
        if bucket != CLOSED_BUCKET
    }
    key_named_most: dict[str, list[str]] = {}
    for bucket, found in figures.items():
        for item_id in found.key_named_most:
            key_named_most.setdefault(item_id, []).append(bucket)
    short = {entry.item.id for entry in prepared if entry.decoys_missing} | set(key_named_most)
    dropped = drop_summary(loads, drops, [s.bucket for s in skipped], len(short))
    # Explanations that support the key without its text (or an alias): normal in real
    # exams; validate-exam reports them as a count instead of failing them.
    paraphrased = {item.id for item in items if missing_key_options(item.evidence, ItemFacts.of_item(item))}
    return {
        "format_version": FORMAT_VERSION,
        "builder_version": builder_version,
        "seed": config["seed"],
        "versions": versions(),
        "config": config,
        "buckets": config["buckets"],
        # JSON objects are written with sorted keys, so the build order is kept here.
        "bucket_order": list(config["buckets"]),
        "buckets_requested": config["buckets_requested"],
        # Buckets the pool could not fill for every item (planned with --buckets auto).
        "buckets_skipped": {s.bucket: s.as_dict() for s in skipped},
        "sources": [
            {
                "name": load.source,
                "sha256": load.sha256,
                "format": load.format,
                "encoding": load.encoding,
                "mapping": load.mapping,
                "undecodable_bytes": load.undecodable_bytes,
                **load.counts(),
            }
            for load in loads
        ],  # fmt: skip
        "references": references,
        "counts": {
            "items_read": sum(load.rows_read for load in loads),
            "items_kept": len(items),
            "items_dropped": len(drops),
            "multi_answer": sum(item.is_multi_answer for item in items),
            "multi_answer_dropped": sum(drop.kind == "multi_answer_filtered" for drop in drops),
            "options": _sorted_counts(str(len(item.options)) for item in items),
            "counterfactual": sum(item.counterfactual for item in items),
            "contradicts_common_knowledge": sum(item.contradicts_common_knowledge for item in items),
            "departments": _sorted_counts(item.department or "(none)" for item in items),
            "evidence_from_reference": sum(entry.evidence_from != "explanation" for entry in prepared),
            "evidence_paraphrases_key": len(paraphrased),
            "empty_options_removed": sum(load.empty_options_removed for load in loads),
            "pool_repeats_removed": pool_repeats_removed,
            # Passages refused as distractors while ranking, summed over items.
            "distractors_refused_conflicting": sum(entry.refused_conflicting for entry in prepared),
            "distractors_refused_near_duplicate": sum(entry.refused_near_duplicates for entry in prepared),
            "distractors_refused_unbalancing": sum(entry.refused_unbalancing for entry in prepared),
            "items_with_siblings": sum(bool(entry.siblings) for entry in prepared),
            "sibling_passages_excluded": sum(entry.sibling_passages_excluded for entry in prepared),
            "decoys": sum(len(entry.decoys) for entry in prepared),
            # (item, non-key option) pairs that no usable pool passage names, in any bucket.
            "decoys_unavailable": sum(len(entry.decoys_unavailable) for entry in prepared),
            "items_missing_decoys": sum(bool(entry.decoys_missing) for entry in prepared),
            "items_key_named_most": len(key_named_most),
        },
        "drop_kinds": dropped["drop_kinds"],
        "drops": dropped["drops"],
        "drop_reasons_top": dropped["drop_reasons_top"],
        "advice": dropped["advice"],
        "leaks": {
            "scrubbed": sum(len(found) for found in leaky.values()),
            "items": len(leaky),
            "per_item": leaky,
            "in_references": sum(ref["leaks_scrubbed"] for ref in references),
        },
        "bucket_stats": {
            bucket: {
                **_bucket_stats(rows),
                **figures[bucket].as_dict(),
                "items_missing_decoys": sum(bucket in entry.decoys_missing for entry in prepared),
            }
            for bucket, rows in records.items()
            if bucket != CLOSED_BUCKET
        },
        "items": {
            entry.item.id: {
                "source": entry.item.source,
                "row": entry.item.source_row,
                "anchors": entry.item.anchors,
                "evidence_from": entry.evidence_from,
                "evidence_paraphrases_key": entry.item.id in paraphrased,
                "common_knowledge_answer": entry.item.common_knowledge_answer,
                "distractors_refused": {
                    "conflicting": entry.refused_conflicting,
                    "near_duplicate": entry.refused_near_duplicates,
                    "unbalancing": entry.refused_unbalancing,
                },
                "siblings": entry.siblings,
                "sibling_passages_excluded": entry.sibling_passages_excluded,
                "decoys": entry.decoys,
                "decoys_unavailable": entry.decoys_unavailable,
                "decoys_missing": entry.decoys_missing,
                # Buckets whose book names the key more often than every other option.
                "key_named_most": key_named_most.get(entry.item.id, []),
                "meta": entry.item.meta,
            }
            for entry in prepared
        },
    }


def _sorted_counts(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _bucket_stats(rows: list[BuiltRecord]) -> dict[str, Any]:
    chars = [row.book_chars for row in rows]
    depths = Counter(row.depth for row in rows)
    return {
        "count": len(rows),
        "target_chars": rows[0].target_chars if rows else 0,
        "min_chars": min(chars, default=0),
        "mean_chars": round(float(mean(chars)), 1) if chars else 0.0,
        "max_chars": max(chars, default=0),
        "mean_passages": round(float(mean(len(row.passages) for row in rows)), 1) if rows else 0.0,
        "depth_counts": {str(depth): depths.get(depth, 0) for depth in DEPTHS},
    }


def dump_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def write_exam_files(
    directory: Path, records: dict[str, list[BuiltRecord]], manifest: dict[str, Any]
) -> None:
    """One JSONL per bucket plus the closed-book file, then the manifest with their sha256."""
    files = {}
    for bucket, rows in records.items():
        path = directory / record_file(bucket)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(row.to_json() + "\n")
        files[path.name] = sha256_file(path)
    manifest["files"] = dict(sorted(files.items()))
    (directory / MANIFEST_FILE).write_text(dump_json(manifest), encoding="utf-8")
