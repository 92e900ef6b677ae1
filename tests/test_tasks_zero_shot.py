"""medlc tasks are zero-shot: asking for shots (a harness config's settings.num_fewshot,
lm_eval's --num_fewshot through `medlc lm-eval` or `lm_eval` itself, simple_evaluate's
num_fewshot) fails with the reason, instead of drawing other test items, with their
answers and books, into the prompt."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medlc.cli import main
from medlc_tasks.prompts import FewShotError

from fixtures.harness import one_model_config
from tasks_support import FIXTURE_EXAM, TASKS_DIR, ScriptedLM, evaluate

REASON = "medlc tasks are zero-shot, got num_fewshot=2; shots would come from the test split"


def test_harness_config_asking_for_shots_is_refused_before_any_model_loads(tiny_model_dir, tmp_path, capsys):
    cfg = one_model_config(tmp_path / "cfg.yaml", tiny_model_dir, ["medlc_openbook"], exam=FIXTURE_EXAM)
    argv = ["run", str(cfg), "--output_path", str(tmp_path / "results"), "--set", "settings.num_fewshot=2"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"medlc run: {cfg}: settings.num_fewshot: {REASON}" + (
        ", putting other exam items, their answers and their books in the prompt; "
        "use 0 (or leave it unset) for medlc tasks\n"
    )
    assert list((tmp_path / "results").glob("*/model.json")) == []


def test_medlc_lm_eval_refuses_num_fewshot_before_any_model_loads(tiny_model_dir, tmp_path, capsys):
    argv = ["lm-eval", "--model", "medlc-hf", "--model_args", f"pretrained={tiny_model_dir}"]
    argv += ["--tasks", "medlc_closedbook", "--num_fewshot", "2", "--output_path", str(tmp_path / "out")]
    argv += ["--metadata", json.dumps({"exam_dir": str(FIXTURE_EXAM)})]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"medlc lm-eval: --num_fewshot: {REASON}")
    assert not (tmp_path / "out").exists()


def test_simple_evaluate_asking_for_shots_is_refused_by_the_tasks_sampler():
    with pytest.raises(FewShotError, match=f"num_fewshot: {REASON}"):
        evaluate(["medlc_closedbook"], ScriptedLM(lambda doc: True), num_fewshot=2)


def test_zero_shots_score_as_before():
    results = evaluate(["medlc_closedbook"], ScriptedLM(lambda doc: True), num_fewshot=0)
    assert results["results"]["medlc_closedbook"]["acc,none"] == 1.0


def test_lm_eval_itself_refuses_num_fewshot_for_medlc_tasks(tmp_path):
    argv = [sys.executable, "-m", "lm_eval", "run", "--model", "dummy", "--tasks", "medlc_closedbook"]
    argv += ["--include_path", str(TASKS_DIR), "--num_fewshot", "2"]
    argv += ["--metadata", json.dumps({"exam_dir": str(FIXTURE_EXAM)})]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode != 0
    assert f"FewShotError: num_fewshot: {REASON}" in done.stderr
