"""Command-line flags every medlc command spells the same way.

The style: lm_eval's spelling where a flag means what lm_eval's means (`--output_path`,
`--bootstrap_iters`, `--tasks`), and the same underscore style for medlc's own flags, so
a user never guesses between `-` and `_`. An old spelling stays as a deprecated alias that
still works and says on stderr what replaced it. Parsers refuse abbreviations
(`allow_abbrev=False`): `--model` must never be read as `--model_args`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SET_HELP = "override a config key, value read as YAML, list items by index (repeatable)"


class DeprecatedAlias(argparse.Action):
    """An old spelling of another flag: says so on stderr, then does what that flag does."""

    def __init__(self, option_strings: list[str], dest: str, target: argparse.Action, **kwargs: Any):
        # The alias consumes and converts its values exactly as the flag it stands for.
        super().__init__(
            option_strings,
            dest=target.dest,
            nargs=target.nargs,
            const=target.const,
            type=target.type,
            choices=target.choices,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
        self.target = target

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        new = self.target.option_strings[0]
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {new}", file=sys.stderr)
        self.target(parser, namespace, values, new)


def add_alias(parser: argparse.ArgumentParser, old: str, target: argparse.Action) -> None:
    """Accept `old` as a deprecated spelling of the flag `target` (what add_argument returned)."""
    parser.add_argument(old, action=DeprecatedAlias, target=target)


def add_set_flag(parser: argparse.ArgumentParser, example: str) -> argparse.Action:
    """`--set KEY=VALUE` (repeatable; old spelling `--override`) into `args.set`."""
    action = parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help=f"{SET_HELP}, e.g. {example}"
    )
    add_alias(parser, "--override", action)
    return action
