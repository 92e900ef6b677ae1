"""The bundled exam (written for medlc, shipped in the package) and where tasks find an exam.

The bundled sources are `items_*.jsonl` (medlc format) and `reference_*.txt` under
`medlc_tasks/data/bundled/`. They are built on first use into the medlc cache, under a key
made of the source files' sha256, the builder version, the seed and the buckets, so an edit
to any source or to the builder gives a fresh build and an unchanged one is never rebuilt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from medlc_core.paths import cache_root
from medlc_core.provenance import sha256_file, sha256_text
from medlc_tasks.exam.balance import ShortcutLimits
from medlc_tasks.exam.build import BUILDER_VERSION, BuildOptions, build_exam
from medlc_tasks.exam.schema import DEFAULT_BUCKETS, MANIFEST_FILE
from medlc_tasks.exam.store import ExamDirError

BUNDLED_SOURCE_DIR = Path(__file__).resolve().parent.parent / "data" / "bundled"
BUNDLED_SEED = 1234
EXAM_DIR_ENV = "MEDLC_EXAM_DIR"
# The bundled exam is ours, so its books must not be answerable without reading:
# `validate-exam` fails it, rather than warning, when a bucket breaks these limits.
BUNDLED_LIMITS = ShortcutLimits(enforce=True)
# strict: any bad row in our own sources is a bug to fix, not a row to drop.
BUNDLED_OPTIONS = BuildOptions(strict=True, shortcut_limits=BUNDLED_LIMITS)


def bundled_sources(source_dir: Path | None = None) -> tuple[list[Path], list[Path]]:
    """The bundled item files and reference files, in name order."""
    source_dir = source_dir or BUNDLED_SOURCE_DIR
    items = sorted(source_dir.glob("items_*.jsonl"))
    references = sorted(source_dir.glob("reference_*.txt"))
    if not items:
        raise ExamDirError(f"no bundled exam items (items_*.jsonl) in {source_dir}")
    return items, references


def bundled_cache_key(buckets: dict[str, int], seed: int, source_dir: Path | None = None) -> str:
    items, references = bundled_sources(source_dir)
    described = {
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "buckets": buckets,
        "items": [[path.name, sha256_file(path)] for path in items],
        "references": [[path.name, sha256_file(path)] for path in references],
    }
    return sha256_text(json.dumps(described, sort_keys=True))[:16]


def bundled_exam_dir(buckets: dict[str, int] | None = None, source_dir: Path | None = None) -> Path:
    """The built bundled exam, building it into the cache first if needed (atomically).

    Its buckets are a requirement (the default six unless given): the bundled pool must fill
    them all. `source_dir` replaces the packaged sources (tests use it); the cache key covers it.
    """
    buckets = dict(buckets or DEFAULT_BUCKETS)
    target = cache_root() / "exams" / f"bundled-{bundled_cache_key(buckets, BUNDLED_SEED, source_dir)}"
    if (target / MANIFEST_FILE).is_file():
        return target
    items, references = bundled_sources(source_dir)
    build_exam(items, target, buckets, BUNDLED_SEED, references, BUNDLED_OPTIONS, replace=False)
    return target


def resolve_exam_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The exam to score: an explicit directory, else $MEDLC_EXAM_DIR, else the bundled exam."""
    chosen, origin = explicit, "the given exam_dir"
    if not chosen:
        chosen, origin = os.environ.get(EXAM_DIR_ENV), f"${EXAM_DIR_ENV}"
    if not chosen:
        return bundled_exam_dir()
    path = Path(chosen).expanduser()
    if not (path / MANIFEST_FILE).is_file():
        missing = f"is not a built exam (no {MANIFEST_FILE}); build one with `medlc build-exam`"
        raise ExamDirError(f"{origin} {str(path)!r} {missing}")
    return path
