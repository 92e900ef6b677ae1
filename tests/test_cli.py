"""The `medlc` command loads lazily and never guesses a flag from its prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medlc.cli import COMMANDS, PASS_THROUGH, build_parser, main

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "lm_eval", "datasets")

# Builds the whole parser, asks every medlc-parsed command for its help, and reports
# which heavy libraries that imported.
PROBE = """
import contextlib, io, json, sys
from medlc.cli import COMMANDS, PASS_THROUGH, build_parser
parser = build_parser()
for command in COMMANDS:
    if command in PASS_THROUGH:
        continue
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        parser.parse_args([command, "--help"])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
""".replace("HEAVY", repr(HEAVY))


def test_help_of_every_command_imports_no_torch_transformers_lm_eval_or_datasets():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


PASS_THROUGH_PROBE = """
import contextlib, io, json, sys
from medlc.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["lm-eval", "--help"])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "datasets"))))
"""


def test_lm_eval_help_is_lm_evals_own_and_loads_no_torch_transformers_or_datasets():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", PASS_THROUGH_PROBE], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listed = capsys.readouterr().out
    assert all(command in listed for command in COMMANDS)


def test_an_abbreviated_flag_is_refused_not_guessed(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--vers"])  # with abbreviations, read as --version: print it and exit 0
    assert done.value.code == 2
    assert "medlc 0." not in capsys.readouterr().out


def test_every_medlc_parser_refuses_abbreviations():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert parser.allow_abbrev is False
    assert {name: p.allow_abbrev for name, p in subparsers.items() if name not in PASS_THROUGH} == {
        name: False for name in COMMANDS if name not in PASS_THROUGH
    }


def test_lm_eval_pass_through_refuses_an_abbreviated_flag_before_any_model_loads(capsys):
    # lm-eval's own parser would read --model_arg as --model_args and go on to load "hf".
    argv = ["lm-eval", "--model", "hf", "--model_arg", "pretrained=none", "--tasks", "medlc_closedbook"]
    assert main(argv) == 2
    assert "unrecognized arguments: --model_arg" in capsys.readouterr().err
