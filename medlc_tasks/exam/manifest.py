"""The manifest of a built exam: where it came from, what was dropped or scrubbed, what it holds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any

from medlc_core.provenance import sha256_file, versions
from medlc_tasks.exam.loaders import Drop, LoadResult
from medlc_tasks.exam.schema import DEPTHS, FORMAT_VERSION, MANIFEST_FILE, BuiltRecord
from medlc_tasks.exam.store import CLOSED_BUCKET, record_file
from medlc_tasks.exam.support import ItemFacts, missing_key_options

if TYPE_CHECKING:
    from medlc_tasks.exam.build import PreparedItem


def compose_manifest(
    builder_version: str,
    config: dict[str, Any],
    loads: list[LoadResult],
    references: list[dict[str, Any]],
    prepared: list[PreparedItem],
    drops: list[Drop],
    records: dict[str, list[BuiltRecord]],
    pool_repeats_removed: int,
) -> dict[str, Any]:
    """Everything needed to trust, reproduce and audit a build; `files` is added on write."""
    items = [entry.item for entry in prepared]
    leaky = {entry.item.id: entry.leaks for entry in prepared if entry.leaks}
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
        },
        "drop_kinds": _sorted_counts(drop.kind for drop in drops),
        "drops": [
            {"source": d.source, "row": d.row, "id": d.item_id, "kind": d.kind, "reason": d.reason}
            for d in drops
        ],
        "leaks": {
            "scrubbed": sum(len(found) for found in leaky.values()),
            "items": len(leaky),
            "per_item": leaky,
            "in_references": sum(ref["leaks_scrubbed"] for ref in references),
        },
        "bucket_stats": {
            bucket: _bucket_stats(rows) for bucket, rows in records.items() if bucket != CLOSED_BUCKET
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
                },
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
