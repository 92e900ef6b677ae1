"""Read a results directory into typed per-item scores.

Two layouts are read, side by side in one directory if need be:

* `medlc run`'s store (`medlc_core.store`): one folder per (model, task) pair;
* lm-eval's own output (`medlc lm-eval`, `lm_eval --output_path`): per model a folder of
  `results_<date>.json` with `samples_<task>_<date>.jsonl` beside it (run with
  `--log_samples`). A task scored again into the same folder: the newest run is read and
  the older ones are listed in the report's warnings.

What a task is -- its variant, its book and bucket, its headline metric -- is read from the
task's own config inside the results (`configs.<task>`: `dataset_kwargs.prompt_variant`,
`dataset_kwargs.exam_bucket`, `metadata.headline_metric`), never from its name.

The leaderboard is computed from the per-sample logs, not from lm-eval's aggregate, so
every number has an item-level bootstrap interval. Nothing damaged is read: a pair folder
must match the sha256 its DONE records, each log must hold as many items as lm-eval says
it scored (`n-samples`), and each task's mean must equal the aggregate lm-eval wrote; any
disagreement is an error naming the file (a corrupted, cut or edited log).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medlc_core.errors import UserError
from medlc_core.provenance import sha256_text
from medlc_core.store import (
    MODEL_FILE,
    RECORD_FILE,
    RESULTS_FILE,
    ResultStore,
    read_sample_file,
    read_samples,
    verify_pair,
)

VARIANTS = ("letter", "cloze", "gen")
# A task whose config names no headline metric (not a medlc task): the first of these.
FALLBACK_METRICS = ("acc_norm", "acc", "exact_match")
# Filters of generative tasks, most specific first, when a task logs several.
FILTER_PREFERENCE = ("extract", "strict-match", "flexible-extract", "none")
LM_EVAL_RESULTS = "results_*.json"


class ResultsError(UserError, ValueError):
    """A results directory that cannot be reported honestly; names the file and problem."""


@dataclass(frozen=True)
class ModelInfo:
    fingerprint: str
    name: str
    kind: str
    general_fraction: float | None
    n: int | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ItemScore:
    """One item's score plus what the report slices by; None where the log lacks it."""

    item_id: str  # the exam item id, shared by the same question across buckets
    score: float
    depth: float | None = None
    counterfactual: bool | None = None
    format_ok: float | None = None
    shortened: bool | None = None  # by the task loader or at scoring time
    flagged: bool | None = None
    unchecked: bool | None = None


@dataclass(frozen=True)
class TaskFacts:
    """What a task's own config says it is (None throughout for a non-medlc task)."""

    variant: str | None
    bucket: str | None  # "closed" for the closed book
    headline_metric: str | None
    yaml: str | None  # the task YAML lm-eval read (`metadata.config_source`)

    @classmethod
    def of(cls, results: dict[str, Any], task: str) -> TaskFacts:
        config = (results.get("configs") or {}).get(task) or {}
        kwargs = config.get("dataset_kwargs") or {}
        metadata = config.get("metadata") or {}
        variant = kwargs.get("prompt_variant")
        return cls(
            variant if variant in VARIANTS else None,
            kwargs.get("exam_bucket"),
            metadata.get("headline_metric"),
            metadata.get("config_source"),
        )


@dataclass
class TaskRun:
    """One scored (model, task) pair."""

    model: ModelInfo
    task: str
    version: str
    data_hash: str
    metric: str
    filter: str
    items: list[ItemScore]
    results: dict[str, Any]
    record: dict[str, Any]
    path: Path
    facts: TaskFacts
    left_cut_requests: int | None = None  # None: the backend does not report them
    superseded: list[Path] = field(default_factory=list)  # older runs of it, not read

    @property
    def variant(self) -> str | None:
        return self.facts.variant

    @property
    def book(self) -> str | None:
        if self.facts.variant is None:
            return None
        return "closed" if self.facts.bucket == "closed" else "open"

    @property
    def bucket(self) -> str | None:
        return None if self.book != "open" else self.facts.bucket


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: cannot read JSON ({err})") from err


def headline_metric(facts: TaskFacts, task: str, keys: set[str]) -> str:
    if facts.headline_metric:
        if facts.headline_metric not in keys:
            raise ResultsError(
                f"task {task}: its config names headline metric {facts.headline_metric!r}, "
                "which the per-sample log lacks"
            )
        return facts.headline_metric
    for key in FALLBACK_METRICS:
        if key in keys:
            return key
    raise ResultsError(f"task {task}: per-sample log has none of the metrics {FALLBACK_METRICS}")


def _pick_filter(rows: list[dict[str, Any]]) -> str:
    filters = list(dict.fromkeys(row.get("filter", "none") for row in rows))
    if len(filters) == 1:
        return filters[0]
    for name in FILTER_PREFERENCE:
        if name in filters:
            return name
    return filters[0]


def _flag(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value)


def _depth(row: dict[str, Any]) -> float | None:
    doc = row.get("doc") if isinstance(row.get("doc"), dict) else {}
    depth = doc.get("depth")
    if isinstance(depth, (int, float)) and depth >= 0:
        return float(depth)
    # A log without the doc field still says the depth through its acc_depth_<pct> key.
    for key, value in row.items():
        if key.startswith("acc_depth_") and value is not None:
            return int(key.removeprefix("acc_depth_")) / 100
    return None


def backend_counts(results: dict[str, Any], task: str) -> dict[str, Any] | None:
    """The scoring backend's over-length counts for `task` (`config.medlc_report`), data-
    parallel ranks merged; None when the backend reports none (e.g. stock `hf`)."""
    report = (results.get("config") or {}).get("medlc_report")
    if not isinstance(report, dict):
        return None
    ranks = report.get("ranks") or [report]
    per_rank = [(rank.get("over_length") or {}).get("tasks", {}).get(task) or {} for rank in ranks]
    return {
        "left_cut_requests": sum(c.get("left_cut_requests", 0) for c in per_rank),
        **{
            key: {i for c in per_rank for i in c.get(key, [])}
            for key in ("shortened_doc_ids", "flagged_doc_ids", "truncated_doc_ids")
        },
    }


def item_scores(
    rows: list[dict[str, Any]], metric: str, where: Path, backend: dict[str, Any] | None = None
) -> list[ItemScore]:
    items, seen = [], set()
    for number, row in enumerate(rows, start=1):
        doc = row.get("doc") if isinstance(row.get("doc"), dict) else {}
        item_id = str(doc.get("id", row.get("doc_id")))
        if item_id in seen:
            raise ResultsError(f"{where}: item {item_id} appears twice (line {number})")
        seen.add(item_id)
        value = row.get(metric)
        if not isinstance(value, (int, float)):
            raise ResultsError(f"{where} line {number}: metric {metric!r} missing or not a number")
        counterfactual = doc.get("counterfactual")
        shortened, flagged = _flag(row.get("book_shortened")), _flag(row.get("overlength_flagged"))
        if backend is not None:  # what the backend did at scoring time, to the same document
            shortened = bool(shortened) or row.get("doc_id") in backend["shortened_doc_ids"]
            flagged = bool(flagged) or row.get("doc_id") in backend["flagged_doc_ids"]
        items.append(
            ItemScore(
                item_id=item_id,
                score=float(value),
                depth=_depth(row),
                counterfactual=counterfactual if isinstance(counterfactual, bool) else None,
                format_ok=None if row.get("format_compliance") is None else float(row["format_compliance"]),
                shortened=shortened,
                flagged=flagged,
                unchecked=_flag(row.get("overlength_unchecked")),
            )
        )
    return items


def _check_item_count(results: dict[str, Any], task: str, items: int, path: Path) -> None:
    """A log with lines lost (cut short, edited) holds fewer items than lm-eval scored."""
    scored = ((results.get("n-samples") or {}).get(task) or {}).get("effective")
    if isinstance(scored, int) and scored != items:
        raise ResultsError(
            f"{path}: the per-sample log of {task} holds {items} item(s) but its results JSON says "
            f"{scored} were scored; the log is incomplete or edited"
        )


def _check_against_aggregate(run: TaskRun) -> None:
    aggregate = run.results.get("results", {}).get(run.task, {}).get(f"{run.metric},{run.filter}")
    if not isinstance(aggregate, (int, float)) or not run.items:
        return
    mean = sum(item.score for item in run.items) / len(run.items)
    if abs(mean - aggregate) > 1e-9:
        raise ResultsError(
            f"{run.path}: per-sample {run.metric} averages {mean:.6f} but its results JSON says "
            f"{aggregate:.6f}; the folder is inconsistent"
        )


def task_run(
    model: ModelInfo,
    task: str,
    results: dict,
    rows: list[dict],
    record: dict,
    path: Path,
    version: str,
    data_hash: str,
) -> TaskRun:
    """One TaskRun from a task's results dict and per-sample log, checked against each other."""
    if not rows:
        raise ResultsError(f"{path}: empty per-sample log for {task}")
    chosen = _pick_filter(rows)
    rows = [row for row in rows if row.get("filter", "none") == chosen]
    facts = TaskFacts.of(results, task)
    metric = headline_metric(facts, task, set(rows[0]))
    backend = backend_counts(results, task)
    run = TaskRun(
        model,
        task,
        version,
        data_hash,
        metric,
        chosen,
        item_scores(rows, metric, path, backend),
        results,
        record,
        path,
        facts,
        None if backend is None else backend["left_cut_requests"],
    )
    _check_item_count(results, task, len(run.items), path)
    _check_against_aggregate(run)
    return run


def read_pair(pair_dir: Path, model: ModelInfo) -> TaskRun:
    """One pair folder of `medlc run`'s store, refused unless its DONE vouches for it."""
    verify_pair(pair_dir)
    results = _load_json(pair_dir / RESULTS_FILE)
    record = _load_json(pair_dir / RECORD_FILE)
    task = pair_dir.parent.parent.name
    return task_run(
        model,
        task,
        results,
        read_samples(pair_dir),
        record,
        pair_dir,
        version=pair_dir.parent.name,
        data_hash=pair_dir.name,
    )


def read_model(model_dir: Path) -> ModelInfo:
    raw = _load_json(model_dir / MODEL_FILE)
    for key in ("name", "kind"):
        if not isinstance(raw.get(key), str):
            raise ResultsError(f"{model_dir / MODEL_FILE}: `{key}` missing")
    return ModelInfo(model_dir.name, raw["name"], raw["kind"], raw.get("general_fraction"), raw.get("n"), raw)


def lm_eval_model(results: dict[str, Any]) -> ModelInfo:
    """Who an lm-eval results file scored: its backend and model_args, hashed."""
    config = results.get("config") or {}
    identity = {"model": config.get("model"), "model_args": config.get("model_args")}
    args = config.get("model_args") if isinstance(config.get("model_args"), dict) else {}
    name = results.get("model_name") or args.get("pretrained") or config.get("model") or "unknown"
    fingerprint = sha256_text(json.dumps(identity, sort_keys=True, default=str))[:16]
    return ModelInfo(fingerprint, str(name), "unknown", None, None, identity)


def read_lm_eval_results(path: Path) -> list[TaskRun]:
    """Every task of one lm-eval `results_<date>.json`, with its `samples_<task>_<date>.jsonl`."""
    results = _load_json(path)
    if not isinstance(results, dict) or "results" not in results:
        raise ResultsError(f"{path}: not an lm-eval results file (no `results`)")
    date_id = path.stem.removeprefix("results_")
    model = lm_eval_model(results)
    started = results.get("date")
    record = {
        "versions": {
            "lm_eval": results.get("lm_eval_version"),
            "transformers": results.get("transformers_version"),
        },
        "settings": {"backend": (results.get("config") or {}).get("model")},
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat()
        if isinstance(started, (int, float))
        else None,
    }
    runs = []
    for task in results.get("configs") or {}:
        samples = path.with_name(f"samples_{task}_{date_id}.jsonl")
        if not samples.is_file():
            raise ResultsError(
                f"{path}: no per-sample log for {task} ({samples.name}); score with --log_samples"
            )
        loaded = (results["configs"][task].get("dataset_kwargs") or {}).get("loaded") or {}
        # The exam file the task read; for another task, lm-eval's hash of its samples.
        data = loaded.get("file_sha256") or (results.get("task_hashes") or {}).get(task) or "unknown"
        data_hash = str(data)[:16]
        version = str((results.get("versions") or {}).get(task, 0))
        rows = read_sample_file(samples)
        runs.append(
            task_run(
                model,
                task,
                results,
                rows,
                record | {"exam_hash": data_hash},
                path,
                version=version,
                data_hash=data_hash,
            )
        )
    return runs


def _newest_lm_eval_runs(files: list[Path]) -> list[TaskRun]:
    """Each (model, task) from the newest results file that scored it; older ones noted."""
    newest: dict[tuple[str, str], TaskRun] = {}
    for path in sorted(files, key=lambda p: p.stem):  # results_<ISO date>: name order is time order
        for run in read_lm_eval_results(path):
            key = (run.model.fingerprint, run.task)
            if key in newest:
                run.superseded = [*newest[key].superseded, newest[key].path]
            newest[key] = run
    return list(newest.values())


def collect(results_dir: str | Path) -> list[TaskRun]:
    """Every scored pair under `results_dir`; one (version, data) per task or an error."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultsError(f"{root}: no such results directory")
    pair_dirs = ResultStore(root).done_pairs()
    lm_eval_files = sorted(root.rglob(LM_EVAL_RESULTS))
    if not pair_dirs and not lm_eval_files:
        raise ResultsError(
            f"{root}: no completed pairs (folders with a DONE marker) and no lm-eval "
            f"results ({LM_EVAL_RESULTS})"
        )
    models: dict[str, ModelInfo] = {}
    runs = []
    for pair_dir in pair_dirs:
        model_dir = pair_dir.parents[2]
        if model_dir.name not in models:
            models[model_dir.name] = read_model(model_dir)
        runs.append(read_pair(pair_dir, models[model_dir.name]))
    runs += _newest_lm_eval_runs(lm_eval_files)
    _check_one_protocol(runs)
    return runs


def _check_one_protocol(runs: list[TaskRun]) -> None:
    """A model scored on two exam versions would mix incomparable numbers in one cell."""
    by_key: dict[tuple[str, str], TaskRun] = {}
    for run in runs:
        key = (run.model.fingerprint, run.task)
        if key in by_key:
            other = by_key[key]
            raise ResultsError(
                f"{run.model.name} / {run.task} is scored twice, in {other.path} and {run.path} "
                "(different task version or exam data); report them from separate results folders"
            )
        by_key[key] = run
