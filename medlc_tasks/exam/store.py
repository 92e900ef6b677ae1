"""Reading and writing built exam directories (the format is described in schema.py)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medlc_core.errors import UserError
from medlc_tasks.exam.schema import CLOSEDBOOK_FILE, MANIFEST_FILE, BuiltRecord, bucket_file

CLOSED_BUCKET = "closed"


class ExamDirError(UserError, ValueError):
    """A path that is not a readable built exam, with what is missing."""


def record_file(bucket: str) -> str:
    """The file of a bucket name, or of "closed" for the closed-book control."""
    return CLOSEDBOOK_FILE if bucket == CLOSED_BUCKET else bucket_file(bucket)


def read_manifest(exam_dir: str | Path) -> dict[str, Any]:
    path = Path(exam_dir) / MANIFEST_FILE
    if not path.is_file():
        raise ExamDirError(
            f"{exam_dir} is not a built exam: no {MANIFEST_FILE} (build one with `medlc build-exam`)"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ExamDirError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None


def require_bucket(exam_dir: str | Path, manifest: dict[str, Any], bucket: str) -> None:
    """Refuse a bucket the exam was not built with, naming the exam, the bucket, the
    buckets it has and, for a bucket the build skipped, why (the manifest's
    `buckets_skipped`: bucket -> {"message": ...}), so a task never becomes an empty
    dataset or a traceback."""
    built = manifest.get("buckets", {})
    if bucket == CLOSED_BUCKET or bucket in built:
        return
    order = [name for name in manifest.get("bucket_order", built) if name in built]
    has = f"it has {', '.join(order) or 'no open-book buckets'} (and {CLOSED_BUCKET})"
    skipped = manifest.get("buckets_skipped", {}).get(bucket)
    if skipped is not None:
        why = f"the build skipped it ({skipped.get('message', 'the pool could not fill it')})"
        fix = "rebuild with more text (--reference FILE) to get it, or choose a task for a bucket it has"
    else:
        why = "it was not among the buckets built"
        fix = f"rebuild with --buckets naming {bucket}, or choose a task for a bucket it has"
    raise ExamDirError(f"exam {exam_dir} has no bucket {bucket!r}: {why}; {has}; {fix}")


def read_records(exam_dir: str | Path, bucket: str) -> list[BuiltRecord]:
    """All records of one bucket ("closed" for closed book), in file order."""
    path = Path(exam_dir) / record_file(bucket)
    if not path.is_file():
        raise ExamDirError(f"{exam_dir} has no bucket {bucket!r} (no {path.name})")
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(BuiltRecord.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError) as err:
                raise ExamDirError(f"{path.name}, line {number}: not a BuiltRecord ({err})") from None
    return records


def write_exam_atomically(out_dir: str | Path, write: Callable[[Path], None], replace: bool = True) -> bool:
    """Let `write` fill a temporary directory beside out_dir, then move it into place.

    A crash leaves at most a hidden temporary directory, never a half exam at out_dir.
    An existing built exam (or empty directory) is replaced when `replace` is set; any
    other existing directory is refused. Returns False when replace=False and another
    process finished the same exam first (the cache case).
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists() and replace:
        _check_replaceable(out_dir)
    # mkdir (not mkdtemp, which makes 0700 directories) so the exam gets the usual umask.
    staging = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        write(staging)
        if not out_dir.exists():
            try:
                os.rename(staging, out_dir)
                return True
            except OSError:
                if not replace and (out_dir / MANIFEST_FILE).is_file():
                    return False
                raise
        if not replace:
            return False
        _check_replaceable(out_dir)
        retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rename(out_dir, retired / "exam")
        os.rename(staging, out_dir)
        shutil.rmtree(retired, ignore_errors=True)
        return True
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(out_dir: Path) -> None:
    if not out_dir.is_dir():
        raise ExamDirError(f"{out_dir} exists and is not a directory")
    if any(out_dir.iterdir()) and not (out_dir / MANIFEST_FILE).is_file():
        raise ExamDirError(f"refusing to replace {out_dir}: it is neither empty nor a built exam")
