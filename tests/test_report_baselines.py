"""Baselines in the report: their own rows, marked, and every model's "above count" column,
the paired difference from the count baseline on the same items, worked out by hand.

The models are those of tests/fixtures/report_make_results.py. Open book (1k + 2k, 16
items), right on: alpha 9, beta 12, gamma 3, delta 14. The baselines added here:

    count     1k q1 q2, 2k q1 (gamma's very answers)      -> 3/16
    retrieve  1k q1 q3 q4 q6 q7 q8, 2k q1 q4 q6 (alpha's) -> 9/16

so above count is alpha 6/16, beta 9/16, gamma 0, delta 11/16.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medlc.cli import main
from reports import leaderboard
from reports.collect import collect
from reports.report import make_report

from fixtures.report_make_results import MODELS, write_baseline

FIXTURE = Path(__file__).parent / "fixtures" / "report_results"
OPEN = ("medlc_openbook_1k", "medlc_openbook_2k")
COUNT_RIGHT = {"medlc_closedbook": {"q3"}, "medlc_openbook_1k": {"q1", "q2"}, "medlc_openbook_2k": {"q1"}}
RETRIEVE_RIGHT = {"medlc_closedbook": set()} | {task: MODELS["alpha"][task] for task in OPEN}


def with_baselines(out: Path, count_ids: list[str] | None = None) -> Path:
    shutil.copytree(FIXTURE, out)
    write_baseline(out, "count", "count", COUNT_RIGHT, ids=count_ids)
    write_baseline(out, "retrieve", "retrieve", RETRIEVE_RIGHT)
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return with_baselines(tmp_path_factory.mktemp("baselines") / "results")


@pytest.fixture(scope="module")
def board(results):
    return leaderboard.build(collect(results), iters=500)


def row(board, name: str):
    return next(r for r in board.variants["letter"] if r.model == name)


def test_baselines_are_rows_of_their_own_listed_after_every_model(board):
    rows = board.variants["letter"]
    assert [r.model for r in rows][-2:] == ["count", "retrieve"]
    assert [(r.kind, r.baseline) for r in rows[-2:]] == [("baseline", "count"), ("baseline", "retrieve")]


def test_baseline_row_says_it_is_a_baseline_in_its_kind_cell(board):
    assert leaderboard.cells(row(board, "count"), board.buckets["letter"])[1] == "baseline: count"


def test_above_count_is_open_book_minus_count_on_the_same_items(board):
    above = {name: row(board, name).versus.above_count.value for name in ("alpha", "beta", "gamma", "delta")}
    assert above == pytest.approx({"alpha": 6 / 16, "beta": 9 / 16, "gamma": 0.0, "delta": 11 / 16})


def test_identical_answers_give_a_paired_difference_without_spread(board):
    gamma = row(board, "gamma").versus.above_count
    assert (gamma.value, gamma.low, gamma.high) == (0.0, 0.0, 0.0)


def test_a_model_far_above_count_is_not_matched_by_it(board):
    delta = row(board, "delta").versus
    assert delta.above_count.low > 0 and "count" not in delta.matched_by


def test_a_score_that_a_baseline_matches_names_that_baseline(board):
    assert row(board, "alpha").versus.matched_by == ["retrieve"]  # alpha answers exactly as retrieve
    assert row(board, "gamma").versus.matched_by == ["count", "retrieve"]


def test_baseline_rows_have_no_above_count(board):
    assert row(board, "count").versus is None
    assert leaderboard.cells(row(board, "count"), board.buckets["letter"])[8] == "–"


def test_markdown_marks_a_matched_score_and_explains_it_below_the_table(results, tmp_path):
    text = make_report(results, tmp_path, iters=200).markdown.read_text(encoding="utf-8")
    head = next(line for line in text.splitlines() if line.startswith("| model |")).split(" | ")
    gamma = next(line for line in text.splitlines() if line.startswith("| gamma |")).split(" | ")
    assert gamma[head.index("open")].endswith(" †")
    assert gamma[head.index("above count")].startswith("+0.000 [")
    assert "- † gamma: open-book score matched by count and below retrieve (model minus baseline" in text
    assert "| *count* | baseline: count |" in text


def test_json_carries_above_count_and_the_baselines_that_match(results, tmp_path):
    data = json.loads(make_report(results, tmp_path, iters=200).json.read_text(encoding="utf-8"))
    rows = {r["model"]: r for r in data["variants"]["letter"]["rows"]}
    assert rows["alpha"]["above_count"]["value"] == pytest.approx(6 / 16)
    assert rows["alpha"]["matched_by_baselines"] == ["retrieve"]
    assert rows["count"]["baseline"] == {"method": "count", "rule": "the count rule (fixture)"}
    assert rows["count"]["above_count"] is None


def test_html_marks_baseline_rows_and_matched_scores(results, tmp_path):
    page = make_report(results, tmp_path, iters=200).html.read_text(encoding="utf-8")
    assert page.count('<tr class="baseline">') == 2  # the letter table; no gen task was scored
    assert '<span class="mark">†</span>' in page and "† gamma: open-book score matched by count" in page


def test_terminal_summary_shows_baseline_rows_and_the_notes(results, tmp_path, capsys):
    assert main(["report", str(results), "--output_path", str(tmp_path), "--bootstrap_iters", "100"]) == 0
    out = capsys.readouterr().out
    assert "above count" in out and "baseline: retrieve" in out
    assert (
        "† alpha: open-book score matched by retrieve (model minus baseline on the same items: retrieve +0.000"
        in out
    )


def test_count_baseline_scored_on_other_items_is_not_comparable_and_says_why(tmp_path):
    results = with_baselines(tmp_path / "r", count_ids=["q1", "q2", "q3", "q4"])
    alpha = row(leaderboard.build(collect(results), iters=100), "alpha")
    assert alpha.versus.above_count is None
    assert alpha.versus.not_comparable == (
        "count scored other items of medlc_openbook_1k: 4 of this model's 8 items, and 0 it did not score"
    )


def test_not_comparable_shows_in_the_cell_and_the_note(tmp_path):
    results = with_baselines(tmp_path / "r", count_ids=["q1", "q2", "q3", "q4"])
    text = make_report(results, tmp_path / "out", iters=100).markdown.read_text(encoding="utf-8")
    assert "| not comparable |" in text
    assert "- alpha: above count not comparable: count scored other items of medlc_openbook_1k" in text


def test_without_a_count_baseline_above_count_is_not_comparable():
    alpha = row(leaderboard.build(collect(FIXTURE), iters=100), "alpha")
    assert alpha.versus.above_count is None
    assert alpha.versus.not_comparable == "no count baseline in these results"


def test_count_baseline_missing_a_task_of_the_model_is_not_comparable(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "r")
    write_baseline(tmp_path / "r", "count", "count", {"medlc_openbook_1k": {"q1"}})
    alpha = row(leaderboard.build(collect(tmp_path / "r"), iters=100), "alpha")
    assert alpha.versus.not_comparable == "count has no results for medlc_openbook_2k"
