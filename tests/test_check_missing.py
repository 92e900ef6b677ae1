"""`medlc check` never narrows silently: a task or items scored on one side only, or too
few paired items, end in exit 2 with a table of what is missing, unless a flag accepts
it, and what a flag accepted is always said."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.cli import main
from medlc_core.store import ResultStore
from reports.check import DEFAULT_MIN_PAIRED, GateRefused, check

from fixtures.report_make_results import rows_for, write_pair

ITEMS = [f"q{i:03d}" for i in range(120)]
RIGHT = set(ITEMS[::2])
INFO = {"kind": "general", "general_fraction": None, "n": None}


def results(root: Path, tasks: dict[str, list[str]]) -> Path:
    """One model's results: per task, the items it scored (half of them right)."""
    store = ResultStore(root)
    for task, ids in tasks.items():
        write_pair(store, "model", INFO, task, rows_for(task, RIGHT, ids))
    return root


def gate(baseline: Path, candidate: Path, *flags: str) -> int:
    return main(["check", "--baseline", str(baseline), "--candidate", str(candidate), *flags])


@pytest.fixture
def baseline(tmp_path) -> Path:
    return results(tmp_path / "base", {"medlc_closedbook": ITEMS, "medlc_openbook_1k": ITEMS})


def test_candidate_lacking_a_task_the_baseline_scored_fails_with_exit_2(baseline, tmp_path, capsys):
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS})
    assert gate(baseline, cand) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("medlc check: the gate cannot compare these runs as they are")
    assert "medlc_openbook_1k: not scored in the candidate" in err and "PASS" not in err


def test_baseline_lacking_a_task_the_candidate_scored_fails_too(baseline, tmp_path, capsys):
    cand = results(
        tmp_path / "cand", {"medlc_closedbook": ITEMS, "medlc_openbook_1k": ITEMS, "medlc_openbook_2k": ITEMS}
    )
    assert gate(baseline, cand) == 2
    assert "medlc_openbook_2k: not scored in the baseline" in capsys.readouterr().err


def test_the_refusal_prints_a_table_of_what_is_missing(baseline, tmp_path, capsys):
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS})
    gate(baseline, cand)
    table = [line for line in capsys.readouterr().err.splitlines() if "medlc_openbook_1k" in line][0]
    assert "task missing" in table and "not scored in the candidate" in table


def test_allow_missing_gates_the_shared_tasks_and_lists_the_others_as_warnings(baseline, tmp_path, capsys):
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS})
    assert gate(baseline, cand, "--allow_missing") == 0
    out = capsys.readouterr()
    assert "medlc_closedbook" in out.out and "medlc_openbook_1k" not in out.out
    assert "warning: medlc_openbook_1k: not scored in the candidate; not gated (--allow_missing)" in out.err


def test_different_item_sets_fail_with_exit_2_naming_the_items_on_each_side(baseline, tmp_path, capsys):
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS[:100], "medlc_openbook_1k": ITEMS})
    assert gate(baseline, cand) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert (
        "medlc_closedbook: 100 item(s) on both sides, 20 only in the baseline (q100, q101, q102, ...)" in err
    )


def test_intersect_items_gates_on_the_shared_items_and_says_so(baseline, tmp_path, capsys):
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS[:100], "medlc_openbook_1k": ITEMS})
    assert gate(baseline, cand, "--intersect_items") == 0
    out = capsys.readouterr()
    assert "100 (+20 unpaired)" in out.out
    assert "warning: medlc_closedbook: gated on shared items only: 100 item(s) on both sides" in out.err


def test_runs_paired_on_one_item_are_refused_not_passed(tmp_path, capsys):
    # Two runs with different sample_items: 12 spread items against 1, sharing item q000.
    base = results(tmp_path / "base", {"medlc_closedbook": ITEMS[::10]})
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS[:1]})
    assert gate(base, cand, "--intersect_items") == 2
    err = capsys.readouterr().err
    assert f"medlc_closedbook: 1 paired item(s); the gate needs at least {DEFAULT_MIN_PAIRED}" in err
    assert "PASS" not in err


def test_the_minimum_of_paired_items_is_a_flag(tmp_path):
    base = results(tmp_path / "base", {"medlc_closedbook": ITEMS[:20]})
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS[:20]})
    with pytest.raises(GateRefused, match="20 paired item"):
        check(base, cand)
    assert gate(base, cand, "--min_paired", "20") == 0


def test_gate_refused_lists_every_gap_for_library_callers(baseline, tmp_path):
    cand = results(tmp_path / "cand", {"medlc_closedbook": ITEMS[:10]})
    with pytest.raises(GateRefused) as refused:
        check(baseline, cand)
    assert [(g.task, g.problem) for g in refused.value.gaps] == [
        ("medlc_closedbook", "items differ"),
        ("medlc_openbook_1k", "task missing"),
    ]
