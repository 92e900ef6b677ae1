"""Read a results directory written by `medlc run` into typed per-item scores.

The leaderboard is computed from the per-sample logs, not from lm-eval's aggregate, so
every number has an item-level bootstrap interval; each task's mean is checked against the
aggregate lm-eval wrote, and a disagreement is an error (a corrupted or edited log).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlc_core.store import MODEL_FILE, RECORD_FILE, RESULTS_FILE, ResultStore, read_samples

# medlc task names: medlc_{open,closed}book[_{cloze,gen}][_<bucket>]
TASK_NAME = re.compile(r"^medlc_(?P<book>open|closed)book(?:_(?P<variant>cloze|gen))?(?:_(?P<bucket>\d+k))?$")
VARIANTS = ("letter", "cloze", "gen")
# Which per-sample metric is a task's headline score, by variant.
VARIANT_METRIC = {"letter": "acc", "cloze": "acc_norm", "gen": "acc"}
FALLBACK_METRICS = ("acc_norm", "acc", "exact_match")
# Filters of generative tasks, most specific first, when a task logs several.
FILTER_PREFERENCE = ("extract", "strict-match", "flexible-extract", "none")


class ResultsError(ValueError):
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
    shortened: bool | None = None
    flagged: bool | None = None
    unchecked: bool | None = None


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

    @property
    def book(self) -> str | None:
        m = TASK_NAME.match(self.task)
        return m["book"] if m else None

    @property
    def variant(self) -> str | None:
        m = TASK_NAME.match(self.task)
        return (m["variant"] or "letter") if m else None

    @property
    def bucket(self) -> str | None:
        m = TASK_NAME.match(self.task)
        return m["bucket"] if m else None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: cannot read JSON ({err})") from err


def headline_metric(task: str, keys: set[str]) -> str:
    m = TASK_NAME.match(task)
    if m:
        wanted = VARIANT_METRIC[m["variant"] or "letter"]
        if wanted in keys:
            return wanted
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


def item_scores(rows: list[dict[str, Any]], metric: str, where: Path) -> list[ItemScore]:
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
        items.append(
            ItemScore(
                item_id=item_id,
                score=float(value),
                depth=_depth(row),
                counterfactual=counterfactual if isinstance(counterfactual, bool) else None,
                format_ok=None if row.get("format_compliance") is None else float(row["format_compliance"]),
                shortened=_flag(row.get("book_shortened")),
                flagged=_flag(row.get("overlength_flagged")),
                unchecked=_flag(row.get("overlength_unchecked")),
            )
        )
    return items


def _check_against_aggregate(run: TaskRun) -> None:
    aggregate = run.results.get("results", {}).get(run.task, {}).get(f"{run.metric},{run.filter}")
    if not isinstance(aggregate, (int, float)) or not run.items:
        return
    mean = sum(item.score for item in run.items) / len(run.items)
    if abs(mean - aggregate) > 1e-9:
        raise ResultsError(
            f"{run.path}: per-sample {run.metric} averages {mean:.6f} but results.json says "
            f"{aggregate:.6f}; the folder is inconsistent"
        )


def read_pair(pair_dir: Path, model: ModelInfo) -> TaskRun:
    results = _load_json(pair_dir / RESULTS_FILE)
    record = _load_json(pair_dir / RECORD_FILE)
    task = pair_dir.parent.parent.name
    rows = read_samples(pair_dir)
    if not rows:
        raise ResultsError(f"{pair_dir}: empty per-sample log")
    chosen = _pick_filter(rows)
    rows = [row for row in rows if row.get("filter", "none") == chosen]
    metric = headline_metric(task, set(rows[0]))
    run = TaskRun(
        model=model,
        task=task,
        version=pair_dir.parent.name,
        data_hash=pair_dir.name,
        metric=metric,
        filter=chosen,
        items=item_scores(rows, metric, pair_dir),
        results=results,
        record=record,
        path=pair_dir,
    )
    _check_against_aggregate(run)
    return run


def read_model(model_dir: Path) -> ModelInfo:
    raw = _load_json(model_dir / MODEL_FILE)
    for key in ("name", "kind"):
        if not isinstance(raw.get(key), str):
            raise ResultsError(f"{model_dir / MODEL_FILE}: `{key}` missing")
    return ModelInfo(model_dir.name, raw["name"], raw["kind"], raw.get("general_fraction"), raw.get("n"), raw)


def collect(results_dir: str | Path) -> list[TaskRun]:
    """Every completed pair under `results_dir`; one (version, data) per task or an error."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultsError(f"{root}: no such results directory")
    pair_dirs = ResultStore(root).done_pairs()
    if not pair_dirs:
        raise ResultsError(f"{root}: no completed pairs (folders with a DONE marker)")
    models: dict[str, ModelInfo] = {}
    runs = []
    for pair_dir in pair_dirs:
        model_dir = pair_dir.parents[2]
        if model_dir.name not in models:
            models[model_dir.name] = read_model(model_dir)
        runs.append(read_pair(pair_dir, models[model_dir.name]))
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
