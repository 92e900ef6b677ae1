"""The one place medlc sets up lm-eval scoring.

`medlc run` scores every roster pair through `evaluate`; `medlc lm-eval` (and its shortcut
`medlc eval`) runs lm-eval's own command line after `register_models`; the benchmarks and
the test helpers build their task managers and LMs here too. What they all share:

* `task_manager`: lm-eval's TaskManager over medlc's task folder (plus any others), with
  the metadata the task loaders read: the exam folder, and the model, whose window the
  over-length policy fits each book to;
* `build_lm`: an lm-eval LM by its registry name, with medlc's LMs registered;
* `evaluate`: `simple_evaluate` with one seed for all four generators, the results
  stamped with the backend name, its model_args and lm-eval's per-task content hashes,
  and the backend's report (`medlc-hf`'s over-length counts) taken after every call, so
  each call's results hold that call's counts and nothing piles up across pairs.

lm-eval and torch are imported inside the functions: importing this module is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlc_core.provenance import quiet_lm_eval_git_probe

DEFAULT_SEED = 1234
# lm-eval's own default (its stderr bootstrap); every medlc path uses this one.
DEFAULT_BOOTSTRAP_ITERS = 100_000


def tasks_dir() -> Path:
    """The installed medlc task YAMLs, for lm-eval's `include_path`."""
    import medlc_tasks

    return Path(medlc_tasks.__file__).resolve().parent


def register_models() -> None:
    """Make medlc's LMs known to lm-eval's registry: `medlc-hf`, and the baselines where
    that package is installed."""
    import medlc.backend  # noqa: F401  (registers "medlc-hf")

    try:
        import medlc.baselines  # noqa: F401  (registers the baseline LMs)
    except ModuleNotFoundError as err:
        if err.name != "medlc.baselines":
            raise


def include_paths(extra: Iterable[str | Path] = ()) -> list[str]:
    """medlc's task folder first, then `extra`, each folder once."""
    paths: list[str] = []
    for path in (tasks_dir(), *extra):
        resolved = str(Path(path).expanduser().resolve())
        if resolved not in paths:
            paths.append(resolved)
    return paths


def task_manager(
    metadata: Mapping[str, Any] | None = None,
    extra_paths: Sequence[str | Path] = (),
    include_defaults: bool = False,
):
    """lm-eval's TaskManager over medlc's tasks and `extra_paths`.

    lm-eval's own task index takes seconds to build, so it is included only on request.
    `metadata` reaches the task loaders as `lm_eval --metadata` and `--model_args` do.
    """
    from lm_eval.tasks import TaskManager

    return TaskManager(
        include_path=include_paths(extra_paths),
        include_defaults=include_defaults,
        metadata=dict(metadata or {}),
    )


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_lm(
    backend: str,
    model_args: Mapping[str, Any],
    batch_size: int | str = 1,
    device: str | None = None,
):
    """The lm-eval LM `backend` (e.g. "medlc-hf", "hf"), built as `lm_eval --model` builds it.

    A `device` or `batch_size` inside `model_args` wins over the arguments.
    """
    import lm_eval.api.registry

    register_models()
    args = dict(model_args)
    execution = {
        "batch_size": args.pop("batch_size", batch_size),
        "device": args.pop("device", device) or default_device(),
    }
    return lm_eval.api.registry.get_model(backend).create_from_arg_obj(args, execution)


@dataclass(frozen=True)
class ScoringOptions:
    """Everything besides the model and tasks that decides a score."""

    limit: int | float | None = None
    samples: dict[str, list[int]] | None = None  # lm-eval's per-task doc indices
    num_fewshot: int | None = None
    apply_chat_template: bool | str = False
    system_instruction: str | None = None
    gen_kwargs: dict[str, Any] | None = None
    log_samples: bool = True
    bootstrap_iters: int = DEFAULT_BOOTSTRAP_ITERS
    seed: int = DEFAULT_SEED


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One backend report from every data-parallel rank's: totals summed, ranks kept."""
    if len(reports) == 1:
        return reports[0]
    totals: dict[str, int] = {}
    for report in reports:
        for key, value in report["over_length"]["totals"].items():
            totals[key] = totals.get(key, 0) + value
    return {"backend": reports[0]["backend"], "over_length_totals": totals, "ranks": reports}


def task_hashes(samples: Mapping[str, list[dict[str, Any]]]) -> dict[str, str]:
    """lm-eval's content hash per task (what its EvaluationTracker writes), so reruns compare."""
    from lm_eval.utils import hash_string

    return {
        task: hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in rows))
        for task, rows in samples.items()
    }


def evaluate(
    lm: Any,
    tasks: list[Any],
    manager: Any,
    options: ScoringOptions,
    backend: str,
    model_args: Mapping[str, Any],
) -> dict[str, Any] | None:
    """lm-eval's results dict for `tasks` on `lm`, stamped (see the module docstring);
    None on data-parallel ranks other than 0."""
    from lm_eval import simple_evaluate

    quiet_lm_eval_git_probe()
    results = simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=manager,
        num_fewshot=options.num_fewshot,
        limit=options.limit,
        samples=options.samples,
        log_samples=options.log_samples,
        bootstrap_iters=options.bootstrap_iters,
        apply_chat_template=options.apply_chat_template,
        system_instruction=options.system_instruction,
        gen_kwargs=options.gen_kwargs,
        random_seed=options.seed,
        numpy_random_seed=options.seed,
        torch_random_seed=options.seed,
        fewshot_random_seed=options.seed,
    )
    reports = None
    if hasattr(lm, "pop_medlc_report"):
        # Every rank takes its report (and starts counting afresh); rank 0 gets them all.
        reports = lm.gather_object(lm.pop_medlc_report(), dst=0)
    if results is None:
        return None
    results["config"]["model"] = backend
    results["config"]["model_args"] = dict(model_args)
    if reports:
        results["config"]["medlc_report"] = merge_reports(reports)
    if options.log_samples:
        results["task_hashes"] = task_hashes(results["samples"])
    return results
