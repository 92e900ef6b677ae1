"""The leaderboard: one row per model and scoring variant, numbers with 95% intervals.

Definitions (every cell is a mean over items of the headline per-sample metric each task's
config names, `metadata.headline_metric`: `acc` for letter and generative tasks,
`acc_norm` for cloze):
  closed      the variant's closed-book task (`dataset_kwargs.exam_bucket: closed`)
  open <b>    the variant's open-book task of bucket <b>
  open        all open-book items of the variant pooled (a micro average over buckets)
  gain        open - closed, questions resampled jointly (reading over remembering)
  cf          open-book items whose key is counterfactual, pooled over buckets
  format      share of generative answers a letter could be extracted from (gen tasks)
  over-length s/f/c: items whose book was shortened / items flagged as too long (by the
              task loader or at scoring time) / requests the backend cut from the left
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medlc_core.atomic import atomic_write
from medlc_tasks.exam.schema import DEFAULT_BUCKETS
from reports.collect import VARIANTS, TaskRun
from reports.stats import DEFAULT_ITERS, DEFAULT_SEED, Estimate, difference_ci, mean_ci

KIND_ORDER = {"general": 0, "medical": 1, "mixture": 2}
OVER_LENGTH = "over-length s/f/c"


@dataclass
class Row:
    model: str
    fingerprint: str
    kind: str
    general_fraction: float | None
    n: int | None
    variant: str
    metric: str
    closed: Estimate | None = None
    open_by_bucket: dict[str, Estimate] = field(default_factory=dict)
    open_overall: Estimate | None = None
    gain: Estimate | None = None
    counterfactual: Estimate | None = None
    counterfactual_closed: Estimate | None = None
    format_compliance: Estimate | None = None
    shortened: int | None = None
    flagged: int | None = None
    unchecked: int | None = None  # items whose length could not be checked (no model window)
    left_cut: int | None = None  # requests cut from the left at scoring time; None: not reported
    # column -> the pair folders its number was computed from (leaderboard cell -> results)
    sources: dict[str, list[str]] = field(default_factory=dict)
    # bucket -> depth -> (accuracy, items): the lost-in-the-middle grid
    depth_grid: dict[str, dict[float, tuple[float, int]]] = field(default_factory=dict)

    @property
    def over_length(self) -> dict[str, int | None]:
        """The over-length actions by kind: the column's three numbers."""
        return {"shortened": self.shortened, "flagged": self.flagged, "left_cut_requests": self.left_cut}


@dataclass
class OtherRow:
    """A stock lm-eval task the user added to the roster's tasks."""

    model: str
    task: str
    metric: str
    estimate: Estimate


@dataclass
class Leaderboard:
    variants: dict[str, list[Row]]
    buckets: dict[str, list[str]]
    other: list[OtherRow]
    provenance: dict[str, Any]
    warnings: list[str]
    bootstrap: dict[str, Any]
    # (text, relative path or None for plain text): related reports and what to run next
    links: list[tuple[str, str | None]] = field(default_factory=list)


def bucket_order(bucket: str) -> tuple[int, str]:
    return (DEFAULT_BUCKETS.get(bucket, 10**9), bucket)


def _count(runs: list[TaskRun], attr: str) -> int | None:
    values = [getattr(item, attr) for run in runs for item in run.items]
    if all(v is None for v in values):
        return None  # the tasks did not measure it; say so rather than print 0
    return sum(1 for v in values if v)


def _estimate(runs: list[TaskRun], iters: int, seed: int, keep=lambda item: True) -> Estimate | None:
    items = [item for run in runs for item in run.items if keep(item)]
    if not items:
        return None
    return mean_ci([i.score for i in items], [i.item_id for i in items], iters, seed)


def _depth_grid(open_runs: list[TaskRun]) -> dict[str, dict[float, tuple[float, int]]]:
    grid: dict[str, dict[float, tuple[float, int]]] = {}
    for run in sorted(open_runs, key=lambda r: bucket_order(r.bucket or "")):
        cells: dict[float, list[float]] = defaultdict(list)
        for item in run.items:
            if item.depth is not None:
                cells[item.depth].append(item.score)
        if cells:
            grid[run.bucket or run.task] = {d: (sum(v) / len(v), len(v)) for d, v in sorted(cells.items())}
    return grid


def _row(runs: list[TaskRun], gen_runs: list[TaskRun], variant: str, iters: int, seed: int) -> Row:
    model = runs[0].model
    closed = [r for r in runs if r.book == "closed"]
    opened = sorted((r for r in runs if r.book == "open"), key=lambda r: bucket_order(r.bucket or ""))
    row = Row(
        model.name,
        model.fingerprint,
        model.kind,
        model.general_fraction,
        model.n,
        variant,
        "/".join(sorted({r.metric for r in runs})),
    )
    row.closed = _estimate(closed, iters, seed)
    row.open_by_bucket = {r.bucket or r.task: _estimate([r], iters, seed) for r in opened}
    row.open_overall = _estimate(opened, iters, seed)
    if closed and opened:
        o = [i for r in opened for i in r.items]
        c = [i for r in closed for i in r.items]
        row.gain = difference_ci(
            [i.score for i in o],
            [i.item_id for i in o],
            [i.score for i in c],
            [i.item_id for i in c],
            iters,
            seed,
        )
    row.counterfactual = _estimate(opened, iters, seed, keep=lambda i: i.counterfactual is True)
    row.counterfactual_closed = _estimate(closed, iters, seed, keep=lambda i: i.counterfactual is True)
    compliance = [i for r in gen_runs for i in r.items if i.format_ok is not None]
    if compliance:
        row.format_compliance = mean_ci(
            [i.format_ok for i in compliance], [i.item_id for i in compliance], iters, seed
        )
    row.shortened, row.flagged = _count(runs, "shortened"), _count(runs, "flagged")
    row.unchecked = _count(runs, "unchecked")
    cuts = [r.left_cut_requests for r in runs if r.left_cut_requests is not None]
    row.left_cut = sum(cuts) if cuts else None
    row.depth_grid = _depth_grid(opened)
    paths = lambda group: [str(r.path) for r in group]  # noqa: E731
    row.sources = {
        "closed": paths(closed),
        "open": paths(opened),
        "gain": paths(closed + opened),
        "counterfactual": paths(opened),
        "format": paths(gen_runs),
        OVER_LENGTH: paths(runs),
    }
    row.sources.update({f"open {r.bucket or r.task}": [str(r.path)] for r in opened})
    return row


def _sort_key(row: Row):
    return (
        KIND_ORDER.get(row.kind, 9),
        row.general_fraction if row.general_fraction is not None else -1,
        row.n or 0,
        row.model,
    )


def _unique_names(runs: list[TaskRun]) -> dict[str, str]:
    """Display names per fingerprint; a name shared by two fingerprints gets a suffix."""
    names: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        names[run.model.name].add(run.model.fingerprint)
    return {
        run.model.fingerprint: run.model.name
        if len(names[run.model.name]) == 1
        else f"{run.model.name} [{run.model.fingerprint[:8]}]"
        for run in runs
    }


def provenance(runs: list[TaskRun]) -> dict[str, Any]:
    def distinct(values) -> list:
        return sorted({json.dumps(v, sort_keys=True) for v in values if v is not None})

    versions = defaultdict(set)
    for run in runs:
        for lib, version in (run.record.get("versions") or {}).items():
            if version:
                versions[lib].add(version)
    exam_hashes = defaultdict(set)
    for run in runs:
        exam_hashes[run.task].add(run.data_hash)
    started = [run.record.get("started_at") for run in runs if run.record.get("started_at")]
    traces = {
        run.task: {
            "metric_key": f"{run.metric},{run.filter}",
            "yaml": run.facts.yaml,
            "scorer": scorer_name(run),
        }
        for run in sorted(runs, key=lambda r: r.task)
    }
    return {
        "tasks": traces,
        "versions": {lib: sorted(v) for lib, v in sorted(versions.items())},
        "exam_hashes": sorted({run.record.get("exam_hash") for run in runs if run.record.get("exam_hash")}),
        "data_hash_by_task": {task: sorted(h) for task, h in sorted(exam_hashes.items())},
        "task_versions": {run.task: run.version for run in sorted(runs, key=lambda r: r.task)},
        "backends": [
            json.loads(v) for v in distinct(r.record.get("settings", {}).get("backend") for r in runs)
        ],
        "configs": [json.loads(v) for v in distinct(r.record.get("config_name") for r in runs)],
        "scored_from": min(started) if started else None,
        "scored_to": max(started) if started else None,
        "report_date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def scorer_name(run: TaskRun) -> str | None:
    """The task's `process_results` function, which lm-eval records as its source text."""
    source = ((run.results.get("configs") or {}).get(run.task) or {}).get("process_results")
    if not isinstance(source, str) or not source.startswith("def "):
        return None
    return source[4:].split("(", 1)[0]


def build(runs: list[TaskRun], iters: int = DEFAULT_ITERS, seed: int = DEFAULT_SEED) -> Leaderboard:
    names = _unique_names(runs)
    runs = [replace(run, model=replace(run.model, name=names[run.model.fingerprint])) for run in runs]
    by_model: dict[str, list[TaskRun]] = defaultdict(list)
    for run in runs:
        by_model[run.model.fingerprint].append(run)
    variants: dict[str, list[Row]] = {}
    buckets: dict[str, list[str]] = {}
    for variant in VARIANTS:
        rows = []
        for model_runs in by_model.values():
            mine = [r for r in model_runs if r.variant == variant]
            if mine:
                gen = [r for r in model_runs if r.variant == "gen"]
                rows.append(_row(mine, gen, variant, iters, seed))
        if rows:
            variants[variant] = sorted(rows, key=_sort_key)
            buckets[variant] = sorted({b for row in rows for b in row.open_by_bucket}, key=bucket_order)
    other = [
        OtherRow(run.model.name, run.task, run.metric, _estimate([run], iters, seed))
        for run in sorted(runs, key=lambda r: (r.task, r.model.name))
        if run.variant is None
    ]
    prov = provenance(runs)
    warnings = [
        f"{task}: models were scored on different data ({', '.join(hashes)}); their numbers are not "
        "comparable"
        for task, hashes in prov["data_hash_by_task"].items()
        if len(hashes) > 1
    ]
    warnings += [
        f"{run.model.name} / {run.task}: read from {run.path}; older runs not read: "
        + ", ".join(str(p) for p in run.superseded)
        for run in runs
        if run.superseded
    ]
    warnings += [
        f"{row.model} ({variant}): {row.unchecked} item(s) could not be length-checked against the "
        "model's window (overlength_unchecked); an over-long prompt may have been cut by the backend"
        for variant, rows in variants.items()
        for row in rows
        if row.unchecked
    ]
    return Leaderboard(
        variants, buckets, other, prov, warnings, {"iters": iters, "seed": seed, "level": 0.95}
    )


def _est(e: Estimate | None) -> dict | None:
    return e.as_dict() if e else None


def to_json(board: Leaderboard) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bootstrap": board.bootstrap,
        "provenance": board.provenance,
        "warnings": board.warnings,
        "variants": {},
        "other_tasks": [],
    }
    for variant, rows in board.variants.items():
        out["variants"][variant] = {
            "metric": "/".join(sorted({r.metric for r in rows})),
            "buckets": board.buckets[variant],
            "rows": [
                {
                    "model": r.model,
                    "fingerprint": r.fingerprint,
                    "kind": r.kind,
                    "general_fraction": r.general_fraction,
                    "n": r.n,
                    "closed": _est(r.closed),
                    "open_by_bucket": {b: _est(e) for b, e in r.open_by_bucket.items()},
                    "open": _est(r.open_overall),
                    "gain": _est(r.gain),
                    "counterfactual": _est(r.counterfactual),
                    "counterfactual_closed": _est(r.counterfactual_closed),
                    "format_compliance": _est(r.format_compliance),
                    "over_length": r.over_length,
                    "unchecked": r.unchecked,
                    "sources": r.sources,
                    "depth_grid": {
                        b: {str(d): {"acc": a, "n": k} for d, (a, k) in cells.items()}
                        for b, cells in r.depth_grid.items()
                    },
                }
                for r in rows
            ],
        }
    out["other_tasks"] = [
        {"model": o.model, "task": o.task, "metric": o.metric, **o.estimate.as_dict()} for o in board.other
    ]
    return out


def fmt(e: Estimate | None, signed: bool = False) -> str:
    """'0.625 [0.51, 0.74]', or '–' where there is nothing to show."""
    if e is None:
        return "–"
    sign = "+" if signed else ""
    return f"{e.value:{sign}.3f} [{e.low:{sign}.2f}, {e.high:{sign}.2f}]"


def columns(board: Leaderboard, variant: str) -> list[str]:
    return (
        ["model", "kind", "general fraction", "volume", "closed"]
        + [f"open {b}" for b in board.buckets[variant]]
        + ["open", "gain", "counterfactual", "format", OVER_LENGTH]
    )


def cells(row: Row, buckets: list[str]) -> list[str]:
    """A row's cells in `columns` order; a bucket the model was not scored on shows '–'."""
    frac = "–" if row.general_fraction is None else f"{row.general_fraction:g}"
    volume = "–" if row.n is None else str(row.n)
    over = "/".join("–" if n is None else str(n) for n in row.over_length.values())
    return (
        [row.model, row.kind, frac, volume, fmt(row.closed)]
        + [fmt(row.open_by_bucket.get(b)) for b in buckets]
        + [
            fmt(row.open_overall),
            fmt(row.gain, signed=True),
            fmt(row.counterfactual),
            fmt(row.format_compliance),
            over,
        ]
    )


def to_markdown(board: Leaderboard) -> str:
    lines = ["# medlc leaderboard", ""]
    lines += [f"> warning: {w}" for w in board.warnings]
    # A line right after a quote would continue it: the links start a paragraph of their own.
    lines += [""] if board.warnings and board.links else []
    lines += [f"See also: [{text}]({to})" if to else f"Next: {text}" for text, to in board.links]
    lines += [""] if board.links else []
    for variant, rows in board.variants.items():
        metric = "/".join(sorted({r.metric for r in rows}))
        lines += [f"## {variant} variant (metric `{metric}`, 95% bootstrap CI)", ""]
        head = columns(board, variant)
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in rows:
            lines.append("| " + " | ".join(cells(row, board.buckets[variant])) + " |")
        lines.append("")
    if board.other:
        lines += ["## other tasks", "", "| model | task | metric | score |", "|---|---|---|---|"]
        lines += [f"| {o.model} | {o.task} | {o.metric} | {fmt(o.estimate)} |" for o in board.other]
        lines.append("")
    p = board.provenance
    lines += ["## provenance", ""]
    lines += [
        f"- {lib}: {', '.join(v)}"
        for lib, v in p["versions"].items()
        if lib in ("medlc", "lm_eval", "transformers", "torch")
    ]
    lines += [
        f"- exam data: {', '.join(p['exam_hashes']) or '–'}",
        f"- task versions: {', '.join(f'{t} v{v}' for t, v in p['task_versions'].items())}",
        f"- backend: {', '.join(p['backends'])}",
        f"- scored: {p['scored_from']} .. {p['scored_to']}; report: {p['report_date']}",
        "",
    ]
    lines += [
        "## where each number comes from",
        "",
        "A cell's column names its task; the task's metric key below is what each item scored; "
        "its results files are listed per cell in leaderboard.json (`sources`) and in the HTML "
        "cell tooltips; its YAML names the loader and the scorer.",
        "",
        "| task | metric key | task YAML | scorer |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {task} | `{t['metric_key']}` | {t['yaml'] or '–'} | {t['scorer'] or '–'} |"
        for task, t in p["tasks"].items()
    ]
    lines.append("")
    return "\n".join(lines)


def write(board: Leaderboard, out: Path) -> tuple[Path, Path]:
    md, js = out / "leaderboard.md", out / "leaderboard.json"
    atomic_write(md, to_markdown(board))
    atomic_write(js, json.dumps(to_json(board), indent=2, ensure_ascii=False) + "\n")
    return md, js
