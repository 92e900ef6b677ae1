"""`medlc eval [LM_EVAL ARGS...]`: `medlc lm-eval` with medlc's defaults filled in.

A shortcut, nothing more: any lm_eval flag you give wins, and what you leave out is

    --model medlc-hf --model_args pretrained=gemma3-270m
    --tasks medlc_closedbook_cloze,medlc_openbook_cloze_1k
    --output_path results/eval --log_samples

so `medlc eval --limit 20` scores 20 items of the closed book and the 1k book with the
default model and writes lm-eval's results and samples, which `medlc report` reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from medlc import lm_eval_cli

# Cloze (option text) is the variant where a small base model shows reading; the closed
# book and the 1k book are the CPU-sized pair (see README, "Scoring with lm-eval").
DEFAULT_TASKS = ("medlc_closedbook_cloze", "medlc_openbook_cloze_1k")

# (flags that set it, lm_eval arguments used when none of them is given)
DEFAULTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("--model", "-M"), ("--model", "medlc-hf")),
    (("--model_args", "-a"), ("--model_args", "pretrained=gemma3-270m")),
    (("--tasks", "-t"), ("--tasks", ",".join(DEFAULT_TASKS))),
    (("--output_path", "-o"), ("--output_path", "results/eval")),
    (("--log_samples", "-s", "--predict_only", "-x"), ("--log_samples",)),
)


def with_defaults(argv: Sequence[str]) -> list[str]:
    """`argv` plus every default whose flag it does not set."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("-")}
    out = list(argv)
    for flags, default in DEFAULTS:
        if not given & set(flags):
            out += default
    return out


def main(argv: Sequence[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(__doc__)
    return lm_eval_cli.main(with_defaults(argv), command="eval")
