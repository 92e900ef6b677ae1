"""`medlc eval`: score medlc tasks with the `medlc-hf` backend.

lm-eval 0.4.13's own `lm_eval --model` only knows its built-in backends, so this is the
command-line way in; the arguments mirror `lm_eval`'s.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

# Cloze (option text) is the variant where a small base model shows reading. With the
# default model each item takes ~2 s per task on a 2-core CPU; --limit shortens a trial.
DEFAULT_TASKS = ("medlc_openbook_cloze_1k", "medlc_closedbook_cloze")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score medlc tasks with the medlc-hf backend",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--model_args",
        default="pretrained=gemma3-270m",
        help="medlc-hf arguments, as lm_eval's --model_args (pretrained=..., peft=..., "
        "gguf_file=..., dtype=..., attn_implementation=..., over_length=fit|truncate|error)",
    )
    parser.add_argument(
        "--tasks",
        default=",".join(DEFAULT_TASKS),
        help="comma-separated medlc tasks or groups (default: %(default)s)",
    )
    parser.add_argument("--limit", type=float, default=None, help="items per task (< 1: a fraction)")
    parser.add_argument("--batch_size", default="1", help="an int, or auto (halves on out-of-memory)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--output_path", default="results/eval", help="directory for results.json")
    parser.add_argument("--log_samples", action="store_true", help="also write samples_<task>.jsonl")
    parser.add_argument(
        "--apply_chat_template",
        nargs="?",
        const=True,
        default=False,
        help="wrap prompts in the model's chat template (optionally a template name)",
    )
    parser.add_argument("--system_instruction", default=None)
    parser.add_argument(
        "--metadata",
        type=json.loads,
        default={},
        help='JSON passed to the task loaders, e.g. \'{"exam_dir": "exams/cmexam"}\'',
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--bootstrap_iters", type=int, default=1000)
    parser.add_argument(
        "--include_lm_eval_tasks", action="store_true", help="also allow lm-eval's built-in tasks"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medlc.backend.evaluate import EvalSpec, evaluate, write_results

    limit = args.limit
    if limit is not None and limit >= 1:
        limit = int(limit)
    batch_size = int(args.batch_size) if str(args.batch_size).isdigit() else args.batch_size
    spec = EvalSpec(
        model_args=args.model_args,
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
        limit=limit,
        batch_size=batch_size,
        device=args.device,
        apply_chat_template=args.apply_chat_template,
        system_instruction=args.system_instruction,
        log_samples=args.log_samples,
        metadata=args.metadata,
        seed=args.seed,
        bootstrap_iters=args.bootstrap_iters,
        include_lm_eval_tasks=args.include_lm_eval_tasks,
    )
    results = evaluate(spec)
    if results is None:  # a non-zero data-parallel rank
        return 0
    written = write_results(results, args.output_path)
    _print_summary(results)
    Console().print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _print_summary(results: dict) -> None:
    table = Table(title="medlc-hf (over-length docs: shortened / flagged / truncated)")
    table.add_column("task", no_wrap=True)
    for column in ("metric", "value", "short.", "flag.", "trunc."):
        table.add_column(column, justify="right")
    over_length = results["medlc"]["backend"].get("over_length", {}).get("tasks", {})
    for task, metrics in sorted(results["results"].items()):
        counts = over_length.get(task, {})
        for key in ("acc,none", "acc_norm,none", "format_compliance,letters", "acc,letters"):
            if key in metrics:
                table.add_row(
                    task,
                    key.split(",")[0],
                    f"{metrics[key]:.4f}",
                    str(counts.get("docs_shortened", 0)),
                    str(counts.get("docs_flagged", 0)),
                    str(counts.get("docs_truncated", 0)),
                )
    Console().print(table)
