"""The results directory: one folder per scored (model, task) pair, written atomically.

A ground module: `medlc run` writes this layout and `reports` reads it, so neither
imports the other.

Layout (every path component is content-derived, so shards merge by copying folders):

    RESULTS/<model-fingerprint>/model.json                 who this fingerprint is
    RESULTS/<model-fingerprint>/<task>/<task-version>/<exam-data-hash>/
        results.json      lm-eval's results dict for this one task (as `lm_eval` writes it)
        samples.jsonl     lm-eval's per-sample log (samples.jsonl.gz when compressed)
        record.json       exact config, seed, versions, timings of the run that wrote it
        DONE              written last; names the sha256 of the files above
    RESULTS/<model-fingerprint>/<task>/<task-version>/<exam-data-hash>.lock
                          while a run scores the pair (medlc_core.lock)

A pair is scored iff its folder holds DONE and every file DONE names still has the sha256
it records (`pair_problem`). The folder is assembled under a temporary name beside it and
renamed into place in one step, so a run killed at any point leaves either the complete
folder or a temporary one that the next run deletes. A folder whose files no longer match
its DONE (edited, truncated, a disk fault) is damaged: readers refuse it, and `medlc run`
sets it aside (`<exam-data-hash>.damaged-<time>`, kept for inspection) and scores it again.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medlc_core.atomic import TMP_MARK, atomic_write, fsync_dir, write_synced
from medlc_core.errors import UserError
from medlc_core.lock import FileLock
from medlc_core.provenance import sha256_file

DONE_FILE = "DONE"
MODEL_FILE = "model.json"
RESULTS_FILE = "results.json"
RECORD_FILE = "record.json"
SAMPLES_FILE = "samples.jsonl"
SAMPLES_GZ_FILE = "samples.jsonl.gz"
SAMPLES_FILES = (SAMPLES_FILE, SAMPLES_GZ_FILE)
LOCK_SUFFIX = ".lock"
# A damaged pair folder is renamed <exam-data-hash>.damaged-<UTC time>; readers skip it.
DAMAGED_MARK = ".damaged-"


class DamagedResultsError(UserError, ValueError):
    """A results file that is not what `medlc run` wrote: a damaged pair folder or a
    per-sample log that does not parse. Names the path and what is wrong."""


@dataclass(frozen=True)
class PairKey:
    """Where one (model, task) score lives; every field is a path component."""

    fingerprint: str
    task: str
    task_version: str
    exam_hash: str

    def relpath(self) -> Path:
        return Path(self.fingerprint, self.task, self.task_version, self.exam_hash)


@dataclass(frozen=True)
class PairStatus:
    """Whether a pair is scored: `done` only when DONE vouches for every file it names."""

    done: bool
    problem: str | None = None  # why a folder holding DONE is not done (it is damaged)


def _digest_record(pair_dir: Path) -> dict[str, str] | None:
    try:
        record = json.loads((pair_dir / DONE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in record.items()
    ):
        return None
    return record


def pair_problem(pair_dir: Path) -> str | None:
    """Why the DONE record in `pair_dir` does not vouch for the folder; None when it does.

    DONE must name results.json, record.json and one samples file with their sha256, and
    each of those files must still hash to it.
    """
    record = _digest_record(pair_dir)
    samples = [name for name in SAMPLES_FILES if record and name in record]
    if record is None or RESULTS_FILE not in record or RECORD_FILE not in record or len(samples) != 1:
        return (
            f"{DONE_FILE} is not the record `medlc run` writes (JSON naming the sha256 of "
            f"{RESULTS_FILE}, {RECORD_FILE} and {SAMPLES_FILE} or {SAMPLES_GZ_FILE})"
        )
    other = next(name for name in SAMPLES_FILES if name != samples[0])
    if (pair_dir / other).exists():
        return f"holds {other}, which {DONE_FILE} does not name (it names {samples[0]})"
    for name in (RESULTS_FILE, samples[0], RECORD_FILE):
        path = pair_dir / name
        if not path.is_file():
            return f"{name} is missing ({DONE_FILE} names it)"
        if sha256_file(path) != record[name]:
            return (
                f"{name} does not match the sha256 {DONE_FILE} records for it (changed after it was written)"
            )
    return None


def verify_pair(pair_dir: Path) -> None:
    """Raise DamagedResultsError, naming the folder, unless its DONE vouches for it."""
    problem = pair_problem(pair_dir)
    if problem is not None:
        raise DamagedResultsError(
            f"{pair_dir}: damaged pair folder: {problem}; `medlc run` with the same config "
            "sets it aside and scores the pair again"
        )


def dumps(obj: Any) -> str:
    """JSON as lm-eval writes it: indented, UTF-8 text kept readable, odd types as str."""
    from lm_eval.utils import handle_non_serializable

    return json.dumps(obj, indent=2, ensure_ascii=False, default=handle_non_serializable)


def samples_to_jsonl(samples: Iterable[dict]) -> str:
    """lm-eval's per-sample log lines, sanitised exactly as its EvaluationTracker does."""
    from lm_eval.utils import handle_non_serializable, sanitize_list

    lines = []
    for sample in samples:
        sample = dict(sample)
        arguments = {
            f"gen_args_{i}": {f"arg_{j}": value for j, value in enumerate(arg)}
            for i, arg in enumerate(sample["arguments"])
        }
        sample["resps"] = sanitize_list(sample["resps"])
        sample["filtered_resps"] = sanitize_list(sample["filtered_resps"])
        sample["arguments"] = arguments
        sample["target"] = str(sample["target"])
        lines.append(json.dumps(sample, default=handle_non_serializable, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


class ResultStore:
    """Reads and writes pair folders under one results root."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def pair_dir(self, key: PairKey) -> Path:
        return self.root / key.relpath()

    def status(self, key: PairKey) -> PairStatus:
        """Done, damaged (with why), or not scored; hashes the pair's files."""
        folder = self.pair_dir(key)
        if not (folder / DONE_FILE).is_file():
            return PairStatus(done=False)
        problem = pair_problem(folder)
        return PairStatus(done=problem is None, problem=problem)

    def is_done(self, key: PairKey) -> bool:
        return self.status(key).done

    def lock(self, key: PairKey) -> FileLock:
        """The lock a run holds while it scores this pair (see medlc_core.lock)."""
        return FileLock(self.pair_dir(key).with_name(key.exam_hash + LOCK_SUFFIX))

    def set_aside(self, key: PairKey) -> Path:
        """Rename a damaged pair folder out of the readers' way; returns its new path."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        folder = self.pair_dir(key)
        aside = folder.with_name(f"{key.exam_hash}{DAMAGED_MARK}{stamp}")
        folder.rename(aside)
        fsync_dir(folder.parent)
        return aside

    def clear_partial(self, key: PairKey) -> int:
        """Delete temporary folders a killed run left for this pair; returns how many.

        Call it holding the pair's lock: then no live process is writing them.
        """
        parent = self.pair_dir(key).parent
        if not parent.is_dir():
            return 0
        stale = [p for p in parent.iterdir() if p.name.startswith(key.exam_hash + TMP_MARK)]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)

    def write_model(self, fingerprint: str, info: dict[str, Any]) -> None:
        atomic_write(self.root / fingerprint / MODEL_FILE, dumps(info) + "\n")

    def write_pair(
        self,
        key: PairKey,
        results: dict[str, Any],
        samples_jsonl: str,
        record: dict[str, Any],
        compress_samples: bool = False,
    ) -> Path:
        """Assemble the pair folder under a temporary name, then rename it into place."""
        final = self.pair_dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tag = f"{TMP_MARK}{socket.gethostname()}-{os.getpid()}"
        staging = Path(tempfile.mkdtemp(prefix=key.exam_hash + tag + "-", dir=final.parent))
        # mkdtemp's private 0700 would survive the rename; a results folder is shared.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        try:
            if compress_samples:
                # mtime=0 keeps the bytes identical between reruns of the same scores.
                samples_bytes = gzip.compress(samples_jsonl.encode("utf-8"), mtime=0)
                samples_name = SAMPLES_GZ_FILE
            else:
                samples_bytes, samples_name = samples_jsonl.encode("utf-8"), SAMPLES_FILE
            write_synced(staging / RESULTS_FILE, (dumps(results) + "\n").encode("utf-8"))
            write_synced(staging / samples_name, samples_bytes)
            write_synced(staging / RECORD_FILE, (dumps(record) + "\n").encode("utf-8"))
            digests = {
                name: sha256_file(staging / name) for name in (RESULTS_FILE, samples_name, RECORD_FILE)
            }
            write_synced(staging / DONE_FILE, (json.dumps(digests, indent=2) + "\n").encode())
            fsync_dir(staging)
            try:
                staging.rename(final)
            except OSError:
                if not (final / DONE_FILE).is_file():
                    raise
                # Another run of the same pair finished first; its scores are the same.
            fsync_dir(final.parent)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return final

    def done_pairs(self) -> list[Path]:
        """Every pair folder holding DONE under the root, sorted; staging folders (which
        hold DONE for a moment before their rename) and set-aside damaged ones excluded.
        Readers check each with `verify_pair`."""
        found = (p.parent for p in self.root.glob(f"*/*/*/*/{DONE_FILE}"))
        return sorted(p for p in found if TMP_MARK not in p.name and DAMAGED_MARK not in p.name)


def read_samples(pair_dir: Path) -> list[dict[str, Any]]:
    """The per-sample log of a pair folder, plain or gzip-compressed."""
    for name in SAMPLES_FILES:
        if (pair_dir / name).is_file():
            return read_sample_file(pair_dir / name, f"{pair_dir}/samples")
    raise FileNotFoundError(f"{pair_dir}: no {SAMPLES_FILE} or {SAMPLES_GZ_FILE}")


def read_sample_file(path: Path, where: str | None = None) -> list[dict[str, Any]]:
    """One per-sample log (lm-eval's JSONL, gzip-compressed when it ends in .gz)."""
    where = where or str(path)
    try:
        data = path.read_bytes()
        text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise DamagedResultsError(f"{where}: cannot read the per-sample log ({err})") from err
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            cut = " (the file ends mid-line: cut short?)" if number == text.count("\n") + 1 else ""
            raise DamagedResultsError(f"{where} line {number}: not JSON ({err.msg}){cut}") from err
    return rows
