"""The study report: does medical fine-tuning hurt reading, and which mix restores it?

Read from the same results as the leaderboard (and linked from it), per scoring variant:

* every metric (closed book, open book per bucket and overall, open - closed gain, gen
  format compliance) against general fraction, one line per volume, and against volume,
  one line per fraction, with 95% cluster-bootstrap intervals (the leaderboard's numbers);
* each checkpoint against the base model, task by task: exact McNemar on the paired items
  (two-sided, Holm-adjusted over the checkpoint's tasks);
* reading against knowing: open-book gain against closed-book accuracy, one point each;
* saturation over volume per fraction (reports/saturation.py), or why it cannot be said.

A checkpoint's place on every curve is the general_fraction and n its own
mixture_manifest.json states (medlc run copies them into model.json, with the manifest's
path and sha256, which this report lists); nothing is parsed from a name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reports import plots
from reports.collect import TaskRun
from reports.leaderboard import Leaderboard, Row
from reports.saturation import Curve, Saturation, saturation
from reports.stats import holm, mcnemar_worse
from reports.study_plots import Metric, metric_curves

SATURATION_METRICS = ("open", "closed", "gain")
SATURATION_ITERS = 500


@dataclass(frozen=True)
class StudyQuestion:
    base: str  # display name of the base model every checkpoint was tuned from
    title: str = ""


@dataclass(frozen=True)
class Paired:
    """One checkpoint against the base on one task, over the items both answered."""

    model: str
    task: str
    n: int
    base_acc: float
    model_acc: float
    base_only: int  # right for the base, wrong for the checkpoint
    model_only: int
    p: float  # exact McNemar, two-sided
    p_holm: float = 1.0

    @property
    def diff(self) -> float:
        return self.model_acc - self.base_acc


@dataclass
class VariantStudy:
    variant: str
    metric: str
    base: Row | None
    checkpoints: list[Row]
    references: list[Row]  # the base and comparison models, the baselines
    metrics: list[Metric]
    paired: list[Paired] = field(default_factory=list)
    saturation: dict[tuple[float, str], Saturation] = field(default_factory=dict)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: list[plots.Figure] = field(default_factory=list)


def metrics_of(rows: list[Row], buckets: list[str]) -> list[Metric]:
    """The metrics the rows have, in report order."""
    found: list[Metric] = [("closed", "closed book", lambda r: r.closed)]
    found += [(f"open {b}", f"open book {b}", lambda r, b=b: r.open_by_bucket.get(b)) for b in buckets]
    found += [
        ("open", "open book, all buckets", lambda r: r.open_overall),
        ("gain", "open - closed (reading)", lambda r: r.gain),
        ("format", "gen format compliance", lambda r: r.format_compliance),
    ]
    return [m for m in found if any(m[2](r) is not None for r in rows)]


def _two_sided(base: list[float], model: list[float]) -> tuple[int, int, float]:
    worse, better = mcnemar_worse(base, model), mcnemar_worse(model, base)
    return worse.baseline_only, worse.candidate_only, min(1.0, 2 * min(worse.p_worse, better.p_worse))


def paired_tests(base: Row, checkpoints: list[Row], runs: dict[tuple[str, str], TaskRun], tasks: list[str]):
    """McNemar per (checkpoint, task) on the items base and checkpoint share."""
    out = []
    for row in checkpoints:
        mine = []
        for task in tasks:
            a, b = runs.get((base.fingerprint, task)), runs.get((row.fingerprint, task))
            if a is None or b is None:
                continue
            base_items = {i.item_id: i.score for i in a.items}
            shared = [i for i in b.items if i.item_id in base_items]
            if not shared:
                continue
            x, y = [base_items[i.item_id] for i in shared], [i.score for i in shared]
            base_only, model_only, p = _two_sided(x, y)
            mine.append(
                Paired(
                    row.model,
                    task,
                    len(shared),
                    float(np.mean(x)),
                    float(np.mean(y)),
                    base_only,
                    model_only,
                    p,
                )
            )
        adjusted = holm([t.p for t in mine])
        out += [Paired(**{**t.__dict__, "p_holm": q}) for t, q in zip(mine, adjusted, strict=True)]
    return out


def _book_arrays(models: list[Row], by_model: dict[str, list[TaskRun]], book: str, ids: list[str]):
    """(points, clusters) totals and counts of every model's items of one book (open/closed)."""
    index = {cid: i for i, cid in enumerate(ids)}
    totals, counts = np.zeros((len(models), len(ids))), np.zeros((len(models), len(ids)))
    for point, model in enumerate(models):
        for run in by_model[model.fingerprint]:
            if run.book != book:
                continue
            for item in run.items:
                totals[point, index[item.item_id]] += item.score
                counts[point, index[item.item_id]] += 1
    return totals, counts


def saturation_fits(
    base: Row | None, checkpoints: list[Row], by_model: dict[str, list[TaskRun]], iters: int, seed: int
) -> dict[tuple[float, str], Saturation]:
    """Per (fraction, metric): the base at n = 0 and the fraction's checkpoints by volume."""
    fits = {}
    for fraction in sorted({r.general_fraction for r in checkpoints}):
        line = sorted((r for r in checkpoints if r.general_fraction == fraction), key=lambda r: r.n)
        models = ([base] if base is not None else []) + line
        volumes = tuple(0 if m is base else m.n for m in models)
        ids = sorted({i.item_id for m in models for r in by_model[m.fingerprint] for i in r.items})
        books = {book: _book_arrays(models, by_model, book, ids) for book in ("open", "closed")}
        scored = {book: bool((counts.sum(axis=1) > 0).all()) for book, (_, counts) in books.items()}
        for metric in SATURATION_METRICS:
            needs = ("open", "closed") if metric == "gain" else (metric,)
            if not all(scored[book] for book in needs):
                continue
            extra = books["closed"] if metric == "gain" else (None, None)
            data = Curve(volumes, *books[needs[0]], *extra)
            fits[fraction, metric] = saturation(data, iters=iters, seed=seed)
    return fits


def analyse(
    board: Leaderboard,
    runs: list[TaskRun],
    question: StudyQuestion,
    iters: int = SATURATION_ITERS,
    seed: int = 0,
) -> list[VariantStudy]:
    """Every variant's study: curves, paired tests, reading vs knowing, saturation."""
    by_key = {(r.model.fingerprint, r.task): r for r in runs}
    by_model: dict[str, list[TaskRun]] = defaultdict(list)
    for run in runs:
        by_model[run.model.fingerprint].append(run)
    studies = []
    for variant, rows in board.variants.items():
        base = next((r for r in rows if r.model == question.base), None)
        checkpoints = [
            r for r in rows if r.kind == "mixture" and r.general_fraction is not None and r.n is not None
        ]
        references = [r for r in rows if r not in checkpoints]
        study = VariantStudy(
            variant, rows[0].metric, base, checkpoints, references, metrics_of(rows, board.buckets[variant])
        )
        tasks = sorted({r.task for r in runs if r.variant == variant})
        if base is not None:
            study.paired = paired_tests(base, checkpoints, by_key, tasks)
        study.saturation = saturation_fits(base, checkpoints, by_model, iters, seed)
        for row in checkpoints:
            raw = next(r.model.raw for r in by_model[row.fingerprint])
            mixture = raw.get("mixture") or {}
            study.manifests[row.model] = {
                "manifest": mixture.get("manifest"),
                "sha256": mixture.get("sha256"),
            }
        studies.append(study)
    return studies


def draw(study: VariantStudy, out: Path) -> list[plots.Figure]:
    v = study.variant
    title = f"{v} variant"
    figures = [
        metric_curves(
            study.checkpoints,
            study.references,
            study.metrics,
            "general_fraction",
            out,
            f"{v}_vs_fraction",
            f"Accuracy vs general fraction ({title})",
        ),
        metric_curves(
            study.checkpoints,
            study.references,
            study.metrics,
            "n",
            out,
            f"{v}_vs_volume",
            f"Accuracy vs tuning volume ({title})",
            study.saturation,
        ),
    ]
    knowing = [r for r in study.checkpoints + study.references if r.kind != "baseline"]
    fig = plots.gain_vs_closed(knowing, out)
    figures.append(
        plots.Figure(f"{v}_reading_vs_knowing", f"Reading vs knowing ({title})", fig.png, fig.svg, fig.note)
    )
    return figures
