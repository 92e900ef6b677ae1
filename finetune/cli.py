"""`medlc finetune` and `medlc sweep`: parse arguments, call the library, report errors.

Registered in medlc/cli.py; `python -m finetune` / `accelerate launch -m finetune` use
`finetune_main` with the same arguments. Library modules are imported inside the
commands, so `medlc --help` does not load torch.
"""

from __future__ import annotations

import argparse
import json

from medlc_core.errors import reports_user_errors
from medlc_core.flags import add_alias, add_set_flag
from medlc_core.hardware import ALLOW_FLAG


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="fine-tuning YAML (see finetune/configs/)")
    add_set_flag(parser, "--set optim.lr=1e-4 --set data.sources.0.path=x.json")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in output_dir"
    )
    add_allow_cpu_flag(parser)


def add_allow_cpu_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        ALLOW_FLAG,
        action="store_true",
        help="run a config that asks for a GPU (bf16/fp16, flash attention) although none is visible",
    )


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", help="sweep YAML: base_config, output_dir, general_fractions, ns")
    parser.add_argument(
        "--shard",
        default="0/1",
        metavar="i/N",
        help="run only block i (0-based) of N contiguous blocks of the grid; default 0/1",
    )
    add_set_flag(parser, "--set optim.max_steps=10 (applied to every run of the grid)")
    add_allow_cpu_flag(parser)
    output = parser.add_argument(
        "--output_path",
        default=None,
        metavar="DIR",
        help="write runs here instead of the sweep file's output_dir",
    )
    add_alias(parser, "--output-dir", output)


@reports_user_errors("finetune")
def run_finetune(args: argparse.Namespace) -> int:
    from finetune.config import gpu_requests, load_config
    from finetune.recipe import train
    from medlc_core.hardware import require_gpu

    config = load_config(args.config, args.set)
    require_gpu(gpu_requests(config), args.config, args.allow_cpu)
    result = train(config, resume=args.resume)
    from accelerate import PartialState

    if not PartialState().is_main_process:  # one summary per run, not one per process
        return 0
    print(
        json.dumps(
            {
                "run": result.run_name,
                "steps": result.steps,
                "train_loss": result.train_loss,
                "eval_loss": result.eval_loss,
                "adapter_dir": result.adapter_dir,
                "model_dir": result.model_dir,
                "merged_dir": result.merged_dir,
            },
            ensure_ascii=False,
        )
    )
    return 0


@reports_user_errors("sweep")
def run_sweep_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from finetune.sweep import run_sweep
    from medlc_core.shard import parse_shard

    index = run_sweep(args.sweep, parse_shard(args.shard), args.set, args.output_path, args.allow_cpu)

    def fmt(value: object) -> str:
        return f"{value:.4f}" if isinstance(value, float) else "-"

    table = Table("run", "status", "steps", "train loss", "eval loss")
    for run in index["runs"]:
        result = run.get("result") or {}
        table.add_row(
            escape(run["name"]),
            run["status"],
            str(result.get("steps", "-")),
            fmt(result.get("train_loss")),
            fmt(result.get("eval_loss")),
        )
    Console(stderr=True).print(table)
    return 1 if any(run["status"] == "failed" for run in index["runs"]) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    finetune = subparsers.add_parser(
        "finetune", help="fine-tune a base model on a general:medical mixture", allow_abbrev=False
    )
    add_finetune_arguments(finetune)
    finetune.set_defaults(func=run_finetune)
    sweep = subparsers.add_parser(
        "sweep", help="fine-tune over a general_fraction x n grid", allow_abbrev=False
    )
    add_sweep_arguments(sweep)
    sweep.set_defaults(func=run_sweep_command)


def finetune_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m finetune",
        allow_abbrev=False,
        description="Mixture fine-tuning (see finetune/README.md).",
    )
    add_finetune_arguments(parser)
    return run_finetune(parser.parse_args(argv))
