"""`medlc lm-eval ARGS...`: lm-eval's own command line, with medlc's tasks and LMs.

Every `lm_eval` flag works and the output (tables, `results_*.json`, `samples_*.jsonl`) is
lm-eval's own; `medlc report` and `medlc check` read it. What medlc adds before lm-eval
parses the arguments:

* medlc's task folder joins `--include_path` (any folders you give stay);
* `--model medlc-hf` (and the baselines, where installed) are registered;
* a LoRA adapter folder given as `pretrained=` is scored as `pretrained=<its base>,peft=<folder>`;
* flags are matched exactly, never by prefix (`--model_arg` is an error, not `--model_args`);
* an `exam_dir` (or $MEDLC_EXAM_DIR) that is not a built exam, a `--model_args` key the
  model would refuse (`medlc.model_args`), or `--num_fewshot` with a medlc task (they are
  zero-shot) ends in one line before any model loads.

    medlc lm-eval --model medlc-hf --model_args pretrained=gemma3-270m \\
        --tasks medlc_closedbook_cloze,medlc_openbook_cloze_1k --limit 20 \\
        --output_path results/lm-eval --log_samples
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from medlc_core.errors import UserError, print_user_error
from medlc_core.models import split_adapter
from medlc_core.provenance import quiet_lm_eval_git_probe


def prepare(args: argparse.Namespace) -> argparse.Namespace:
    """lm-eval's parsed arguments with medlc's additions (see the module docstring)."""
    from medlc import scoring
    from medlc.model_args import check_model_args

    if hasattr(args, "include_path"):
        given = args.include_path.split(os.pathsep) if args.include_path else []
        args.include_path = scoring.include_paths(given)
    model_args = getattr(args, "model_args", None)
    pretrained = model_args.get("pretrained") if isinstance(model_args, dict) else None
    if isinstance(model_args, dict) and isinstance(getattr(args, "model", None), str):
        # Every key reaches the model's constructor (lm-eval copies them to the task metadata
        # too): one the model would refuse fails here, not once the weights are loading.
        check_model_args(
            args.model, model_args, "--model_args", pretrained if isinstance(pretrained, str) else None
        )
    if isinstance(pretrained, str) and "peft" not in model_args:
        base, adapter = split_adapter(pretrained)
        if adapter:
            args.model_args = {**model_args, "pretrained": base, "peft": adapter}
    return args


def check_fewshot(args: argparse.Namespace) -> None:
    """medlc tasks are zero-shot: refuse `--num_fewshot` before any model loads (their
    fewshot sampler refuses it too, for `lm_eval` itself and the Python API)."""
    from medlc.runner.fingerprint import uses_exam
    from medlc_tasks.prompts import refuse_fewshot

    tasks = getattr(args, "tasks", None) or []
    names = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    if any(uses_exam(str(name)) for name in names):
        refuse_fewshot(getattr(args, "num_fewshot", None), "--num_fewshot")


def check_exam_dir(args: argparse.Namespace) -> None:
    """Fail before any model loads when the exam the tasks would read is not there."""
    from medlc_tasks.exam.bundled import EXAM_DIR_ENV, resolve_exam_dir

    metadata = getattr(args, "metadata", None) or {}
    explicit = metadata.get("exam_dir") if isinstance(metadata, dict) else None
    if explicit or os.environ.get(EXAM_DIR_ENV):
        resolve_exam_dir(explicit)


def exact_flags_only(parser: argparse.ArgumentParser) -> None:
    """No prefix matching in lm-eval's parser or its subcommands: a shortened flag
    (`--model` read as `--model_args`) is an error, as in every other medlc command."""
    parser.allow_abbrev = False  # read at parse time, so setting it after construction counts
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                exact_flags_only(sub)


def main(argv: Sequence[str], command: str = "lm-eval") -> int:
    """Run lm-eval's CLI on `argv` (everything after `medlc <command>`); the exit code."""
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    from medlc import scoring

    setup_logging()
    saved = sys.argv
    # HarnessCLI reads sys.argv: it inserts lm-eval's `run` when no subcommand is named.
    sys.argv = [f"medlc {command}", *argv]
    try:
        cli = HarnessCLI()
        exact_flags_only(cli._parser)
        args = cli.parse_args()  # --help ends here, before torch is imported
        scoring.register_models()
        args = prepare(args)
        check_fewshot(args)
        check_exam_dir(args)
        quiet_lm_eval_git_probe()
        cli.execute(args)
    except UserError as err:
        return print_user_error(command, err)
    except SystemExit as done:  # --help, or a usage error argparse has already printed
        return done.code if isinstance(done.code, int) else 0
    finally:
        sys.argv = saved
    return 0
