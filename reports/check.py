"""The regression gate: is a candidate checkpoint significantly worse than a baseline?

Per gated task the two per-sample logs are paired item by item (by exam item id) and
compared with an exact one-sided McNemar test. A task fails when both hold:
  * the candidate's accuracy is lower by more than `margin` (the drop a team tolerates;
    a drop of exactly `margin` is tolerated);
  * the drop is significant: p < alpha after Holm's correction over the gated tasks.
A re-run of the same model has no discordant items, so p = 1 and it passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reports.collect import ResultsError, TaskRun, collect
from reports.stats import McNemar, holm, mcnemar_worse

# Drops are whole items out of n, so the margin is compared in items, with a tolerance far
# below one item: float rounding (0.7 - 0.6 < 0.1) must never decide a verdict.
MARGIN_TOLERANCE_ITEMS = 1e-6


@dataclass(frozen=True)
class GateRow:
    task: str
    paired: int
    unpaired: int  # items scored on only one side (e.g. a different limit)
    baseline_acc: float
    candidate_acc: float
    baseline_only: int
    candidate_only: int
    p: float
    p_adjusted: float
    worse: bool

    @property
    def drop(self) -> float:
        return self.baseline_acc - self.candidate_acc


@dataclass
class GateResult:
    baseline: str
    candidate: str
    margin: float
    alpha: float
    correction: str
    rows: list[GateRow] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(row.worse for row in self.rows)


def pick_model(runs: list[TaskRun], name: str | None, where: str) -> list[TaskRun]:
    """The runs of one model: the only one present, or the one called `name`."""
    names = sorted({run.model.name for run in runs})
    if name is None:
        if len(names) != 1:
            raise ResultsError(f"{where} holds {len(names)} models {names}; choose one by name")
        return runs
    chosen = [run for run in runs if run.model.name == name]
    if not chosen:
        raise ResultsError(f"{where} has no model named {name!r}; it has {names}")
    return chosen


def beyond_margin(test: McNemar, margin: float) -> bool:
    """Whether the candidate lost more than `margin` of the items, net of those it gained."""
    return (test.baseline_only - test.candidate_only) - margin * test.n > MARGIN_TOLERANCE_ITEMS


def _pair(base: TaskRun, cand: TaskRun) -> tuple[list[float], list[float], int]:
    if base.data_hash != cand.data_hash or base.version != cand.version:
        raise ResultsError(
            f"{base.task}: baseline and candidate were scored on different data or task versions "
            f"({base.version}/{base.data_hash} vs {cand.version}/{cand.data_hash}); items cannot be paired"
        )
    if base.metric != cand.metric:
        raise ResultsError(f"{base.task}: metrics differ ({base.metric} vs {cand.metric})")
    b = {item.item_id: item.score for item in base.items}
    c = {item.item_id: item.score for item in cand.items}
    shared = sorted(b.keys() & c.keys())
    if not shared:
        raise ResultsError(f"{base.task}: baseline and candidate share no items")
    return [b[i] for i in shared], [c[i] for i in shared], len(b.keys() ^ c.keys())


def compare(
    baseline: list[TaskRun],
    candidate: list[TaskRun],
    tasks: list[str] | None = None,
    margin: float = 0.0,
    alpha: float = 0.05,
    mid_p: bool = False,
    correction: str = "holm",
) -> GateResult:
    """Gate every task in `tasks` (default: every task both sides scored)."""
    base = {run.task: run for run in baseline}
    cand = {run.task: run for run in candidate}
    if tasks is None:
        tasks = sorted(base.keys() & cand.keys())
        if not tasks:
            raise ResultsError("baseline and candidate have no task in common")
    sides = (("baseline", base), ("candidate", cand))
    missing = [(t, side) for t in tasks for side, runs in sides if t not in runs]
    if missing:
        raise ResultsError("gated task(s) not scored: " + ", ".join(f"{t} ({side})" for t, side in missing))
    tests = []
    for task in tasks:
        b, c, unpaired = _pair(base[task], cand[task])
        tests.append((task, b, c, unpaired, mcnemar_worse(b, c, mid_p=mid_p)))
    pvalues = [test.p_worse for *_, test in tests]
    adjusted = holm(pvalues) if correction == "holm" else pvalues
    result = GateResult(baseline[0].model.name, candidate[0].model.name, margin, alpha, correction)
    for (task, b, c, unpaired, test), p_adj in zip(tests, adjusted, strict=True):
        result.rows.append(
            GateRow(
                task=task,
                paired=test.n,
                unpaired=unpaired,
                baseline_acc=sum(b) / len(b),
                candidate_acc=sum(c) / len(c),
                baseline_only=test.baseline_only,
                candidate_only=test.candidate_only,
                p=test.p_worse,
                p_adjusted=p_adj,
                worse=p_adj < alpha and beyond_margin(test, margin),
            )
        )
    return result


def check(
    baseline_dir: str | Path,
    candidate_dir: str | Path,
    baseline_model: str | None = None,
    candidate_model: str | None = None,
    **options,
) -> GateResult:
    """Read two results folders and gate the candidate against the baseline."""
    base = pick_model(collect(baseline_dir), baseline_model, f"baseline {baseline_dir}")
    cand = pick_model(collect(candidate_dir), candidate_model, f"candidate {candidate_dir}")
    return compare(base, cand, **options)
