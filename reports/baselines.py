"""What a score rules out: every model beside the model-free baselines, on the same items.

A baseline is a result scored by `medlc-baseline` (its results say so: lm-eval records
the LM's `get_model_info()` under `config`, with the rule it applied). Its rows stand in
the leaderboard like any model's, marked as baselines.

For every other model and variant, `compare` pairs the model's open-book items with each
baseline's by task and item id, and bootstraps the difference of the two accuracies
resampling questions jointly (`stats.difference_ci` on the same items: a paired cluster
bootstrap). The `count` baseline's difference is the "above count" column. The pairing
is refused, with the reason, when a baseline lacks one of the model's tasks or scored it
on other items or other exam data: a difference over other items says nothing about this
model's score. A model whose difference from any baseline has a 95% interval that reaches
0 or lies below it is *matched* by that baseline: its open-book score does not show that it
read more than that rule, and the report marks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reports.collect import TaskRun
from reports.stats import Estimate, difference_ci

BASELINE_BACKEND = "medlc-baseline"
COUNT = "count"
MATCHED_MARK = "†"
ABOVE_COUNT = "above count"


def baseline_of(results: dict[str, Any]) -> dict[str, Any] | None:
    """The rule a result was scored by ({method, seed, rule}), or None for a model."""
    config = results.get("config") or {}
    if BASELINE_BACKEND not in (config.get("medlc_backend"), config.get("model")):
        return None
    rule = config.get("baseline")
    return dict(rule) if isinstance(rule, dict) else {}


@dataclass(frozen=True)
class Baseline:
    """One baseline row of a variant, as `compare` needs it."""

    name: str
    method: str | None
    open_runs: list[TaskRun]


@dataclass(frozen=True)
class Comparison:
    """One model against the baselines of its variant, open book, on the same items."""

    above_count: Estimate | None
    not_comparable: str | None  # why there is no above-count number
    differences: dict[str, Estimate] = field(default_factory=dict)  # baseline -> model - baseline

    @property
    def matched_by(self) -> list[str]:
        """Baselines whose paired difference interval reaches 0 or lies below it."""
        return [name for name, diff in self.differences.items() if diff.low <= 0]


def paired_items(model_runs: Sequence[TaskRun], base: Baseline) -> tuple[list, list, list] | str:
    """(model scores, baseline scores, item ids) over the model's open-book items, or why
    the baseline was not scored on exactly those items."""
    by_task = {run.task: run for run in base.open_runs}
    mine_all, theirs_all, ids = [], [], []
    for run in model_runs:
        other = by_task.get(run.task)
        if other is None:
            return f"{base.name} has no results for {run.task}"
        if (other.version, other.data_hash) != (run.version, run.data_hash):
            return (
                f"{base.name} scored {run.task} v{other.version} on exam data {other.data_hash}, "
                f"this model v{run.version} on {run.data_hash}"
            )
        mine = {item.item_id: item.score for item in run.items}
        theirs = {item.item_id: item.score for item in other.items}
        if mine.keys() != theirs.keys():
            common = len(mine.keys() & theirs.keys())
            return (
                f"{base.name} scored other items of {run.task}: {common} of this model's "
                f"{len(mine)} items, and {len(theirs) - common} it did not score"
            )
        for item_id in sorted(mine):
            mine_all.append(mine[item_id])
            theirs_all.append(theirs[item_id])
            # Clustered by question: the same question in two buckets is one draw.
            ids.append(item_id)
    return mine_all, theirs_all, ids


def compare(
    model_runs: Sequence[TaskRun], baselines: Sequence[Baseline], iters: int, seed: int
) -> Comparison:
    """The model's paired open-book difference from each baseline, and "above count"."""
    if not model_runs:
        return Comparison(None, "no open-book items")
    differences: dict[str, Estimate] = {}
    reasons: dict[str, str] = {}
    for base in baselines:
        paired = paired_items(model_runs, base)
        if isinstance(paired, str):
            reasons[base.name] = paired
            continue
        mine, theirs, ids = paired
        differences[base.name] = difference_ci(mine, ids, theirs, ids, iters, seed)
    counts = [base.name for base in baselines if base.method == COUNT]
    if not counts:
        return Comparison(None, "no count baseline in these results", differences)
    for name in counts:
        if name in differences:
            return Comparison(differences[name], None, differences)
    return Comparison(None, reasons[counts[0]], differences)


def versus_json(row: Any) -> dict[str, Any]:
    """A leaderboard row's baseline fields in leaderboard.json."""
    versus = row.versus

    def est(e: Estimate | None) -> dict | None:
        return e.as_dict() if e else None

    return {
        "baseline": None if row.baseline is None else {"method": row.baseline, "rule": row.baseline_rule},
        "above_count": est(versus.above_count) if versus else None,
        "above_count_not_comparable": versus.not_comparable if versus else None,
        "versus_baselines": {name: est(d) for name, d in versus.differences.items()} if versus else {},
        "matched_by_baselines": versus.matched_by if versus else [],
    }


def footnotes(rows: Sequence[Any]) -> list[str]:
    """The notes under a variant's table: what each baseline is, which scores a baseline
    matches, and why an above-count number is missing."""
    notes = [
        f"{row.model} (baseline, model-free): {row.baseline_rule or row.baseline or 'medlc-baseline'}"
        for row in rows
        if row.baseline is not None
    ]
    for row in rows:
        versus = row.versus
        if versus is None:
            continue
        if versus.matched_by:
            verdicts = " and ".join(
                f"{'below' if versus.differences[name].high < 0 else 'matched by'} {name}"
                for name in versus.matched_by
            )
            diffs = ", ".join(
                f"{name} {d.value:+.3f} [{d.low:+.2f}, {d.high:+.2f}]"
                for name, d in versus.differences.items()
                if name in versus.matched_by
            )
            notes.append(
                f"{MATCHED_MARK} {row.model}: open-book score {verdicts} (model minus baseline on the "
                f"same items: {diffs}; a 95% interval that reaches 0 or lies below it), so it does not "
                "show reading beyond that rule"
            )
        if versus.not_comparable and row.open_overall is not None:
            notes.append(f"{row.model}: {ABOVE_COUNT} not comparable: {versus.not_comparable}")
    return notes
