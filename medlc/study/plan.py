"""A study's plan before anything runs: the grid points it trains, the (model, task) pairs
it scores, what is already done, and what the rest will cost at stated reference rates.

`medlc study STUDY.yaml --dry-run` prints it. The points are the sweep's own runs and the
pairs the runner's own order (model-major, task groups expanded), so the plan lists
exactly what a real run produces; a checkpoint not trained yet has no fingerprint, so its
pairs are `untrained` until it is.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.sweep import SweepRun, run_status
from medlc.study.config import StudyConfig
from medlc.study.derived import Layout, harness_config, roster_entries, write_sweep
from medlc_core.store import ResultStore

BASELINE_KIND = "baseline"


@dataclass(frozen=True)
class Point:
    """One grid point: a fine-tuning run of the sweep."""

    name: str
    general_fraction: float
    n: int
    status: str  # the sweep's: pending, started, finished, failed
    checkpoint: str  # the folder the roster scores (finetune.recipe.saved_model_dir)
    steps: int  # optimizer steps (an upper bound when packing is on and epochs decide)
    train_tokens: int  # upper bound: every row full


@dataclass(frozen=True)
class PlannedPair:
    model: str
    kind: str
    task: str
    status: str  # done, pending, or untrained (its checkpoint does not exist yet)
    items: int | None  # None: not a medlc task, its size is lm-eval's business
    prompt_tokens: float | None  # estimated, mean per item


@dataclass
class StudyPlan:
    study: StudyConfig
    layout: Layout
    runs: list[SweepRun]
    points: list[Point]
    models: list[tuple[str, str]]  # (name, kind) in scoring order
    tasks: list[str]  # leaf tasks, in the runner's order
    pairs: list[PlannedPair]
    exam_dir: Path
    estimate: dict[str, Any] = field(default_factory=dict)

    @property
    def unfinished(self) -> list[Point]:
        return [p for p in self.points if p.status != "finished"]


def _steps_and_tokens(run: SweepRun) -> tuple[int, int]:
    c = run.config
    rows_per_step = c.optim.micro_batch_size * c.optim.grad_accum
    steps = c.optim.max_steps or c.optim.epochs * math.ceil(c.data.n / rows_per_step)
    return steps, steps * rows_per_step * c.data.max_length


def _points(runs: list[SweepRun]) -> list[Point]:
    from finetune.recipe import saved_model_dir

    points = []
    for run in runs:
        steps, tokens = _steps_and_tokens(run)
        status = run_status(Path(run.config.output_dir))
        saved = str(saved_model_dir(run.config))
        points.append(Point(run.name, run.general_fraction, run.n, status, saved, steps, tokens))
    return points


def _task_sizes(study: StudyConfig, exam_dir: Path, tasks: list[str]) -> dict[str, tuple[int, float]]:
    """(items scored, mean prompt characters) per medlc task, from the exam on disk."""
    from medlc import scoring
    from medlc_tasks.loading import build_docs
    from medlc_tasks.prompts import render_prompt

    index = scoring.task_manager({}, study.settings.include_paths).task_index
    sizes = {}
    for task in tasks:
        kwargs = ((index[task].cfg or {}) if task in index else {}).get("dataset_kwargs") or {}
        bucket, variant = kwargs.get("exam_bucket"), kwargs.get("prompt_variant")
        if not bucket or not variant:
            continue
        docs, _ = build_docs(exam_dir, bucket, variant, None)
        s = study.settings
        wanted = s.sample_items or (s.limit if isinstance(s.limit, int) else None)
        if isinstance(s.limit, float):
            wanted = math.ceil(s.limit * len(docs))
        chars = sum(len(render_prompt(doc, variant)) for doc in docs) / len(docs)
        sizes[task] = (min(wanted or len(docs), len(docs)), chars)
    return sizes


def plan_study(study: StudyConfig) -> StudyPlan:
    """Everything `medlc study` will do, and what is done already; trains, scores and
    writes nothing (its derived configs go to a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="medlc-study-plan-") as scratch:
        return _plan(study, Layout(study.root, Path(scratch)))


def _plan(study: StudyConfig, layout: Layout) -> StudyPlan:
    from medlc.runner.run import plan_run

    runs = write_sweep(study, layout)
    points = _points(runs)
    entries = roster_entries(study, runs)
    models = [(entry.name, entry.kind) for entry in entries]
    finished = {p.name for p in points if p.status == "finished"}
    # The models that exist now: a checkpoint not trained yet has nothing to fingerprint.
    ready = [e for e in entries if e.run is None or e.run.name in finished]
    current = plan_run(harness_config(study, ready, layout))
    store = ResultStore(layout.results)
    done = {(p.model.name, p.task): store.is_done(p.key) for p in current.pairs}
    sizes = _task_sizes(study, current.exam_dir, current.tasks)
    tokens_per = study.estimate.chars_per_token
    pairs = []
    for name, kind in models:
        for task in current.tasks:
            status = "untrained" if (name, task) not in done else "done" if done[name, task] else "pending"
            items, chars = sizes.get(task, (None, None))
            pairs.append(
                PlannedPair(name, kind, task, status, items, None if chars is None else chars / tokens_per)
            )
    plan = StudyPlan(
        study, Layout(study.root), runs, points, models, list(current.tasks), pairs, current.exam_dir
    )
    plan.estimate = estimate(plan)
    return plan


def estimate(plan: StudyPlan) -> dict[str, Any]:
    """Seconds the unfinished work takes at the study's reference rates (`estimate:`)."""
    rates = plan.study.estimate
    train = sum(p.train_tokens for p in plan.unfinished) / rates.train_tokens_per_second
    train += rates.seconds_per_model_load * len(plan.unfinished)
    todo = [p for p in plan.pairs if p.status != "done" and p.kind != BASELINE_KIND]
    unknown = sorted({p.task for p in todo if p.items is None})
    score = sum(
        p.items * (rates.seconds_per_item + p.prompt_tokens / rates.score_tokens_per_second)
        for p in todo
        if p.items is not None
    )
    score += rates.seconds_per_model_load * len({p.model for p in todo})
    return {
        "train_seconds": round(train),
        "score_seconds": round(score),
        "total_seconds": round(train + score),
        "train_tokens_upper_bound": sum(p.train_tokens for p in plan.unfinished),
        "items_to_score": sum(p.items or 0 for p in todo),
        "tasks_not_estimated": unknown,
        "rates": dataclasses.asdict(rates),
    }


def to_dict(plan: StudyPlan) -> dict[str, Any]:
    """The plan as JSON data (what `--dry-run --json` prints)."""
    return {
        "study": plan.study.name,
        "output_dir": str(plan.layout.root),
        "points": [dataclasses.asdict(p) for p in plan.points],
        "models": [{"name": n, "kind": k} for n, k in plan.models],
        "tasks": plan.tasks,
        "pairs": [dataclasses.asdict(p) for p in plan.pairs],
        "estimate": plan.estimate,
    }
