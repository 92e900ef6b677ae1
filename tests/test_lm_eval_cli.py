"""`medlc lm-eval` is lm-eval's own CLI with medlc's tasks and models; its output is
lm-eval's own, and `medlc report` reads it. `medlc eval` only fills in defaults."""

from __future__ import annotations

import json

import pytest

from medlc.cli import main
from medlc.eval_cli import with_defaults
from reports import leaderboard
from reports.collect import collect

from tasks_support import FIXTURE_EXAM

TASKS = ("medlc_openbook_1k", "medlc_openbook_cloze_2k", "medlc_closedbook_gen")
# --samples and --gen_kwargs are lm_eval flags the old `medlc eval` did not have.
SAMPLES = {task: [0, 2, 4] for task in TASKS}


@pytest.fixture(scope="module")
def lm_eval_run(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lm-eval")
    code = main(
        [
            "lm-eval",
            "--model", "medlc-hf",
            "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
            "--tasks", ",".join(TASKS),
            "--samples", json.dumps(SAMPLES),
            "--gen_kwargs", "max_gen_toks=6",
            "--device", "cpu",
            "--batch_size", "2",
            "--metadata", json.dumps({"exam_dir": str(FIXTURE_EXAM)}),
            "--output_path", str(out),
            "--log_samples",
        ]
    )  # fmt: skip
    (results_file,) = out.glob("*/results_*.json")
    return code, out, json.loads(results_file.read_text(encoding="utf-8"))


def test_lm_eval_writes_its_own_results_and_samples_for_every_task(lm_eval_run):
    code, out, results = lm_eval_run
    assert code == 0
    assert set(results["results"]) == set(TASKS)
    assert results["config"]["model"] == "medlc-hf"
    for task in TASKS:
        (samples,) = out.glob(f"*/samples_{task}_*.jsonl")
        lines = samples.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["doc_id"] for line in lines] == SAMPLES[task]


def test_lm_eval_flags_medlc_did_not_know_reach_lm_eval(lm_eval_run):
    _, _, results = lm_eval_run
    assert results["config"]["gen_kwargs"] == {"max_gen_toks": 6}
    assert results["configs"]["medlc_closedbook_gen"]["generation_kwargs"]["max_gen_toks"] == 6


def test_lm_eval_results_carry_the_backend_report_per_task(lm_eval_run):
    _, _, results = lm_eval_run
    over_length = results["config"]["medlc_report"]["over_length"]
    assert set(over_length["tasks"]) == set(TASKS)
    assert over_length["totals"]["left_cut_requests"] == 0


def test_medlc_report_reads_lm_eval_output(lm_eval_run):
    _, out, _ = lm_eval_run
    board = leaderboard.build(collect(out), iters=20)
    assert board.buckets["letter"] == ["1k"] and board.buckets["cloze"] == ["2k"]
    (letter,) = board.variants["letter"]
    assert letter.open_by_bucket["1k"] is not None and letter.over_length["left_cut_requests"] == 0
    assert board.variants["gen"][0].closed is not None


def test_medlc_check_gates_lm_eval_output_task_by_task(lm_eval_run, capsys):
    _, out, _ = lm_eval_run
    # Three items per task: the gate needs --min_paired lowered to accept so few.
    code = main(["check", "--baseline", str(out), "--candidate", str(out), "--min_paired", "3"])
    table, verdict = capsys.readouterr()
    assert code == 0
    assert all(task in table for task in TASKS) and "PASS" in verdict


def test_missing_exam_dir_is_one_line_and_exit_code_2(tiny_model_dir, tmp_path, capsys):
    missing = json.dumps({"exam_dir": str(tmp_path / "nope")})
    code = main(
        [
            "lm-eval",
            "--model",
            "medlc-hf",
            "--model_args",
            f"pretrained={tiny_model_dir}",
            "--tasks",
            "medlc_closedbook",
            "--metadata",
            missing,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("medlc lm-eval: ") and "is not a built exam" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_eval_fills_in_only_the_defaults_a_flag_does_not_set():
    argv = with_defaults(["-M", "hf", "--model_args=pretrained=x", "--limit", "5"])
    assert argv[:4] == ["-M", "hf", "--model_args=pretrained=x", "--limit"]
    assert "medlc-hf" not in argv and "pretrained=gemma3-270m" not in argv
    assert argv[argv.index("--tasks") + 1] == "medlc_closedbook_cloze,medlc_openbook_cloze_1k"
    assert "--log_samples" in argv and argv[argv.index("--output_path") + 1] == "results/eval"
