"""`medlc check`: a real run compared with itself passes; the same run with 10% of its
answers flipped from right to wrong fails, and the table says on which task. The margin
is compared in items, so float rounding never decides a verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medlc.cli import main
from medlc.runner.config import load_config
from medlc.runner.run import run
from medlc_core.store import RESULTS_FILE, SAMPLES_FILE, ResultStore
from medlc_tasks.exam.build import build_exam
from medlc_tasks.exam.bundled import bundled_sources
from reports.check import check

from fixtures.report_make_results import rehash, rows_for, write_pair

EXAM = Path(__file__).parent / "fixtures" / "report_exam"
ITEMS = [f"q{i:03d}" for i in range(400)]
# A model right on 70% of items (280 of 400), in a fixed pattern that includes every 10th item.
RIGHT = {q for i, q in enumerate(ITEMS) if (i * 7919) % 10 < 7}
INFO = {"kind": "general", "general_fraction": None, "n": None}
GATED = ("medlc_closedbook", "medlc_closedbook_cloze")


def write_model(
    root: Path, name: str, correct: dict[str, set[str]], data_hash: str = "gateexam00000001"
) -> Path:
    store = ResultStore(root)
    for task, right in correct.items():
        write_pair(store, name, INFO, task, rows_for(task, right, ITEMS), data_hash=data_hash)
    return root


def corrupt(right: set[str], every: int = 10) -> set[str]:
    """Every `every`-th item's answer is replaced by a wrong option: those items are wrong."""
    damaged = set(ITEMS[::every])
    return right - damaged


# Closed book unchanged; the 1k book loses every 10th item, all of which RIGHT holds: 40 of 400.
DROPPED_40_OF_400 = {"medlc_closedbook": RIGHT, "medlc_openbook_1k": corrupt(RIGHT)}


@pytest.fixture(scope="module")
def real_run(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model scored by `medlc run` on the bundled exam's 207 closed-book items,
    letter and cloze: a results folder exactly as the runner writes it."""
    root = tmp_path_factory.mktemp("gate_real")
    items, references = bundled_sources()
    build_exam(items, root / "exam", {"1k": 1000}, 1234, references)
    cfg = root / "gate.yaml"
    cfg.write_text(
        f"settings: {{device: cpu, exam_dir: {root / 'exam'}, bootstrap_iters: 0, batch_size: 8}}\n"
        f"roster:\n  - {{name: tiny, kind: general, pretrained: {tiny_model_dir}}}\n"
        f"tasks: [{', '.join(GATED)}]\n",
        encoding="utf-8",
    )
    run(load_config(cfg), root / "results")
    return root / "results"


def pair_dir(results: Path, task: str) -> Path:
    (found,) = [p for p in ResultStore(results).done_pairs() if p.parents[1].name == task]
    return found


def copy_with_flipped_answers(results: Path, dest: Path, task: str, fraction: float) -> list[str]:
    """Copy a results folder and flip `fraction` of `task`'s items from right to wrong in
    its samples file, keeping the folder self-consistent (results.json's aggregate and the
    DONE digests follow the edit), as a worse checkpoint's own run would be."""
    shutil.copytree(results, dest)
    folder = pair_dir(dest, task)
    rows = [json.loads(line) for line in (folder / SAMPLES_FILE).read_text(encoding="utf-8").splitlines()]
    wanted = round(fraction * len(rows))
    right = [row for row in rows if row["acc"] == 1.0]
    assert len(right) >= wanted, "the tiny model must get enough items right to flip"
    for row in right[:wanted]:
        row["acc"] = 0.0
    (folder / SAMPLES_FILE).write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    results_json = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    results_json["results"][task]["acc,none"] = sum(row["acc"] for row in rows) / len(rows)
    (folder / RESULTS_FILE).write_text(
        json.dumps(results_json, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    rehash(folder)
    return [str(row["doc"]["id"]) for row in right[:wanted]]


def test_real_run_with_ten_percent_of_answers_flipped_fails_on_that_task(real_run, tmp_path, capsys):
    copy_with_flipped_answers(real_run, tmp_path / "cand", "medlc_closedbook", 0.10)
    assert gate("--baseline", str(real_run), "--candidate", str(tmp_path / "cand")) == 1
    out = capsys.readouterr()
    assert "FAIL: candidate is significantly worse on medlc_closedbook" in out.err
    worse_lines = [line for line in out.out.splitlines() if "WORSE" in line]
    assert len(worse_lines) == 1 and "medlc_closedbook " in worse_lines[0]


def test_real_run_compared_with_an_identical_copy_passes(real_run, tmp_path, capsys):
    shutil.copytree(real_run, tmp_path / "cand")
    assert gate("--baseline", str(real_run), "--candidate", str(tmp_path / "cand")) == 0
    assert "PASS" in capsys.readouterr().err


def test_gate_counts_the_flipped_items_as_lost(real_run, tmp_path):
    flipped = copy_with_flipped_answers(real_run, tmp_path / "cand", "medlc_closedbook", 0.10)
    row = next(r for r in check(real_run, tmp_path / "cand").rows if r.task == "medlc_closedbook")
    assert (row.paired, row.unpaired) == (207, 0)
    assert (row.baseline_only, row.candidate_only) == (len(flipped), 0) and len(flipped) == 21


@pytest.fixture
def baseline(tmp_path):
    return write_model(tmp_path / "base", "model", {"medlc_closedbook": RIGHT, "medlc_openbook_1k": RIGHT})


def gate(*args: str) -> int:
    return main(["check", *args])


# Margins, on synthetic logs whose drop is exactly 40 of 400 items (0.10): the verdict
# depends on the margin only, never on how 0.7 - 0.6 rounds.


def test_drop_larger_than_the_margin_fails(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", DROPPED_40_OF_400)
    assert check(baseline, cand, margin=0.05).failed


def test_significant_drop_smaller_than_the_margin_passes(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", DROPPED_40_OF_400)
    result = check(baseline, cand, margin=0.15)
    row = next(r for r in result.rows if r.task == "medlc_openbook_1k")
    assert row.p_adjusted < 1e-6 and not result.failed


def test_drop_of_exactly_the_margin_is_tolerated(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", DROPPED_40_OF_400)
    result = check(baseline, cand, margin=0.10)
    row = next(r for r in result.rows if r.task == "medlc_openbook_1k")
    assert (row.baseline_only, row.candidate_only, row.paired) == (40, 0, 400)
    assert row.p_adjusted < 1e-6 and not result.failed


def test_better_candidate_passes(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", {task: set(ITEMS) for task in DROPPED_40_OF_400})
    assert not check(baseline, cand).failed


def test_gating_only_named_tasks_ignores_the_others(baseline, tmp_path):
    cand = write_model(tmp_path / "cand", "model", DROPPED_40_OF_400)
    assert gate("--baseline", str(baseline), "--candidate", str(cand), "--tasks", "medlc_closedbook") == 0


def test_gated_task_missing_from_the_candidate_is_an_error_not_a_pass(baseline, tmp_path, capsys):
    cand = write_model(tmp_path / "cand", "model", {"medlc_closedbook": RIGHT})
    assert gate("--baseline", str(baseline), "--candidate", str(cand), "--tasks", "medlc_openbook_1k") == 2
    assert "medlc_openbook_1k: not scored in the candidate" in capsys.readouterr().err


def test_runs_on_different_exam_data_cannot_be_paired(baseline, tmp_path, capsys):
    cand = write_model(
        tmp_path / "cand",
        "model",
        {"medlc_closedbook": RIGHT, "medlc_openbook_1k": RIGHT},
        data_hash="otherexam0000001",
    )
    assert gate("--baseline", str(baseline), "--candidate", str(cand)) == 2
    assert "different data" in capsys.readouterr().err


def test_results_folder_with_several_models_needs_a_model_name(baseline, tmp_path, capsys):
    write_model(baseline, "other", {"medlc_closedbook": RIGHT})
    assert gate("--baseline", str(baseline), "--candidate", str(baseline)) == 2
    assert "choose one by name" in capsys.readouterr().err
    assert (
        gate(
            "--baseline",
            str(baseline),
            "--baseline_model",
            "model",
            "--candidate",
            str(baseline),
            "--candidate_model",
            "model",
        )
        == 0
    )


@pytest.fixture(scope="module")
def two_real_runs(tiny_model_dir, tmp_path_factory):
    """The same tiny model scored twice, by two separate runs into two results folders
    (on the 6-item fixture exam, so the gate is told to accept 6 paired items)."""
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
    assert gate("--baseline", str(first), "--candidate", str(second), "--min_paired", "6") == 0
    table = capsys.readouterr().out
    assert "medlc_closedbook" in table and "medlc_openbook_cloze_1k" in table and "WORSE" not in table


def test_same_model_scored_twice_has_no_discordant_items(two_real_runs):
    result = check(*two_real_runs, min_paired=6)
    assert [(r.baseline_only, r.candidate_only) for r in result.rows] == [(0, 0), (0, 0)]
