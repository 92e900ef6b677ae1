"""`medlc report`: results directory in, leaderboard (md, json, html) and figures out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reports import html, leaderboard, plots
from reports.collect import ResultsError, collect
from reports.stats import DEFAULT_ITERS, DEFAULT_SEED
from reports.study import StudyQuestion

STUDY_DIR = "study"
# What a leaderboard of stock models points to: the question medlc exists to answer.
STUDY_HINT = (
    "to ask whether medical fine-tuning hurts reading, run "
    "`medlc study harness_configs/study_cpu_smoke.yaml` in a medlc checkout with the development "
    "data in ../shared (it fine-tunes a general:medical grid, scores it beside the base and the "
    "baselines, writes a study report; docs/example_study/ in the medlc repository shows one, "
    "harness_configs/study_gpu.yaml is the GPU-sized study); its `base_model:` names the model "
    "to ask it of"
)


@dataclass(frozen=True)
class Report:
    board: leaderboard.Leaderboard
    figures: list[plots.Figure]
    markdown: Path
    json: Path
    html: Path
    study: Path | None = None  # study.md, when the results were read as a study


def make_report(
    results_dir: str | Path,
    out: str | Path,
    variant: str | None = None,
    iters: int = DEFAULT_ITERS,
    seed: int = DEFAULT_SEED,
    study: StudyQuestion | None = None,
) -> Report:
    """Read `results_dir`, write the leaderboard files and figures under `out`; `variant`
    picks the figures' variant (default: the first scored of letter, cloze, gen). With
    `study`, also the study report (reports/study.py) under `out/study/`, linked from the
    leaderboard."""
    from reports.study_report import write_study

    out = Path(out)
    runs = collect(results_dir)
    board = leaderboard.build(runs, iters=iters, seed=seed)
    if variant is not None and variant not in board.variants:
        raise ResultsError(
            f"{results_dir}: --variant {variant}: these results hold no {variant} tasks; "
            f"expected one of {sorted(board.variants)}"
        )
    figures = plots.draw_all(board, out / "plots", variant)
    study_md = None
    if study is not None:
        study_md = write_study(board, runs, out / STUDY_DIR, study, iters, seed).markdown
        text = "study report: accuracy vs mix and volume, checkpoints vs base, saturation"
        board.links.append((text, f"{STUDY_DIR}/study.md"))
    else:
        board.links.append((STUDY_HINT, None))
    md, js = leaderboard.write(board, out)
    page = html.write(board, figures, out)
    return Report(board, figures, md, js, page, study_md)
