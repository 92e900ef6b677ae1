"""`medlc study STUDY.yaml`: sweep -> scoring -> report, each stage by the library that
owns it (finetune.sweep.run_sweep, medlc.runner.run.run, reports.report.make_report).

Every stage resumes through its owner's own resume: a finished grid point
(`run_result.json`) is not trained again and an interrupted one continues from its last
checkpoint; a scored pair (`DONE`) is not scored again; the report is rewritten whole
from the results. `--shard i/N` means what it means everywhere in medlc
(medlc_core.shard): block i of the sweep's grid, then block i of the runner's pair list.
Scoring needs every checkpoint, so a shard that finishes its part of the grid before the
others stops there and says which checkpoints it waits for; the Slurm example
(harness_configs/study_slurm.sh) runs the stages as dependent job arrays instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medlc.study.config import StudyConfig
from medlc.study.derived import Layout, harness_config, roster_entries, write_sweep
from medlc_core.errors import UserError
from medlc_core.hardware import require_gpu

STAGES = ("sweep", "score", "report")
MOVABLE = {"output_dir", "run_name"}
# (event, detail): ("step", a training step's log record), ("pair", the PairKey written),
# ("stage", the stage just finished). Tests stop a study through it.
Event = Callable[[str, Any], None]


class StudyError(UserError, RuntimeError):
    """A study that cannot go on as asked: a checkpoint trained from another config."""


@dataclass
class StudyOutcome:
    stages: list[str] = field(default_factory=list)  # the stages that ran to their end
    failed: list[str] = field(default_factory=list)  # grid points whose training failed
    waiting: list[str] = field(default_factory=list)  # unfinished grid points (other shards)
    missing_pairs: int = 0  # pairs not scored yet (other shards), when the report waited
    scored: int = 0
    skipped: int = 0
    report: Path | None = None

    @property
    def complete(self) -> bool:
        return not (self.failed or self.waiting or self.missing_pairs)


def gpu_requests(study: StudyConfig, runs) -> list[str]:
    """The study keys that ask for a GPU (finetune's bf16, flash attention; device: cuda)."""
    from finetune.config import gpu_requests as finetune_asks

    asks = sorted({f"finetune.{ask}" for run in runs for ask in finetune_asks(run.config)})
    if (study.settings.device or "").startswith("cuda"):
        asks.append(f"settings.device: {study.settings.device}")
    return asks


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def check_runs_match(runs) -> None:
    """Refuse a grid point on disk that was trained (or started) from another config: the
    sweep would skip or continue it, and the report would draw it as this study's."""
    for run in runs:
        saved = Path(run.config.output_dir) / "config.yaml"
        if not saved.is_file():
            continue
        was = _flatten(yaml.safe_load(saved.read_text(encoding="utf-8")))
        now = _flatten(run.config.to_dict())
        # Where a run lives may change (a study folder moved or copied); what it trained on may not.
        differ = sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k) and k not in MOVABLE)
        if differ:
            shown = ", ".join(f"{k}: {was.get(k)!r} -> {now.get(k)!r}" for k in differ[:4])
            raise StudyError(
                f"{run.config.output_dir}: this grid point was trained from another config ({shown}); "
                "delete the folder to retrain it, or restore the study file"
            )


def run_study(
    study: StudyConfig,
    shard: tuple[int, int] = (0, 1),
    stages: tuple[str, ...] = STAGES,
    allow_cpu: bool = False,
    console: Any = None,
    on_event: Event | None = None,
    iters: int | None = None,
) -> StudyOutcome:
    """Run the study's `stages` for this shard; returns what was done and what waits."""
    from finetune.sweep import run_status, run_sweep
    from medlc.runner.run import plan_run, run
    from medlc_core.store import ResultStore

    layout = Layout(study.root)
    runs = write_sweep(study, layout)
    require_gpu(gpu_requests(study, runs), str(study.path), allow_cpu)
    check_runs_match(runs)
    event = on_event or (lambda kind, detail: None)
    outcome = StudyOutcome()

    if "sweep" in stages:
        index = run_sweep(layout.sweep, shard, allow_cpu=True, on_step=lambda record: event("step", record))
        outcome.failed = [r["name"] for r in index["runs"] if r["status"] == "failed"]
        outcome.stages.append("sweep")
        event("stage", "sweep")
    outcome.waiting = [
        r.name for r in runs if run_status(Path(r.config.output_dir)) not in ("finished", "failed")
    ]
    if outcome.failed or outcome.waiting or not {"score", "report"} & set(stages):
        return outcome

    config = harness_config(study, roster_entries(study, runs), layout, write=True)
    if "score" in stages:
        summary = run(config, layout.results, shard, console, after_pair=lambda key: event("pair", key))
        outcome.scored, outcome.skipped = len(summary.scored), len(summary.skipped)
        outcome.stages.append("score")
        event("stage", "score")
    if "report" in stages:
        store = ResultStore(layout.results)
        outcome.missing_pairs = sum(not store.is_done(p.key) for p in plan_run(config).pairs)
        if outcome.missing_pairs:
            return outcome
        outcome.report = write_report(study, layout, iters)
        outcome.stages.append("report")
        event("stage", "report")
    return outcome


def write_report(study: StudyConfig, layout: Layout, iters: int | None = None) -> Path:
    """The leaderboard and, linked from it, the study report; returns the study report."""
    from reports.report import make_report
    from reports.stats import DEFAULT_ITERS
    from reports.study import StudyQuestion

    question = StudyQuestion(base=study.base_name, title=study.description or study.name)
    report = make_report(layout.results, layout.report, iters=iters or DEFAULT_ITERS, study=question)
    return report.study
