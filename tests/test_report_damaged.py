"""`medlc report` and `medlc check` read nothing damaged: a pair folder whose files no
longer match its DONE record, or an lm-eval log that is cut or short, is refused with one
line naming the file and exit code 2 (never a traceback, never check's "worse" code 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlc.cli import main
from medlc_core.store import ResultStore, samples_to_jsonl

from fixtures.damage import DAMAGES, delete_five_lines
from fixtures.report_make_results import aggregate, rows_for, write_pair

IDS = [f"q{i}" for i in range(12)]
INFO = {"kind": "general", "general_fraction": None, "n": None}
TASKS = ("medlc_closedbook", "medlc_openbook_1k")


def results_dir(root: Path) -> Path:
    store = ResultStore(root)
    for task in TASKS:
        write_pair(store, "model", INFO, task, rows_for(task, set(IDS[:7]), IDS))
    return root


def closed_book_pair(root: Path) -> Path:
    (pair,) = [p for p in ResultStore(root).done_pairs() if p.parents[1].name == "medlc_closedbook"]
    return pair


@pytest.mark.parametrize("damage", DAMAGES)
def test_report_refuses_a_damaged_pair_and_names_its_folder(damage, tmp_path, capsys):
    root = results_dir(tmp_path / "results")
    pair = closed_book_pair(root)
    DAMAGES[damage](pair)
    assert main(["report", str(root), "--output_path", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medlc report: {pair}: damaged pair folder: ") and err.count("\n") == 1
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("damage", DAMAGES)
def test_check_refuses_a_damaged_pair_with_exit_2_not_the_worse_code(damage, tmp_path, capsys):
    baseline = results_dir(tmp_path / "base")
    candidate = results_dir(tmp_path / "cand")
    pair = closed_book_pair(candidate)
    DAMAGES[damage](pair)
    assert main(["check", "--baseline", str(baseline), "--candidate", str(candidate)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medlc check: {pair}: damaged pair folder: ") and err.count("\n") == 1


def test_the_message_says_which_file_no_longer_matches(tmp_path, capsys):
    root = results_dir(tmp_path / "results")
    delete_five_lines(closed_book_pair(root))
    main(["report", str(root), "--output_path", str(tmp_path / "report")])
    assert "samples.jsonl does not match the sha256 DONE records for it" in capsys.readouterr().err


def lm_eval_output(root: Path) -> Path:
    """One model's folder as `lm_eval --output_path root --log_samples` writes it."""
    folder = root / "model"
    folder.mkdir(parents=True)
    date = "2026-01-02T03-04-05.000000"
    per_task = ("results", "configs", "versions", "n-samples")
    results: dict = {key: {} for key in per_task}
    results["config"] = {"model": "hf", "model_args": {"pretrained": "model"}}
    for task in TASKS:
        rows = rows_for(task, set(IDS[:7]), IDS)
        (folder / f"samples_{task}_{date}.jsonl").write_text(samples_to_jsonl(rows), encoding="utf-8")
        one = aggregate(task, rows, "none")
        for key in per_task:
            results[key].update(one[key])
    (folder / f"results_{date}.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


def test_lm_eval_output_is_readable_before_any_damage(tmp_path):
    lm_eval_output(tmp_path / "results")
    assert main(["report", str(tmp_path / "results"), "--output_path", str(tmp_path / "report")]) == 0


def test_report_refuses_an_lm_eval_log_cut_mid_line_naming_file_and_line(tmp_path, capsys):
    folder = lm_eval_output(tmp_path / "results")
    (log,) = folder.glob("samples_medlc_closedbook_*.jsonl")
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 40])  # the last line loses its end
    assert main(["report", str(tmp_path / "results"), "--output_path", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medlc report: {log} line {len(IDS)}: not JSON") and "cut short" in err


def test_check_refuses_an_lm_eval_log_with_lines_deleted_as_incomplete(tmp_path, capsys):
    baseline = tmp_path / "base"
    lm_eval_output(baseline)
    folder = lm_eval_output(tmp_path / "cand")
    (log,) = folder.glob("samples_medlc_closedbook_*.jsonl")
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:-5]), encoding="utf-8")
    assert main(["check", "--baseline", str(baseline), "--candidate", str(tmp_path / "cand")]) == 2
    err = capsys.readouterr().err
    assert f"holds {len(IDS) - 5} item(s) but its results JSON says {len(IDS)} were scored" in err
