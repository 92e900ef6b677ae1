"""`medlc finetune` and `medlc sweep`: parse arguments, call the library, report errors.

Registered in medlc/cli.py; `python -m finetune` / `accelerate launch -m finetune` use
`finetune_main` with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import sys



def user_errors() -> tuple[type[Exception], ...]:
    """Mistakes in what the user asked for: one clear line and exit code 2, not a traceback.
    Imported here, not at module top, so `medlc --help` does not load torch."""
    from finetune.checkpoint import ResumeError
    from finetune.config import ConfigError
    from finetune.data import DataError
    from finetune.formatting import OverlongError, TemplateError
    from finetune.mixture import SourceTooSmallError
    from finetune.recipe import RunExistsError

    return (ConfigError, DataError, SourceTooSmallError, OverlongError, TemplateError, ResumeError, RunExistsError)


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="fine-tuning YAML (see finetune/configs/)")
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE",
        help="set a config key, e.g. optim.lr=1e-4 or data.sources.0.path=x.json (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", help="sweep YAML: base_config, output_dir, general_fractions, ns")
    parser.add_argument("--shard", default="0/1", metavar="i/N", help="run only grid points k with k %% N == i")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="applied to every run")
    parser.add_argument("--output-dir", default=None, help="write runs here instead of the sweep file's output_dir")


def run_finetune(args: argparse.Namespace) -> int:
    from finetune.config import load_config
    from finetune.recipe import train

    try:
        result = train(load_config(args.config, args.override), resume=args.resume)
    except user_errors() as err:
        print(f"medlc finetune: {err}", file=sys.stderr)
        return 2
    from accelerate import PartialState

    if not PartialState().is_main_process:  # one summary per run, not one per process
        return 0
    print(json.dumps({"run": result.run_name, "steps": result.steps, "train_loss": result.train_loss,
                      "eval_loss": result.eval_loss, "adapter_dir": result.adapter_dir,
                      "model_dir": result.model_dir, "merged_dir": result.merged_dir}, ensure_ascii=False))
    return 0


def run_sweep_command(args: argparse.Namespace) -> int:
    from finetune.sweep import parse_shard, run_sweep

    try:
        index = run_sweep(args.sweep, parse_shard(args.shard), args.override, args.output_dir)
    except user_errors() as err:
        print(f"medlc sweep: {err}", file=sys.stderr)
        return 2
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "status", "steps", "train loss", "eval loss")
    for run in index["runs"]:
        result = run.get("result") or {}
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else "-"  # noqa: E731
        table.add_row(run["name"], run["status"], str(result.get("steps", "-")), fmt(result.get("train_loss")), fmt(result.get("eval_loss")))
    Console(stderr=True).print(table)
    return 1 if any(run["status"] == "failed" for run in index["runs"]) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    finetune = subparsers.add_parser("finetune", help="fine-tune a base model on a general:medical mixture")
    add_finetune_arguments(finetune)
    finetune.set_defaults(func=run_finetune)
    sweep = subparsers.add_parser("sweep", help="fine-tune over a general_fraction x n grid")
    add_sweep_arguments(sweep)
    sweep.set_defaults(func=run_sweep_command)


def finetune_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune", description="Mixture fine-tuning (see finetune/README.md).")
    add_finetune_arguments(parser)
    return run_finetune(parser.parse_args(argv))
