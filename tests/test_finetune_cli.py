"""`medlc finetune` / `medlc sweep` / `python -m finetune`: thin fronts over the library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune.cli import finetune_main
from medlc.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "finetune" / "configs" / "tiny_cpu_smoke.yaml")


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def test_medlc_parses_finetune_and_sweep_commands():
    parser = build_parser()
    args = parser.parse_args(["finetune", "c.yaml", "--set", "optim.lr=1e-4", "--resume"])
    assert (args.config, args.set, args.resume) == ("c.yaml", ["optim.lr=1e-4"], True)
    args = parser.parse_args(["sweep", "s.yaml", "--shard", "1/3", "--output_path", "runs/x"])
    assert (args.sweep, args.shard, args.output_path) == ("s.yaml", "1/3", "runs/x")


def test_old_override_spelling_still_sets_keys_and_says_it_is_deprecated(capsys):
    args = build_parser().parse_args(["finetune", "c.yaml", "--override", "a=1", "--set", "b=2"])
    assert args.set == ["a=1", "b=2"]
    assert "medlc finetune: warning: --override is deprecated; use --set" in capsys.readouterr().err


def test_old_sweep_output_dir_spelling_still_works():
    assert build_parser().parse_args(["sweep", "s.yaml", "--output-dir", "runs/x"]).output_path == "runs/x"


def test_abbreviated_flags_are_refused_not_guessed():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "c.yaml", "--res"])


def test_medlc_finetune_trains_and_prints_where_the_adapter_is(tiny_model_dir, tmp_path, capsys):
    code = main(
        [
            "finetune",
            SMOKE,
            "--set",
            f"model.pretrained={tiny_model_dir}",
            "--set",
            f"output_dir={tmp_path / 'run'}",
            "--set",
            "optim.max_steps=2",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["steps"] == 2
    assert Path(printed["adapter_dir"]) == tmp_path / "run" / "adapter"


def test_a_config_mistake_is_one_line_and_exit_code_2(capsys):
    assert finetune_main([SMOKE, "--set", "optim.lr=fast"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"medlc finetune: {SMOKE}: optim.lr: expected a number, got 'fast'"
    )


def test_a_bad_shard_is_refused(capsys):
    assert main(["sweep", str(REPO / "finetune/configs/sweep_tiny_ratio.yaml"), "--shard", "2/2"]) == 2
    expected = "medlc sweep: --shard '2/2': expected i/N with 0 <= i < N, e.g. 0/4"
    assert capsys.readouterr().err.strip() == expected
