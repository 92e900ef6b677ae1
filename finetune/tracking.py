"""What a run reports while it trains: a rich progress bar, a JSONL log, optional trackers.

`train_log.jsonl` holds one JSON object per logged step (`"kind": "train"`) or eval pass
(`"kind": "eval"`). On --resume, records past the checkpoint's step are cut first, so the
log always describes the run that produced the checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_NAME = "train_log.jsonl"


def available_trackers(requested: list[str]) -> list[str]:
    """Trackers for accelerate's `log_with`; `auto` takes what is installed (W&B only with
    WANDB_PROJECT set, so an unconfigured W&B never stops a run at a login prompt)."""
    chosen: list[str] = []
    for name in requested:
        if name == "auto":
            if importlib.util.find_spec("tensorboard") is not None:
                chosen.append("tensorboard")
            if importlib.util.find_spec("wandb") is not None and os.environ.get("WANDB_PROJECT"):
                chosen.append("wandb")
        elif importlib.util.find_spec(name) is None:
            raise RuntimeError(
                f"runtime.report_to asks for {name!r}, which is not installed (pip install {name})"
            )
        else:
            chosen.append(name)
    return sorted(set(chosen))


class RunLog:
    """Append-only JSONL log, written by the main process only."""

    def __init__(self, output_dir: Path, enabled: bool, resume_step: int | None):
        self.path = output_dir / LOG_NAME
        self.enabled = enabled
        if enabled and resume_step is not None and self.path.exists():
            kept = [
                line
                for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line)["step"] <= resume_step
            ]
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")


def read_log(output_dir: Path) -> list[dict[str, Any]]:
    path = Path(output_dir) / LOG_NAME
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("lr {task.fields[lr]}"),
        TextColumn("{task.fields[tps]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
