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

A pair is scored iff its folder exists and holds DONE. The folder is assembled under a
temporary name beside it and renamed into place in one step, so a run killed at any point
leaves either the complete folder or a temporary one that the next run deletes.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlc_core.atomic import TMP_MARK, atomic_write, fsync_dir, write_synced
from medlc_core.provenance import sha256_file

DONE_FILE = "DONE"
MODEL_FILE = "model.json"
RESULTS_FILE = "results.json"
RECORD_FILE = "record.json"
SAMPLES_FILE = "samples.jsonl"
SAMPLES_GZ_FILE = "samples.jsonl.gz"


@dataclass(frozen=True)
class PairKey:
    """Where one (model, task) score lives; every field is a path component."""

    fingerprint: str
    task: str
    task_version: str
    exam_hash: str

    def relpath(self) -> Path:
        return Path(self.fingerprint, self.task, self.task_version, self.exam_hash)


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

    def is_done(self, key: PairKey) -> bool:
        return (self.pair_dir(key) / DONE_FILE).is_file()

    def clear_partial(self, key: PairKey) -> int:
        """Delete temporary folders a killed run left for this pair; returns how many.

        Safe because a pair belongs to exactly one shard, so no live process shares them.
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
        """Every completed pair folder under the root, sorted (staging folders excluded:
        they hold DONE for a moment before their rename)."""
        found = (p.parent for p in self.root.glob(f"*/*/*/*/{DONE_FILE}"))
        return sorted(p for p in found if TMP_MARK not in p.name)


def read_samples(pair_dir: Path) -> list[dict[str, Any]]:
    """The per-sample log of a pair folder, plain or gzip-compressed."""
    plain, packed = pair_dir / SAMPLES_FILE, pair_dir / SAMPLES_GZ_FILE
    if plain.is_file():
        return read_sample_file(plain, f"{pair_dir}/samples")
    if packed.is_file():
        return read_sample_file(packed, f"{pair_dir}/samples")
    raise FileNotFoundError(f"{pair_dir}: no {SAMPLES_FILE} or {SAMPLES_GZ_FILE}")


def read_sample_file(path: Path, where: str | None = None) -> list[dict[str, Any]]:
    """One per-sample log (lm-eval's JSONL, gzip-compressed when it ends in .gz)."""
    data = path.read_bytes()
    text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{where or path} line {number}: not JSON ({err.msg})") from err
    return rows
