"""The `medlc` console command: a thin argparse front over library functions.

Each concern registers its own subcommands, so this file only lists where they live.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from medlc import __version__

# Each module defines `register(subparsers)`, adding parsers whose `func` takes the
# parsed namespace and returns an exit code.
COMMAND_MODULES = [
    "medlc_tasks.exam.cli",
    "finetune.cli",
    "medlc.run_cli",
    "medlc.eval_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medlc", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"medlc {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
