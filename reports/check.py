"""The regression gate: is a candidate checkpoint significantly worse than a baseline?

Per gated task the two per-sample logs are paired item by item (by exam item id) and
compared with an exact one-sided McNemar test. A task fails when both hold:
  * the candidate's accuracy is lower by more than `margin` (the drop a team tolerates;
    a drop of exactly `margin` is tolerated);
  * the drop is significant: p < alpha after Holm's correction over the gated tasks.
A re-run of the same model has no discordant items, so p = 1 and it passes.

The gate never narrows silently. It refuses (`GateRefused`, exit 2, with a table of
what is missing) when a task was scored on one side only, when a task's item sets differ,
or when a task has fewer than `min_paired` paired items. Each refusal has a flag that
accepts it instead, and what was accepted is listed in the result's warnings:
`allow_missing` gates only the tasks both sides scored, `intersect_items` gates a task on
the items both sides scored; `min_paired` can be lowered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reports.collect import ResultsError, TaskRun, collect
from reports.stats import McNemar, holm, mcnemar_worse

# Drops are whole items out of n, so the margin is compared in items, with a tolerance far
# below one item: float rounding (0.7 - 0.6 < 0.1) must never decide a verdict.
MARGIN_TOLERANCE_ITEMS = 1e-6
# The fewest paired items per task the gate accepts by default: at 50 items a 10-point drop
# is 5 items, and 5 lost with none gained is the smallest count the exact one-sided test
# finds significant at alpha 0.05 (p = 1/32). On fewer items the gate could not fail on a
# 10-point drop, so a PASS there would say nothing.
DEFAULT_MIN_PAIRED = 50
EXAMPLE_IDS = 3  # item ids shown per side when item sets differ


@dataclass(frozen=True)
class Gap:
    """Why one task cannot be gated as asked: missing on a side, different items, too few."""

    task: str
    problem: str  # "task missing" | "items differ" | "too few paired items"
    detail: str


class GateRefused(ResultsError):
    """The runs cannot be compared honestly as they are; `gaps` says where, task by task."""

    def __init__(self, gaps: list[Gap]):
        kinds = sorted({gap.problem for gap in gaps})
        hints = {
            "task missing": "--allow_missing gates only the tasks both sides scored",
            "items differ": "--intersect_items gates such a task on the items both sides scored",
            "too few paired items": "--min_paired N lowers the minimum",
        }
        super().__init__(
            f"the gate cannot compare these runs as they are ({', '.join(kinds)}: "
            + "; ".join(f"{gap.task}: {gap.detail}" for gap in gaps)
            + "); "
            + "; ".join(hints[kind] for kind in kinds)
        )
        self.gaps = gaps


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
    warnings: list[str] = field(default_factory=list)  # what the gate accepted on request

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


def _comparable(base: TaskRun, cand: TaskRun) -> None:
    if base.data_hash != cand.data_hash or base.version != cand.version:
        raise ResultsError(
            f"{base.task}: baseline and candidate were scored on different data or task versions "
            f"({base.version}/{base.data_hash} vs {cand.version}/{cand.data_hash}); items cannot be paired"
        )
    if base.metric != cand.metric:
        raise ResultsError(f"{base.task}: metrics differ ({base.metric} vs {cand.metric})")


def _only(side: str, ids: set[str]) -> str:
    shown = ", ".join(sorted(ids)[:EXAMPLE_IDS]) + (", ..." if len(ids) > EXAMPLE_IDS else "")
    return f"{len(ids)} only in the {side} ({shown})"


def _item_gap(task: str, b: set[str], c: set[str]) -> Gap | None:
    if b == c:
        return None
    parts = [_only(side, ids) for side, ids in (("baseline", b - c), ("candidate", c - b)) if ids]
    return Gap(task, "items differ", f"{len(b & c)} item(s) on both sides, " + ", ".join(parts))


def compare(
    baseline: list[TaskRun],
    candidate: list[TaskRun],
    tasks: list[str] | None = None,
    margin: float = 0.0,
    alpha: float = 0.05,
    mid_p: bool = False,
    correction: str = "holm",
    allow_missing: bool = False,
    intersect_items: bool = False,
    min_paired: int = DEFAULT_MIN_PAIRED,
) -> GateResult:
    """Gate every task in `tasks` (default: every task either side scored); see the module
    docstring for what is refused and which flag accepts it."""
    base = {run.task: run for run in baseline}
    cand = {run.task: run for run in candidate}
    tasks = sorted(base.keys() | cand.keys()) if tasks is None else tasks
    unknown = [t for t in tasks if t not in base and t not in cand]
    if unknown:
        raise ResultsError(f"gated task(s) scored on neither side: {', '.join(unknown)}")
    result = GateResult(baseline[0].model.name, candidate[0].model.name, margin, alpha, correction)
    gaps: list[Gap] = []
    paired = []
    for task in tasks:
        if task not in base or task not in cand:
            side = "candidate" if task in base else "baseline"
            gap = Gap(task, "task missing", f"not scored in the {side}")
            if not allow_missing:
                gaps.append(gap)
            else:
                result.warnings.append(f"{task}: {gap.detail}; not gated (--allow_missing)")
            continue
        _comparable(base[task], cand[task])
        b = {item.item_id: item.score for item in base[task].items}
        c = {item.item_id: item.score for item in cand[task].items}
        if (gap := _item_gap(task, set(b), set(c))) is not None:
            if not intersect_items:
                gaps.append(gap)
                continue
            result.warnings.append(f"{task}: gated on shared items only: {gap.detail} (--intersect_items)")
        shared = sorted(b.keys() & c.keys())
        if len(shared) < min_paired:
            detail = f"{len(shared)} paired item(s); the gate needs at least {min_paired}"
            gaps.append(Gap(task, "too few paired items", detail))
            continue
        paired.append((task, [b[i] for i in shared], [c[i] for i in shared], len(b.keys() ^ c.keys())))
    if gaps:
        raise GateRefused(gaps)
    if not paired:
        raise ResultsError("baseline and candidate have no task in common")
    tests = [(task, b, c, unpaired, mcnemar_worse(b, c, mid_p=mid_p)) for task, b, c, unpaired in paired]
    pvalues = [test.p_worse for *_, test in tests]
    adjusted = holm(pvalues) if correction == "holm" else pvalues
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
