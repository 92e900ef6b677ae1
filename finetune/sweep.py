"""Sweeps: one fine-tuning config run over a general_fraction × n grid.

    base_config: finetune/configs/tiny_cpu_smoke.yaml
    output_dir: runs/ratio_sweep
    general_fractions: [0.0, 0.25, 0.5, 0.75, 1.0]
    ns: [1000, 5000, 20000]
    overrides: ["optim.epochs=2"]      # applied to every run, before the grid values

Each run lives in `<output_dir>/gf0.50_n20000/`. A run with `run_result.json` is finished
and skipped; one that was interrupted resumes from its last checkpoint. `--shard i/N`
(0-based i) takes the i-th of N contiguous blocks of the grid, in the order above
(fractions outer, volumes inner; see medlc_core.shard), so N machines split it without
talking to each other. Every invocation rewrites `sweep_index.json` from what is on disk,
so the index is right whichever shard finishes last.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finetune.config import FinetuneConfig, gpu_requests, load_config
from finetune.mixture import MANIFEST_NAME
from finetune.recipe import RESULT_NAME, train
from medlc_core.atomic import write_json_atomic
from medlc_core.config import build, check, read_yaml
from medlc_core.hardware import require_gpu
from medlc_core.provenance import versions
from medlc_core.shard import select_shard

INDEX_NAME = "sweep_index.json"
ERROR_NAME = "run_error.txt"


@dataclass
class SweepConfig:
    base_config: str
    output_dir: str
    general_fractions: list[float]
    ns: list[int]
    overrides: list[str] = field(default_factory=list)


@dataclass
class SweepRun:
    name: str
    general_fraction: float
    n: int
    config: FinetuneConfig


def run_name(general_fraction: float, n: int) -> str:
    return f"gf{general_fraction:.2f}_n{n}"


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML (the grid only; `expand` validates each run's config)."""
    _, data = read_yaml(path, "sweep file")
    sweep = build(SweepConfig, data, path)
    for key in ("general_fractions", "ns"):
        check(bool(getattr(sweep, key)), path, key, "a non-empty list", getattr(sweep, key))
    names = [run_name(gf, n) for gf in sweep.general_fractions for n in sweep.ns]
    check(
        len(set(names)) == len(names),
        path,
        "general_fractions/ns",
        "distinct grid points; these run names repeat",
        names,
    )
    return sweep


def expand(sweep: SweepConfig, extra_overrides: list[str] | None = None) -> list[SweepRun]:
    """Every grid point as a validated config, so a bad value fails before any training."""
    runs = []
    for gf in sweep.general_fractions:
        for n in sweep.ns:
            name = run_name(gf, n)
            overrides = [
                *sweep.overrides,
                *(extra_overrides or []),
                f"data.general_fraction={gf}",
                f"data.n={n}",
                f"output_dir={Path(sweep.output_dir) / name}",
                f"run_name={name}",
            ]
            runs.append(SweepRun(name, gf, n, load_config(sweep.base_config, overrides)))
    return runs


def run_status(run_dir: Path) -> str:
    if (run_dir / RESULT_NAME).is_file():
        return "finished"
    if (run_dir / ERROR_NAME).is_file():
        return "failed"
    if (run_dir / "checkpoints").is_dir() or (run_dir / "train_log.jsonl").is_file():
        return "started"
    return "pending"


def write_index(sweep: SweepConfig, runs: list[SweepRun], sweep_file: str) -> dict[str, Any]:
    entries = []
    for run in runs:
        run_dir = Path(run.config.output_dir)
        status = run_status(run_dir)
        entry: dict[str, Any] = {
            "name": run.name,
            "general_fraction": run.general_fraction,
            "n": run.n,
            "output_dir": str(run_dir),
            "status": status,
            "manifest": str(run_dir / MANIFEST_NAME) if (run_dir / MANIFEST_NAME).is_file() else None,
        }
        if status == "finished":
            entry["result"] = json.loads((run_dir / RESULT_NAME).read_text(encoding="utf-8"))
        if status == "failed":
            entry["error"] = (run_dir / ERROR_NAME).read_text(encoding="utf-8").strip().splitlines()[-1]
        entries.append(entry)
    index = {"sweep_file": sweep_file, "sweep": asdict(sweep), "versions": versions("peft"), "runs": entries}
    Path(sweep.output_dir).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(sweep.output_dir) / INDEX_NAME, index)
    return index


def run_sweep(
    path: str | Path,
    shard: tuple[int, int] = (0, 1),
    overrides: list[str] | None = None,
    output_dir: str | None = None,
    allow_cpu: bool = False,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train this shard's unfinished runs, then rewrite the index; failures are recorded in
    `run_error.txt` and the index rather than stopping the other runs. `output_dir`
    replaces the sweep file's, to run one grid in several places. A grid that asks for a
    GPU stops before any training where none is visible, unless `allow_cpu`. `on_step`
    sees every training step's log record (the study passes it on; tests stop runs)."""
    sweep = load_sweep(path)
    if output_dir is not None:
        sweep.output_dir = output_dir
    runs = expand(sweep, overrides)
    asks = sorted({ask for run in runs for ask in gpu_requests(run.config)})
    require_gpu(asks, str(path), allow_cpu)
    for run in select_shard(runs, *shard):
        run_dir = Path(run.config.output_dir)
        if run_status(run_dir) == "finished":
            continue
        (run_dir / ERROR_NAME).unlink(missing_ok=True)
        try:
            train(run.config, resume=True, on_step=on_step)
        except Exception:  # one bad grid point must not cost the rest of the sweep
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / ERROR_NAME).write_text(traceback.format_exc(), encoding="utf-8")
    return write_index(sweep, runs, str(path))
