"""`medlc study STUDY.yaml`: parse arguments, call medlc.study, print what happened.

Exit codes: 0 the asked stages are done; 1 a grid point failed to train (the rest ran;
see its run_error.txt); 2 a mistake in what was asked; 3 not finished because other
shards' checkpoints or pairs are not there yet (rerun, or chain the stages).
"""

from __future__ import annotations

import argparse
import json

from medlc_core.errors import reports_user_errors
from medlc_core.flags import add_set_flag
from medlc_core.hardware import ALLOW_FLAG

WAITING_EXIT = 3


def _print_plan(plan) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=160)
    points = Table(
        "grid point", "gf", "n", "status", "steps", "train tokens (≤)", "checkpoint", title="points"
    )
    for p in plan.points:
        points.add_row(
            escape(p.name),
            f"{p.general_fraction:g}",
            str(p.n),
            p.status,
            str(p.steps),
            f"{p.train_tokens:,}",
            escape(p.checkpoint),
        )
    console.print(points)
    pairs = Table(
        "model", "kind", "tasks", "done", "pending", "untrained", "items", title="pairs (model x task)"
    )
    for name, kind in plan.models:
        mine = [p for p in plan.pairs if p.model == name]
        counts = [str(sum(p.status == status for p in mine)) for status in ("done", "pending", "untrained")]
        items = str(sum(p.items or 0 for p in mine))
        pairs.add_row(escape(name), kind, str(len(mine)), *counts, items)
    console.print(pairs)
    console.print("tasks: " + escape(", ".join(plan.tasks)))
    e, rates = plan.estimate, plan.estimate["rates"]
    left = sum(p.status != "done" for p in plan.pairs)
    console.print(
        f"{len(plan.points)} point(s), {len(plan.pairs)} pair(s); still to do: {len(plan.unfinished)} "
        f"point(s), {left} pair(s), {e['items_to_score']:,} item(s)"
    )
    skipped = (
        f"; not estimated: {escape(', '.join(e['tasks_not_estimated']))}" if e["tasks_not_estimated"] else ""
    )
    console.print(
        f"estimated at the study's `estimate:` rates: training {e['train_seconds'] / 60:.0f} min "
        f"(<= {e['train_tokens_upper_bound']:,} tokens at {rates['train_tokens_per_second']:g} tokens/s), "
        f"scoring {e['score_seconds'] / 60:.0f} min ({rates['score_tokens_per_second']:g} prompt tokens/s "
        f"+ {rates['seconds_per_item']:g} s an item), total {e['total_seconds'] / 60:.0f} min{skipped}"
    )


@reports_user_errors("study")
def run_study_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from medlc.study.config import load_study
    from medlc.study.plan import plan_study, to_dict
    from medlc.study.run import STAGES, run_study
    from medlc_core.shard import parse_shard

    study = load_study(args.study, args.set)
    if args.dry_run:
        plan = plan_study(study)
        if args.json:
            print(json.dumps(to_dict(plan), indent=2, ensure_ascii=False))
        else:
            _print_plan(plan)
        return 0
    stages = STAGES if args.stage == "all" else (args.stage,)
    console = Console()
    outcome = run_study(
        study, parse_shard(args.shard), stages, args.allow_cpu, console, iters=args.bootstrap_iters
    )
    err = Console(stderr=True, soft_wrap=True)
    if outcome.failed:
        failed = escape(", ".join(outcome.failed))
        err.print(f"grid point(s) failed to train: {failed} (see their run_error.txt)")
        return 1
    if outcome.waiting:
        waiting = escape(", ".join(outcome.waiting))
        err.print(
            f"scoring waits for {len(outcome.waiting)} checkpoint(s) not trained yet: {waiting}; other "
            "shards train them. Rerun with --stage score once they are done"
        )
        return WAITING_EXIT
    if outcome.missing_pairs:
        missing = outcome.missing_pairs
        err.print(f"the report waits for {missing} pair(s) other shards score; rerun with --stage report")
        return WAITING_EXIT
    if "score" in outcome.stages:
        err.print(f"{outcome.scored} pair(s) scored, {outcome.skipped} already done")
    if outcome.report is not None:
        console.print(f"study report: [bold]{escape(str(outcome.report.resolve()))}[/]")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "study",
        help="fine-tune a grid, score it with comparison models, report the answer",
        allow_abbrev=False,
    )
    p.add_argument("study", help="study YAML (see harness_configs/study_cpu_smoke.yaml)")
    p.add_argument(
        "--shard", default="0/1", metavar="i/N", help="block i (0-based) of N of the grid, then of the pairs"
    )
    p.add_argument(
        "--stage",
        choices=["all", "sweep", "score", "report"],
        default="all",
        help="run one stage only (a Slurm chain runs them as dependent jobs); default all",
    )
    p.add_argument("--dry_run", action="store_true", help="print the plan: points, pairs, estimated cost")
    p.add_argument("--json", action="store_true", help="with --dry_run: the plan as JSON")
    p.add_argument(
        ALLOW_FLAG, action="store_true", help="run a study that asks for a GPU although none is visible"
    )
    p.add_argument("--bootstrap_iters", type=int, default=None, help="report bootstrap draws (default 2000)")
    add_set_flag(p, "--set grid.ns=[16] --set settings.sample_items=8")
    p.set_defaults(func=run_study_command)
