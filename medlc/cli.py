"""The `medlc` console command: a thin argparse front over library functions.

Each concern registers its own subcommands; this file only lists where they live. A
command's module is imported only when that command runs, so `medlc --help` and
`medlc <command> --help` load no torch, datasets, transformers or lm_eval.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence

from medlc import __version__

# name -> (module, one-line help). Each module defines `register(subparsers)`, adding
# parsers whose `func` takes the parsed namespace and returns an exit code.
EXAM, FINETUNE, RUN = "medlc_tasks.exam.cli", "finetune.cli", "medlc.run_cli"
COMMANDS: dict[str, tuple[str, str]] = {
    "build-exam": (EXAM, "build an open-book exam from exam files (default: the bundled exam)"),
    "validate-exam": (EXAM, "check a built exam and list per-item problems (exit 1 if any)"),
    "finetune": (FINETUNE, "fine-tune a base model on a general:medical mixture"),
    "sweep": (FINETUNE, "fine-tune over a general_fraction x n grid"),
    "study": ("medlc.study.cli", "fine-tune a grid, score it with comparison models, report the answer"),
    "run": (RUN, "score every model x task of a harness config"),
    "report": (RUN, "leaderboard (md, json, html) and figures from a results dir"),
    "check": (RUN, "regression gate: exit 1 if the candidate is significantly worse"),
    "lm-eval": ("medlc.lm_eval_cli", "lm-eval's own CLI with medlc's tasks and models (every lm_eval flag)"),
    "eval": ("medlc.eval_cli", "medlc lm-eval with medlc's defaults (medlc-hf, gemma3-270m, closed + 1k)"),
}
# Handed their arguments untouched (`main(argv)`): lm-eval parses them, not medlc.
PASS_THROUGH = ("lm-eval", "eval")


class _Parser(argparse.ArgumentParser):
    """No abbreviations: `--model` must never be read as `--model_args`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser(load: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with full subparsers for the commands in `load` (None: all of them)
    and a help line for the rest."""
    wanted = set(COMMANDS) if load is None else set(load)
    parser = _Parser(prog="medlc", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"medlc {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    modules = {COMMANDS[name][0] for name in wanted if name in COMMANDS and name not in PASS_THROUGH}
    for module in sorted(modules):
        importlib.import_module(module).register(subparsers)
    for name, (_, text) in COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=text, add_help=name not in PASS_THROUGH)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASS_THROUGH:
        return int(importlib.import_module(COMMANDS[argv[0]][0]).main(argv[1:]) or 0)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser([command] if command else []).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
