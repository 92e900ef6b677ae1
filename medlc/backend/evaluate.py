"""Score medlc tasks with `medlc-hf` and write lm-eval's results JSON plus medlc's own record.

This is what `medlc eval` calls; it is the documented Python entry point too:

    from medlc.backend.evaluate import EvalSpec, evaluate, write_results
    results = evaluate(EvalSpec(tasks=["medlc_openbook_cloze_1k"], model_args="pretrained=gemma3-270m"))
    write_results(results, "results/eval")
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medlc_core.provenance import quiet_lm_eval_git_probe, sha256_file, versions


@dataclass
class EvalSpec:
    """Everything that decides a `medlc eval` result; written into the results as is."""

    tasks: list[str]
    model_args: str | dict[str, Any] = "pretrained=gemma3-270m"
    limit: int | float | None = None
    batch_size: int | str = 1
    device: str | None = None
    apply_chat_template: bool | str = False
    system_instruction: str | None = None
    log_samples: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    seed: int = 1234
    bootstrap_iters: int = 1000
    include_lm_eval_tasks: bool = False  # also index lm-eval's own tasks (slower start)


def _model_args(spec: EvalSpec) -> dict[str, Any]:
    if isinstance(spec.model_args, dict):
        return dict(spec.model_args)
    from lm_eval.utils import simple_parse_args_string

    return simple_parse_args_string(spec.model_args)


def exam_provenance(metadata: dict[str, Any]) -> dict[str, Any]:
    """Which built exam the medlc tasks read, and its manifest hash."""
    from medlc_tasks.exam.bundled import resolve_exam_dir
    from medlc_tasks.exam.schema import MANIFEST_FILE

    directory = Path(resolve_exam_dir(metadata.get("exam_dir")))
    manifest = directory / MANIFEST_FILE
    return {
        "exam_dir": str(directory),
        "manifest_sha256": sha256_file(manifest) if manifest.is_file() else None,
    }


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One backend report from every data-parallel rank's: totals summed, ranks kept."""
    if len(reports) == 1:
        return reports[0]
    totals: dict[str, int] = {}
    for report in reports:
        for key, value in report["over_length"]["totals"].items():
            totals[key] = totals.get(key, 0) + value
    return {"backend": "medlc-hf", "over_length_totals": totals, "ranks": reports}


def evaluate(spec: EvalSpec) -> dict[str, Any] | None:
    """Run lm-eval on `spec`; the results dict on rank 0 (None on other ranks)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import medlc.backend
    from medlc.backend.lm import MedlcLM

    model_args = _model_args(spec)
    # lm-eval hands the task loaders this metadata; with the model in it the medlc tasks
    # fit each book to the model's window while loading (the backend re-checks anyway).
    metadata = model_args | spec.metadata
    manager = TaskManager(
        include_path=medlc.backend.tasks_dir(),
        include_defaults=spec.include_lm_eval_tasks,
        metadata=metadata,
    )
    lm = MedlcLM.create_from_arg_obj(model_args, {"batch_size": spec.batch_size, "device": spec.device})
    quiet_lm_eval_git_probe()
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=list(spec.tasks),
        task_manager=manager,
        limit=spec.limit,
        log_samples=spec.log_samples,
        apply_chat_template=spec.apply_chat_template,
        system_instruction=spec.system_instruction,
        bootstrap_iters=spec.bootstrap_iters,
        random_seed=spec.seed,
        numpy_random_seed=spec.seed,
        torch_random_seed=spec.seed,
        fewshot_random_seed=spec.seed,
    )
    reports = lm.gather_object(lm.pop_medlc_report(), dst=0)
    if results is None:
        return None
    results["config"]["model"] = "medlc-hf"
    results["config"]["model_args"] = model_args
    results["medlc"] = {
        "backend": merge_reports(reports),
        "spec": asdict(spec),
        "exam": exam_provenance(metadata),
        "versions": versions("peft", "accelerate"),
        "argv": sys.argv,
    }
    return results


def write_results(results: dict[str, Any], output_path: str | Path) -> list[Path]:
    """`results.json` (lm-eval's dict + `medlc`), and `samples_<task>.jsonl` when logged."""
    from lm_eval.utils import handle_non_serializable

    out = Path(output_path)
    out.mkdir(parents=True, exist_ok=True)
    results = dict(results)
    samples = results.pop("samples", None) or {}
    written = [out / "results.json"]
    written[0].write_text(
        json.dumps(results, indent=2, ensure_ascii=False, default=handle_non_serializable), encoding="utf-8"
    )
    for task, rows in samples.items():
        path = out / f"samples_{task}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, default=handle_non_serializable) + "\n")
        written.append(path)
    return written
