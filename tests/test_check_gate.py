"""`medlc check`: a re-run of the same model passes; a candidate with 10% of its answers
corrupted fails, and the table says on which task."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.cli import main
from medlc.runner.config import load_config
from medlc.runner.run import run
from medlc_core.store import ResultStore
from reports.check import check

from fixtures.report_make_results import rows_for, write_pair

EXAM = Path(__file__).parent / "fixtures" / "report_exam"
ITEMS = [f"q{i:03d}" for i in range(400)]
# A model right on ~70% of items, in a fixed pattern.
RIGHT = {q for i, q in enumerate(ITEMS) if (i * 7919) % 10 < 7}
INFO = {"kind": "general", "general_fraction": None, "n": None}


def write_model(root: Path, name: str, correct: dict[str, set[str]], data_hash: str = "gateexam00000001") -> Path:
    store = ResultStore(root)
    for task, right in correct.items():
        write_pair(store, name, INFO, task, rows_for(task, right, ITEMS), data_hash=data_hash)
    return root


def corrupt(right: set[str], every: int = 10) -> set[str]:
    """Every `every`-th item's answer is replaced by a wrong option: those items are wrong."""
    damaged = set(ITEMS[::every])
    return right - damaged


@pytest.fixture
def baseline(tmp_path):
    return write_model(tmp_path / "base", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": RIGHT})


def gate(*args: str) -> int:
    return main(["check", *args])


def test_candidate_with_ten_percent_corrupted_answers_fails(baseline, tmp_path, capsys):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": corrupt(RIGHT)})
    assert gate("--baseline", str(baseline), "--candidate", str(cand)) == 1
    out = capsys.readouterr()
    assert "medlc_openbook_1k" in out.err and "significantly worse" in out.err
    worse_lines = [line for line in out.out.splitlines() if "WORSE" in line]
    assert len(worse_lines) == 1 and "medlc_openbook_1k" in worse_lines[0]


def test_identical_logs_pass(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": RIGHT})
    assert gate("--baseline", str(baseline), "--candidate", str(cand)) == 0


def test_drop_within_the_margin_passes(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": corrupt(RIGHT)})
    result = check(baseline, cand, margin=0.10)
    row = next(r for r in result.rows if r.task == "medlc_openbook_1k")
    assert row.p_adjusted < 0.05 and row.drop < 0.10 and not result.failed


def test_better_candidate_passes(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": set(ITEMS), "medlc_openbook_1k": set(ITEMS)})
    assert not check(baseline, cand).failed


def test_gate_counts_lost_and_gained_items(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": corrupt(RIGHT)})
    row = next(r for r in check(baseline, cand).rows if r.task == "medlc_openbook_1k")
    assert row.baseline_only == len(RIGHT & set(ITEMS[::10])) and row.candidate_only == 0
    assert row.paired == 400 and row.unpaired == 0


def test_gating_only_named_tasks_ignores_the_others(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": corrupt(RIGHT)})
    assert gate("--baseline", str(baseline), "--candidate", str(cand), "--tasks", "medlc_closedbook") == 0


def test_gated_task_missing_from_the_candidate_is_an_error_not_a_pass(baseline, tmp_path, capsys):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT})
    assert gate("--baseline", str(baseline), "--candidate", str(cand), "--tasks", "medlc_openbook_1k") == 2
    assert "not scored: medlc_openbook_1k (candidate)" in capsys.readouterr().err


def test_runs_on_different_exam_data_cannot_be_paired(baseline, tmp_path, capsys):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": RIGHT},
                       data_hash="otherexam0000001")
    assert gate("--baseline", str(baseline), "--candidate", str(cand)) == 2
    assert "different data" in capsys.readouterr().err


def test_results_folder_with_several_models_needs_a_model_name(baseline, tmp_path, capsys):
    write_model(baseline, "other", {"medlc_closedbook": RIGHT})
    assert gate("--baseline", str(baseline), "--candidate", str(baseline)) == 2
    assert "choose one by name" in capsys.readouterr().err
    assert gate("--baseline", str(baseline), "--baseline-model", "model",
                "--candidate", str(baseline), "--candidate-model", "model") == 0


@pytest.fixture(scope="module")
def two_real_runs(tiny_model_dir, tmp_path_factory):
    """The same tiny model scored twice, by two separate runs into two results folders."""
    cfg = tmp_path_factory.mktemp("cfg") / "gate.yaml"
    cfg.write_text(
        f"settings: {{device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0}}\n"
        f"roster:\n  - {{name: tiny, kind: general, pretrained: {tiny_model_dir}}}\n"
        "tasks: [medlc_closedbook, medlc_openbook_cloze_1k]\n",
        encoding="utf-8",
    )
    roots = [tmp_path_factory.mktemp(f"run{i}") for i in range(2)]
    for root in roots:
        run(load_config(cfg), root)
    return roots


def test_same_model_scored_twice_passes(two_real_runs, capsys):
    first, second = two_real_runs
    assert gate("--baseline", str(first), "--candidate", str(second)) == 0
    table = capsys.readouterr().out
    assert "medlc_closedbook" in table and "medlc_openbook_cloze_1k" in table and "WORSE" not in table


def test_same_model_scored_twice_has_no_discordant_items(two_real_runs):
    result = check(*two_real_runs)
    assert [(r.baseline_only, r.candidate_only) for r in result.rows] == [(0, 0), (0, 0)]
