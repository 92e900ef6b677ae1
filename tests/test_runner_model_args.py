"""A model_args key the backend would refuse is an error before any model loads: named by
its config key (or flag), with a suggestion, and nothing written for the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlc.cli import main
from medlc.model_args import ModelArgsError, check_model_args, unknown_keys

from fixtures.harness import REPORT_EXAM, one_model_config


def config(tmp_path: Path, model: Path, roster_args: str = "{}", settings_args: str = "{}") -> Path:
    path = tmp_path / "cfg.yaml"
    return one_model_config(
        path, model, ["medlc_closedbook"], model_args=roster_args, settings_model_args=settings_args
    )


def test_unknown_roster_model_arg_is_refused_naming_its_key(tiny_model_dir, tmp_path, capsys):
    cfg = config(tmp_path, tiny_model_dir, "{attn_implementaton: eager}")
    assert main(["run", str(cfg), "--output_path", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medlc run: {cfg}: roster[0].model_args.attn_implementaton: expected an argument")
    assert "did you mean attn_implementation" in err


def test_a_refused_model_arg_leaves_no_model_folder(tiny_model_dir, tmp_path):
    cfg = config(tmp_path, tiny_model_dir, "{not_an_argument: 1}")
    main(["run", str(cfg), "--output_path", str(tmp_path / "results")])
    assert list((tmp_path / "results").glob("*/model.json")) == []
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["logs"]


def test_unknown_settings_model_arg_is_named_under_settings(tiny_model_dir, tmp_path, capsys):
    cfg = config(tmp_path, tiny_model_dir, settings_args="{dtpye: float32}")
    assert main(["run", str(cfg), "--output_path", str(tmp_path / "results")]) == 2
    assert f"{cfg}: settings.model_args.dtpye: expected" in capsys.readouterr().err


@pytest.mark.parametrize(
    "key",
    [
        "dtype",
        "over_length",
        "prefix_cache_gib",
        "trust_remote_code",
        "device_map",
        "use_cache",
        "hidden_act",
    ],
)
def test_arguments_of_the_backend_from_pretrained_and_the_config_are_accepted(key, tiny_model_dir):
    assert unknown_keys("medlc-hf", {key: None}, str(tiny_model_dir)) == []


def test_stock_hf_backend_is_checked_against_its_own_class():
    assert unknown_keys("hf", {"dtype": "float32", "over_length": "fit"}) == ["over_length"]


def test_exam_dir_in_model_args_says_where_the_exam_goes():
    with pytest.raises(ModelArgsError, match=r"model_args\.exam_dir: .* the exam is task metadata"):
        check_model_args("medlc-hf", {"exam_dir": "exams/x"}, "cfg.yaml: roster[0].model_args")


@pytest.mark.parametrize("command", ["lm-eval", "eval"])
def test_lm_eval_refuses_an_unknown_model_arg_before_loading(command, tiny_model_dir, tmp_path, capsys):
    argv = [
        command,
        "--model",
        "medlc-hf",
        "--model_args",
        f"pretrained={tiny_model_dir},exam_dir={tmp_path}",
    ]
    argv += ["--tasks", "medlc_closedbook", "--metadata", json.dumps({"exam_dir": str(REPORT_EXAM)})]
    argv += ["--output_path", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"medlc {command}: --model_args.exam_dir: expected an argument")
    assert "Traceback" not in "\n".join(err) and not (tmp_path / "out").exists()
