"""`medlc run CONFIG`: score every model x task the same way, one results folder per pair.

Each model is loaded once for all of its pending tasks; each (model, task) pair is still
written on its own, atomically and under its own lock, so a killed run resumes where it
stopped, a finished pair (one whose DONE record matches its files) is never scored twice,
a damaged one is set aside and scored again, and two runs on one results directory share
the pairs instead of both scoring them. `--shard i/N` gives machine i a contiguous block of the
(model-major) pair list, which keeps model loads per machine low; shards write disjoint
folders, so their results merge by copying directories together.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from medlc import scoring
from medlc.model_args import check_model_args
from medlc.runner import backends
from medlc.runner import fingerprint as fp
from medlc.runner.config import ConfigError, HarnessConfig
from medlc.runner.logs import LogCapture
from medlc.runner.roster import ResolvedModel, resolve_roster
from medlc.runner.sampling import task_samples
from medlc_core.lock import FileLock
from medlc_core.provenance import versions
from medlc_core.shard import select_shard
from medlc_core.store import PairKey, ResultStore, samples_to_jsonl
from medlc_tasks.prompts import refuse_fewshot


@dataclass(frozen=True)
class Pair:
    model: ResolvedModel
    task: str
    key: PairKey


@dataclass
class Plan:
    """Everything decided before any model is loaded."""

    config: HarnessConfig
    models: list[ResolvedModel]
    tasks: list[str]  # leaf tasks, groups expanded, in config order
    task_versions: dict[str, str]
    exam_dir: Path
    exam_hash: str
    pairs: list[Pair]
    with_stock: bool  # whether lm-eval's own task folders are needed


@dataclass(frozen=True)
class Damaged:
    """A pair folder whose DONE did not vouch for its files: set aside, then rescored."""

    key: PairKey
    problem: str
    set_aside: Path


@dataclass(frozen=True)
class Busy:
    """A pair another live run was scoring: left to it, not scored twice."""

    key: PairKey
    holder: str  # 'pid 123 on host-a since ...'


@dataclass
class RunSummary:
    results_dir: Path
    shard: tuple[int, int]
    log_path: Path | None = None
    scored: list[PairKey] = field(default_factory=list)
    skipped: list[PairKey] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)
    busy: list[Busy] = field(default_factory=list)
    wall_seconds: float = 0.0
    warnings: int = 0  # warnings in the run log


def resolve_exam(config: HarnessConfig) -> Path:
    """The exam the medlc tasks will read: settings.exam_dir, else $MEDLC_EXAM_DIR, else
    the bundled exam (built into the cache on first use). Passed to the tasks explicitly,
    so the data hash in the results path is the hash of what was read."""
    from medlc_tasks.exam.bundled import resolve_exam_dir
    from medlc_tasks.exam.store import ExamDirError

    try:
        return Path(resolve_exam_dir(config.settings.exam_dir))
    except ExamDirError as err:
        raise ConfigError(f"{config.path}: settings.exam_dir: {err}") from err


def task_manager(config: HarnessConfig, metadata: dict[str, Any], with_stock: bool):
    """lm-eval's TaskManager over the medlc tasks and the config's extra task folders.

    lm-eval's own task index is only included when the config names a task outside
    those folders. `metadata` carries the exam folder and the model to the task loaders.
    """
    return scoring.task_manager(metadata, config.settings.include_paths, include_defaults=with_stock)


def _expand(index: dict[str, Any], name: str, where: str) -> list[str]:
    """Leaf task names of a task, group or tag, read from the index (no dataset is built)."""
    from lm_eval.tasks._index import Kind

    entry = index[name]
    if entry.kind in (Kind.TASK, Kind.PY_TASK):
        return [name]
    if entry.kind == Kind.TAG:
        return sorted(entry.tags)
    leaves = []
    for child in (entry.cfg or {}).get("task") or []:
        if not isinstance(child, str) or child not in index:
            raise ConfigError(
                f"{where}: group {name!r} has an inline member {child!r}; list its tasks by name"
            )
        leaves.extend(_expand(index, child, where))
    return leaves


def _task_facts(index: dict[str, Any], name: str, exam_hash: str) -> tuple[str, str]:
    """(version, data hash) of one leaf task, as lm-eval will report its version."""
    cfg = index[name].cfg or {}
    version = (cfg.get("metadata") or {}).get("version")
    data = exam_hash if fp.uses_exam(name) else fp.dataset_hash(cfg)
    return str(version if version is not None else 0), data


def plan_run(config: HarnessConfig) -> Plan:
    """Resolve the roster, expand task groups, and key every pair; loads no model."""
    exam_dir = resolve_exam(config)
    try:
        exam_hash = fp.exam_data_hash(exam_dir)
    except FileNotFoundError as err:
        raise ConfigError(f"{config.path}: settings.exam_dir: {err}") from err
    index = task_manager(config, {}, with_stock=False).task_index
    with_stock = not all(name in index for name in config.tasks)
    if with_stock:
        index = task_manager(config, {}, with_stock=True).task_index
    tasks: list[str] = []
    for i, name in enumerate(config.tasks):
        if name not in index:
            raise ConfigError(
                f"{config.path}: tasks[{i}]: {name!r} is not a known lm-eval task, group or tag"
            )
        tasks += [t for t in _expand(index, name, f"{config.path}: tasks[{i}]") if t not in tasks]
    facts = {name: _task_facts(index, name, exam_hash) for name in tasks}
    if any(fp.uses_exam(name) for name in tasks):
        refuse_fewshot(config.settings.num_fewshot, f"{config.path}: settings.num_fewshot")
    _check_model_args(config)
    models = resolve_roster(config)
    pairs = [
        Pair(model, task, PairKey(model.fingerprint, task, *facts[task]))
        for model in models
        for task in tasks
    ]
    return Plan(
        config, models, tasks, {t: v for t, (v, _) in facts.items()}, exam_dir, exam_hash, pairs, with_stock
    )


def _check_model_args(config: HarnessConfig) -> None:
    """Every model_args key is one the backend accepts: checked before any model loads,
    so a typo costs no load and leaves no model folder."""
    settings = config.settings
    check_model_args(settings.backend, settings.model_args, f"{config.path}: settings.model_args")
    for spec in config.roster:
        if spec.kind == "baseline":
            continue  # no model_args (the config refuses them): its rule is `method`
        where = f"{config.path}: {spec.key}.model_args"
        check_model_args(spec.backend or settings.backend, spec.model_args, where, spec.pretrained)


def _check_requirements(models: list[ResolvedModel], config: HarnessConfig) -> None:
    import torch

    for model in models:
        missing = backends.missing_packages(model.backend)
        if missing:
            raise ConfigError(
                f"{config.path}: {model.name!r} is scored by backend {model.backend}, which needs "
                f"{', '.join(missing)}: pip install {' '.join(missing)}"
            )
        if "gpu" in model.requires and not torch.cuda.is_available():
            raise ConfigError(
                f"{config.path}: {model.name!r} is marked `requires: [gpu]` and no CUDA device is visible"
            )
        if "hub" in model.requires and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ConfigError(
                f"{config.path}: {model.name!r} needs the Hugging Face hub and HF_HUB_OFFLINE=1"
            )


def score_pair(lm: Any, pair: Pair, plan: Plan, manager: Any, model_args: dict) -> tuple[dict, list[dict]]:
    """lm-eval's results dict (with the backend's report for this task) and per-sample log."""
    s = plan.config.settings
    task = manager.load([pair.task])["tasks"][pair.task]
    options = scoring.ScoringOptions(
        limit=s.limit,
        samples=task_samples(pair.task, task.eval_docs, s.sample_items, s.seed),
        num_fewshot=s.num_fewshot,
        apply_chat_template=pair.model.apply_chat_template,
        system_instruction=s.system_instruction,
        gen_kwargs=s.gen_kwargs,
        bootstrap_iters=s.bootstrap_iters,
        seed=s.seed,
    )
    results = scoring.evaluate(lm, [task], manager, options, pair.model.backend, model_args)
    samples = results.pop("samples")[pair.task]
    return results, samples


def _free_accelerator() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _record(pair: Pair, plan: Plan, shard: tuple[int, int], started: float) -> dict[str, Any]:
    config = plan.config
    return {
        "config_file": str(config.path),
        "config_name": config.name,
        "config_sha256": config.sha256,
        "config_text": config.text,
        "config_overrides": list(config.overrides),
        "settings": {**asdict(config.settings), "backend": pair.model.backend},
        "seed": config.settings.seed,
        "model": pair.model.info(),
        "backend": pair.model.backend,
        "task": pair.task,
        "task_version": pair.key.task_version,
        "exam_dir": str(plan.exam_dir),
        "exam_hash": plan.exam_hash,
        "data_hash": pair.key.exam_hash,
        "versions": versions("peft", "accelerate"),
        "shard": f"{shard[0]}/{shard[1]}",
        "host": socket.gethostname(),
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "wall_seconds": round(time.time() - started, 3),
    }


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pairs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def run(
    config: HarnessConfig,
    results_dir: str | Path,
    shard: tuple[int, int] = (0, 1),
    console: Console | None = None,
    after_pair: Callable[[PairKey], None] | None = None,
) -> RunSummary:
    """Score this shard's pending pairs into `results_dir`; returns what was done.

    `after_pair` is called after each pair is safely on disk (tests use it to stop a run).
    """
    # Bound to the real stdout now: library chatter on stderr goes to the run log below.
    console = console or Console(file=sys.stdout)
    started = time.time()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_path = Path(results_dir) / "logs" / f"run-{stamp}-shard{shard[0]}of{shard[1]}-{os.getpid()}.log"
    summary = RunSummary(Path(results_dir), shard, log_path=log_path)
    with LogCapture(log_path) as capture:
        _run_pairs(config, ResultStore(results_dir), shard, console, after_pair, summary)
    summary.warnings = capture.warnings
    summary.wall_seconds = time.time() - started
    return summary


def _run_pairs(config, store, shard, console, after_pair, summary: RunSummary) -> None:
    plan = plan_run(config)
    mine = select_shard(plan.pairs, *shard)
    status = {p.key: store.status(p.key) for p in mine}
    pending = [p for p in mine if not status[p.key].done]
    summary.skipped = [p.key for p in mine if status[p.key].done]
    _check_requirements(list({p.model.fingerprint: p.model for p in pending}.values()), config)
    with _progress(console) as progress:
        bar = progress.add_task("scoring", total=len(mine), completed=len(summary.skipped))
        for model in plan.models:
            todo = [p for p in pending if p.model.fingerprint == model.fingerprint]
            if not todo:
                continue
            progress.update(bar, description=f"{escape(model.name)}: loading", refresh=True)
            model_args = model.backend_args()
            s = config.settings
            lm = scoring.build_lm(model.backend, model_args, s.batch_size, s.device)
            # Written once the model has loaded: a model that fails to load leaves no folder.
            store.write_model(model.fingerprint, model.info())
            # The task loader fits each book to this model's window, whatever the backend.
            metadata = {**backends.loader_metadata(model.backend, model_args), "exam_dir": str(plan.exam_dir)}
            manager = task_manager(config, metadata, plan.with_stock)
            for pair in todo:
                progress.update(bar, description=f"{escape(model.name)} / {escape(pair.task)}")
                with store.lock(pair.key) as lock:
                    if not _ready_to_score(store, pair, lock, console, summary):
                        progress.advance(bar)
                        continue
                    pair_started = time.time()
                    results, samples = score_pair(lm, pair, plan, manager, model_args)
                    store.write_pair(
                        pair.key,
                        results,
                        samples_to_jsonl(samples),
                        _record(pair, plan, shard, pair_started),
                        compress_samples=config.settings.compress_samples,
                    )
                summary.scored.append(pair.key)
                progress.advance(bar)
                if after_pair is not None:
                    after_pair(pair.key)
            del lm, manager
            gc.collect()
            _free_accelerator()
        progress.update(bar, description="done")


def _ready_to_score(
    store: ResultStore, pair: Pair, lock: FileLock, console: Console, summary: RunSummary
) -> bool:
    """Take the pair's lock and make its place ready; False, noted in `summary`, when another
    live run holds the pair or finished it meanwhile. A damaged folder is set aside, saying so."""
    if not lock.acquire():
        summary.busy.append(Busy(pair.key, lock.holder()))
        console.print(
            f"[yellow]busy:[/] {escape(str(store.pair_dir(pair.key)))} is being scored by another run "
            f"({escape(summary.busy[-1].holder)}); left to it"
        )
        return False
    status = store.status(pair.key)
    if status.done:
        summary.skipped.append(pair.key)
        return False
    if status.problem is not None:
        folder = store.pair_dir(pair.key)
        aside = store.set_aside(pair.key)
        summary.damaged.append(Damaged(pair.key, status.problem, aside))
        console.print(
            f"[yellow]damaged:[/] {escape(str(folder))}: {escape(status.problem)}; "
            f"set aside as {escape(aside.name)} and scored again"
        )
    store.clear_partial(pair.key)
    return True
