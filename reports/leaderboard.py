"""The leaderboard: one row per model and scoring variant, numbers with 95% intervals.

Definitions (every cell is a mean over items of the headline per-sample metric each task's
config names, `metadata.headline_metric`: `acc` for letter and generative tasks,
`acc_norm` for cloze):
  closed      the variant's closed-book task (`dataset_kwargs.exam_bucket: closed`)
  open <b>    the variant's open-book task of bucket <b>
  open        all open-book items of the variant pooled (a micro average over buckets)
  gain        open - closed, questions resampled jointly (reading over remembering)
  above count open minus the `count` baseline's open on the same items (paired by item id per
              task, questions resampled jointly); "not comparable" says why it is missing.
              † marks an open score that a model-free baseline matches: the interval of
              model minus that baseline reaches 0 (reports/baselines.py)
  cf          open-book items whose key is counterfactual, pooled over buckets
  format      share of generative answers a letter could be extracted from (gen tasks)
  over-length s/f/c: items whose book was shortened / items flagged as too long (by the
              task loader or at scoring time) / requests the backend cut from the left
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medlc_core.atomic import atomic_write
from medlc_tasks.exam.schema import DEFAULT_BUCKETS
from reports.baselines import (
    ABOVE_COUNT,
    MATCHED_MARK,
    Baseline,
    Comparison,
    baseline_of,
    compare,
    footnotes,
    versus_json,
)
from reports.collect import VARIANTS, TaskRun
from reports.provenance import provenance
from reports.stats import DEFAULT_ITERS, DEFAULT_SEED, Estimate, difference_ci, mean_ci

# Baselines last: they are the floor every model is read against.
KIND_ORDER = {"general": 0, "medical": 1, "mixture": 2, "baseline": 8}
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
    baseline: str | None = None  # the rule of a model-free baseline row (count, retrieve, ...)
    baseline_rule: str | None = None  # that rule in words, as its results record it
    versus: Comparison | None = None  # a model's open book against the baselines
    open_runs: list[TaskRun] = field(default_factory=list, repr=False)

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
    rule = baseline_of(runs[0].results)
    row = Row(
        model.name,
        model.fingerprint,
        "baseline" if rule is not None else model.kind,
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
    row.open_runs = opened
    if rule is not None:
        row.baseline, row.baseline_rule = rule.get("method") or "unknown", rule.get("rule")
    paths = lambda group: [str(r.path) for r in group]  # noqa: E731
    row.sources = {
        "closed": paths(closed),
        "open": paths(opened),
        "gain": paths(closed + opened),
        ABOVE_COUNT: paths(opened),
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
            ordered = sorted(rows, key=_sort_key)
            baselines = [Baseline(r.model, r.baseline, r.open_runs) for r in ordered if r.baseline]
            for r in rows:
                if r.baseline is None:
                    r.versus = compare(r.open_runs, baselines, iters, seed)
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
        if row.unchecked and row.baseline is None  # a baseline reads every character
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
                    **versus_json(r),
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


_NUMBER = r"[-+]?\d[\d.e+-]*"
_ESTIMATE = re.compile(rf"({_NUMBER}) \[({_NUMBER}, {_NUMBER})\]( {MATCHED_MARK})?")


def split_estimate(text: str) -> tuple[str, str, str] | None:
    """A cell `fmt` wrote, as (value, 'low, high', mark), the mark being " †" for a score a
    baseline matches and "" otherwise; None for any other text (a model name such as
    'tiny [v2]' is a name, not a value over an interval)."""
    match = _ESTIMATE.fullmatch(text)
    return None if match is None else (match.group(1), match.group(2), match.group(3) or "")


# What ends a Markdown table cell, or turns text into raw HTML, an entity, emphasis, code or
# a link. An underscore inside a word (`medlc_openbook_1k`) is plain text and stays as is.
_MD_SPECIAL = re.compile(r"[\\`*\[\]~|]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "}


def md(text: object) -> str:
    """User text (a model, task or bucket name, a path) shown as written in Markdown."""
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text))
    return "".join(_MD_ENTITIES.get(c, c) for c in escaped)


def md_code(text: str) -> str:
    """Text as a code span; in a table only `|` needs escaping there (GFM)."""
    return md(text) if "`" in text else "`" + text.replace("|", "\\|") + "`"


def columns(board: Leaderboard, variant: str) -> list[str]:
    return (
        ["model", "kind", "general fraction", "volume", "closed"]
        + [f"open {b}" for b in board.buckets[variant]]
        + ["open", ABOVE_COUNT, "gain", "counterfactual", "format", OVER_LENGTH]
    )


def above_count_cell(row: Row) -> str:
    """The "above count" cell: the paired difference, or why there is none."""
    if row.versus is None or row.open_overall is None:
        return "–"  # a baseline row, or no open-book items
    if row.versus.above_count is None:
        return "not comparable"
    return fmt(row.versus.above_count, signed=True)


def cells(row: Row, buckets: list[str]) -> list[str]:
    """A row's cells in `columns` order; a bucket the model was not scored on shows '–'."""
    frac = "–" if row.general_fraction is None else f"{row.general_fraction:g}"
    volume = "–" if row.n is None else str(row.n)
    over = "/".join("–" if n is None else str(n) for n in row.over_length.values())
    kind = f"baseline: {row.baseline}" if row.baseline else row.kind
    matched = f" {MATCHED_MARK}" if row.versus and row.versus.matched_by else ""
    return (
        [row.model, kind, frac, volume, fmt(row.closed)]
        + [fmt(row.open_by_bucket.get(b)) for b in buckets]
        + [
            fmt(row.open_overall) + matched,
            above_count_cell(row),
            fmt(row.gain, signed=True),
            fmt(row.counterfactual),
            fmt(row.format_compliance),
            over,
        ]
    )


def to_markdown(board: Leaderboard) -> str:
    lines = ["# medlc leaderboard", ""]
    lines += [f"> warning: {md(w)}" for w in board.warnings]
    # A line right after a quote would continue it: the links start a paragraph of their own.
    lines += [""] if board.warnings and board.links else []
    lines += [f"See also: [{text}]({to})" if to else f"Next: {text}" for text, to in board.links]
    lines += [""] if board.links else []
    for variant, rows in board.variants.items():
        metric = "/".join(sorted({r.metric for r in rows}))
        lines += [f"## {variant} variant (metric `{metric}`, 95% bootstrap CI)", ""]
        head = columns(board, variant)
        lines += ["| " + " | ".join(map(md, head)) + " |", "|" + "---|" * len(head)]
        for row in rows:
            texts = cells(row, board.buckets[variant])  # numbers as `fmt` wrote them
            texts = [t if split_estimate(t) else md(t) for t in texts]  # names escaped
            if row.baseline:  # baselines in italics: a floor, not a contender
                texts[0] = f"*{texts[0]}*"
            lines.append("| " + " | ".join(texts) + " |")
        lines.append("")
        notes = footnotes(rows)
        lines += [f"- {md(note)}" for note in notes] + ([""] if notes else [])
    if board.other:
        lines += ["## other tasks", "", "| model | task | metric | score |", "|---|---|---|---|"]
        lines += [
            f"| {md(o.model)} | {md(o.task)} | {md(o.metric)} | {fmt(o.estimate)} |" for o in board.other
        ]
        lines.append("")
    p = board.provenance
    lines += ["## provenance", ""]
    lines += [
        f"- {lib}: {md(', '.join(v))}"
        for lib, v in p["versions"].items()
        if lib in ("medlc", "lm_eval", "transformers", "torch")
    ]
    lines += [
        f"- exam data: {md(', '.join(p['exam_hashes'])) or '–'}",
        f"- task versions: {md(', '.join(f'{t} v{v}' for t, v in p['task_versions'].items()))}",
        f"- backend: {md(', '.join(map(str, p['backends'])))}",
        f"- scored: {md(p['scored_from'])} .. {md(p['scored_to'])}; report: {p['report_date']}",
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
        f"| {md(task)} | {md_code(t['metric_key'])} | {md(t['yaml'] or '–')} | {md(t['scorer'] or '–')} |"
        for task, t in p["tasks"].items()
    ]
    lines.append("")
    return "\n".join(lines)


def write(board: Leaderboard, out: Path) -> tuple[Path, Path]:
    md, js = out / "leaderboard.md", out / "leaderboard.json"
    atomic_write(md, to_markdown(board))
    atomic_write(js, json.dumps(to_json(board), indent=2, ensure_ascii=False) + "\n")
    return md, js
