"""`medlc run`, `medlc report` and `medlc check`: thin argparse fronts over medlc.runner
and reports."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medlc_core.errors import reports_user_errors
from medlc_core.flags import add_alias, add_set_flag

console = Console(stderr=True, soft_wrap=True)  # messages stay one line in CI logs


def _stdout() -> Console:
    """stdout console; outside a terminal (CI logs, pipes) wide enough that no task name
    or number is cut short to rich's default 80 columns."""
    plain = Console()
    return plain if plain.is_terminal else Console(width=200)


@reports_user_errors("run")
def _run(args: argparse.Namespace) -> int:
    from medlc.runner.config import load_config, packaged_config
    from medlc.runner.run import run
    from medlc_core.shard import parse_shard

    config = load_config(args.config or packaged_config("default"), args.set)
    out = _stdout()
    summary = run(config, args.output_path, shard=parse_shard(args.shard), console=out)
    damaged = f" ({len(summary.damaged)} of them damaged and rescored)" if summary.damaged else ""
    out.print(
        f"[bold]{len(summary.scored)}[/] pair(s) scored{damaged}, {len(summary.skipped)} already done, "
        f"in {summary.wall_seconds:.0f} s -> {escape(str(summary.results_dir))}"
    )
    if summary.busy:
        holders = escape(", ".join(sorted({b.holder for b in summary.busy})))
        console.print(
            f"[yellow]warning:[/] {len(summary.busy)} pair(s) left to another run still scoring them "
            f"({holders}); run again once it ends to confirm every pair is done"
        )
    out.print(f"run log: {escape(str(summary.log_path))} ({summary.warnings} warning(s))")
    if args.report:
        return _report_to(args.output_path, args.report, None)
    return 0


# Terminal headers, shortened so the table fits a normal terminal.
SHORT = {"general fraction": "gf", "volume": "n", "counterfactual": "cf", "over-length s/f/c": "over s/f/c"}


def _summary_table(board, variant: str) -> Table:
    """One variant of the leaderboard, each cell as value over its 95% interval; baseline
    rows in italics."""
    from reports.leaderboard import cells, columns

    table = Table(
        title=f"medlc leaderboard ({variant} variant; value over 95% CI)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name in columns(board, variant):
        table.add_column(
            escape(SHORT.get(name, name)),  # bucket names come from the exam
            justify="left" if name in ("model", "kind") else "right",
            overflow="fold",
        )
    for row in board.variants[variant]:
        texts = cells(row, board.buckets[variant])
        table.add_row(*(_two_lines(t) for t in texts), style="italic" if row.baseline else None)
    return table


def _two_lines(text: str) -> str:
    """'0.625 [0.25, 0.88]' -> '0.625' over a dim '0.25..0.88' (a trailing mark stays by the
    value); other text as written."""
    from reports.leaderboard import split_estimate

    estimate = split_estimate(text)
    if estimate is None:
        return escape(text)  # a model name or other text, shown as written
    value, interval, mark = estimate
    low, high = interval.split(", ")
    return f"{value}{escape(mark)}\n[dim]{low}..{high}[/]"


def _report_to(results: str, out: str, variant: str | None, iters: int | None = None) -> int:
    from reports.baselines import footnotes
    from reports.report import make_report
    from reports.stats import DEFAULT_ITERS

    report = make_report(results, out, variant=variant, iters=iters or DEFAULT_ITERS)
    out_console = _stdout()
    for variant, rows in report.board.variants.items():
        out_console.print(_summary_table(report.board, variant))
        for note in footnotes(rows):  # what the baselines are, which scores they match
            out_console.print(f"  {escape(note)}")
    for warning in report.board.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    for fig in report.figures:
        if fig.png is None:
            console.print(f"[dim]figure '{escape(fig.title)}' not drawn: {escape(str(fig.note))}[/]")
    for text, target in report.board.links:
        out_console.print(f"[dim]{'see also' if target else 'next'}: {escape(text)}[/]")
    out_console.print(f"HTML report: [bold]{escape(str(report.html.resolve()))}[/]")
    return 0


@reports_user_errors("report")
def _report(args: argparse.Namespace) -> int:
    out = args.output_path or str(Path(args.results_dir) / "report")
    return _report_to(args.results_dir, out, args.variant, args.bootstrap_iters)


def _gaps_table(gaps) -> Table:
    """What keeps the gate from a verdict, one row per task (printed before the error line)."""
    table = Table(title="the gate cannot compare these runs as they are", title_justify="left")
    for name in ("task", "problem", "detail"):
        table.add_column(name, overflow="fold")
    for gap in gaps:
        table.add_row(escape(gap.task), escape(gap.problem), escape(gap.detail))
    return table


@reports_user_errors("check")
def _check(args: argparse.Namespace) -> int:
    from reports.check import GateRefused, check

    try:
        result = check(
            args.baseline,
            args.candidate,
            baseline_model=args.baseline_model,
            candidate_model=args.candidate_model,
            tasks=args.tasks.split(",") if args.tasks else None,
            margin=args.margin,
            alpha=args.alpha,
            mid_p=args.mid_p,
            correction=args.correction,
            allow_missing=args.allow_missing,
            intersect_items=args.intersect_items,
            min_paired=args.min_paired,
        )
    except GateRefused as err:
        console.print(_gaps_table(err.gaps))
        raise
    table = Table(
        title=f"regression gate: {escape(result.candidate)} vs baseline {escape(result.baseline)} "
        f"(margin {result.margin:g}, alpha {result.alpha:g}, {result.correction})"
    )
    for name in ("task", "items", "baseline", "candidate", "drop", "lost", "gained", "p", "p adj", "verdict"):
        table.add_column(name, justify="left" if name in ("task", "verdict") else "right")
    for row in result.rows:
        items = f"{row.paired}" + (f" (+{row.unpaired} unpaired)" if row.unpaired else "")
        verdict = "[bold red]WORSE[/]" if row.worse else "[green]ok[/]"
        table.add_row(
            escape(row.task),
            items,
            f"{row.baseline_acc:.3f}",
            f"{row.candidate_acc:.3f}",
            f"{row.drop:+.3f}",
            str(row.baseline_only),
            str(row.candidate_only),
            f"{row.p:.2g}",
            f"{row.p_adjusted:.2g}",
            verdict,
        )
    _stdout().print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.failed:
        worse = escape(", ".join(row.task for row in result.rows if row.worse))
        console.print(f"[bold red]FAIL[/]: candidate is significantly worse on {worse}")
        return 1
    console.print("[green]PASS[/]: no gated task is significantly worse")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a count >= 1, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    from reports.check import DEFAULT_MIN_PAIRED  # numpy, no torch: `--help` stays light

    p = subparsers.add_parser("run", help="score every model x task of a harness config", allow_abbrev=False)
    p.add_argument(
        "config",
        nargs="?",
        type=Path,
        help="harness config YAML (default: the packaged harness_configs/default.yaml)",
    )
    output = p.add_argument(
        "--output_path", default="results", metavar="DIR", help="results directory (default: ./results)"
    )
    add_alias(p, "--results", output)
    p.add_argument(
        "--shard",
        default="0/1",
        metavar="i/N",
        help="score only block i (0-based) of N contiguous blocks of the model-major pairs; default 0/1",
    )
    p.add_argument("--report", metavar="DIR", help="also write the report to DIR when done")
    add_set_flag(p, "--set settings.limit=50 --set roster.0.pretrained=runs/x/adapter")
    p.set_defaults(func=_run)

    p = subparsers.add_parser(
        "report", help="leaderboard (md, json, html) and figures from a results dir", allow_abbrev=False
    )
    p.add_argument("results_dir")
    output = p.add_argument(
        "--output_path",
        default=None,
        metavar="DIR",
        help="where the report goes (default: RESULTS_DIR/report)",
    )
    add_alias(p, "--out", output)
    p.add_argument("--variant", choices=["letter", "cloze", "gen"], help="variant for the figures")
    iters = p.add_argument("--bootstrap_iters", type=int, default=None, help="bootstrap draws (default 2000)")
    add_alias(p, "--bootstrap-iters", iters)
    p.set_defaults(func=_report)

    p = subparsers.add_parser(
        "check", help="regression gate: exit 1 if the candidate is significantly worse", allow_abbrev=False
    )
    p.add_argument("--baseline", required=True, help="results dir of the baseline")
    p.add_argument("--candidate", required=True, help="results dir of the candidate")
    for side in ("baseline", "candidate"):
        model = p.add_argument(f"--{side}_model", help=f"model name when the {side} dir holds several")
        add_alias(p, f"--{side}-model", model)
    p.add_argument("--tasks", help="comma-separated tasks to gate (default: every task either side scored)")
    p.add_argument(
        "--allow_missing",
        action="store_true",
        help="gate only the tasks both sides scored, listing the others as warnings "
        "(default: a task scored on one side only is an error, exit 2)",
    )
    p.add_argument(
        "--intersect_items",
        action="store_true",
        help="gate a task whose item sets differ on the items both sides scored, with a warning "
        "(default: different item sets are an error, exit 2)",
    )
    p.add_argument(
        "--min_paired",
        type=_positive,
        default=DEFAULT_MIN_PAIRED,
        metavar="N",
        help=f"fewest paired items per task the gate accepts (default {DEFAULT_MIN_PAIRED}: fewer "
        "could not fail a 10-point drop); fewer is an error, exit 2",
    )
    p.add_argument(
        "--margin",
        type=_fraction,
        default=0.0,
        help="tolerated accuracy drop: a drop of at most this never fails (default 0)",
    )
    p.add_argument("--alpha", type=_fraction, default=0.05, help="significance level (default 0.05)")
    mid_p = p.add_argument("--mid_p", action="store_true", help="McNemar mid-p instead of the exact test")
    add_alias(p, "--mid-p", mid_p)
    p.add_argument(
        "--correction",
        choices=["holm", "none"],
        default="holm",
        help="multiple-testing correction over gated tasks (default holm)",
    )
    p.set_defaults(func=_check)
