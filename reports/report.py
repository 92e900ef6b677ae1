"""`medlc report`: results directory in, leaderboard (md, json, html) and figures out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reports import html, leaderboard, plots
from reports.collect import ResultsError, collect
from reports.stats import DEFAULT_ITERS, DEFAULT_SEED


@dataclass(frozen=True)
class Report:
    board: leaderboard.Leaderboard
    figures: list[plots.Figure]
    markdown: Path
    json: Path
    html: Path


def make_report(
    results_dir: str | Path,
    out: str | Path,
    variant: str | None = None,
    iters: int = DEFAULT_ITERS,
    seed: int = DEFAULT_SEED,
) -> Report:
    """Read `results_dir`, write the leaderboard files and figures under `out`; `variant`
    picks the figures' variant (default: the first scored of letter, cloze, gen)."""
    out = Path(out)
    board = leaderboard.build(collect(results_dir), iters=iters, seed=seed)
    if variant is not None and variant not in board.variants:
        raise ResultsError(
            f"{results_dir}: --variant {variant}: these results hold no {variant} tasks; "
            f"expected one of {sorted(board.variants)}"
        )
    figures = plots.draw_all(board, out / "plots", variant)
    md, js = leaderboard.write(board, out)
    page = html.write(board, figures, out)
    return Report(board, figures, md, js, page)
