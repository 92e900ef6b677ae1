"""One flag style: lm_eval's spelling where a flag means what lm_eval's means, the same
underscore style elsewhere, old spellings kept as deprecated aliases, no abbreviations."""

from __future__ import annotations

import pytest

from medlc.cli import build_parser

CHECK = ["check", "--baseline", "b", "--candidate", "c"]


@pytest.mark.parametrize(
    ("old", "new", "dest", "value"),
    [
        (["run", "--results", "r"], ["run", "--output_path", "r"], "output_path", "r"),
        (["run", "--override", "a=1"], ["run", "--set", "a=1"], "set", ["a=1"]),
        (["report", "r", "--out", "o"], ["report", "r", "--output_path", "o"], "output_path", "o"),
        (
            ["report", "r", "--bootstrap-iters", "9"],
            ["report", "r", "--bootstrap_iters", "9"],
            "bootstrap_iters",
            9,
        ),
        ([*CHECK, "--baseline-model", "m"], [*CHECK, "--baseline_model", "m"], "baseline_model", "m"),
        ([*CHECK, "--candidate-model", "m"], [*CHECK, "--candidate_model", "m"], "candidate_model", "m"),
        ([*CHECK, "--mid-p"], [*CHECK, "--mid_p"], "mid_p", True),
        (["finetune", "c.yaml", "--override", "a=1"], ["finetune", "c.yaml", "--set", "a=1"], "set", ["a=1"]),
        (["sweep", "s.yaml", "--override", "a=1"], ["sweep", "s.yaml", "--set", "a=1"], "set", ["a=1"]),
        (
            ["sweep", "s.yaml", "--output-dir", "o"],
            ["sweep", "s.yaml", "--output_path", "o"],
            "output_path",
            "o",
        ),
    ],
)
def test_old_spelling_does_what_the_new_one_does_and_says_it_is_deprecated(old, new, dest, value, capsys):
    parser = build_parser()
    assert getattr(parser.parse_args(new), dest) == value
    assert capsys.readouterr().err == ""
    assert getattr(parser.parse_args(old), dest) == value
    flag = next(arg for arg in old if arg.startswith("--") and arg not in new)
    replacement = next(arg for arg in new if arg.startswith("--") and arg not in old)
    assert f"medlc {old[0]}: warning: {flag} is deprecated; use {replacement}" in capsys.readouterr().err


def test_old_and_new_override_spellings_add_up_in_order():
    args = build_parser().parse_args(["run", "--set", "a=1", "--override", "b=2", "--set", "c=3"])
    assert args.set == ["a=1", "b=2", "c=3"]


def test_report_writes_beside_the_results_by_default():
    assert build_parser().parse_args(["report", "results"]).output_path is None  # -> results/report


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--output", "r"],
        ["run", "--se", "a=1"],
        ["report", "r", "--bootstrap_", "5"],
        [*CHECK, "--mid_"],
        ["finetune", "c.yaml", "--res"],
        ["sweep", "s.yaml", "--output_", "o"],
        ["build-exam", "--drop"],
        ["validate-exam", "--sk", "file_hash"],
    ],
)
def test_abbreviated_flags_are_refused_not_guessed(argv):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
