"""The leaderboard's numbers equal a hand count over the fixture's per-sample logs.

tests/fixtures/report_make_results.py says which items each model got right; the
expected values below are worked out from that table by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports import leaderboard
from reports.collect import ResultsError, collect
from reports.report import make_report

FIXTURE = Path(__file__).parent / "fixtures" / "report_results"


@pytest.fixture(scope="module")
def board():
    return leaderboard.build(collect(FIXTURE), iters=500)


def row(board, name: str, variant: str = "letter"):
    return next(r for r in board.variants[variant] if r.model == name)


def test_alpha_closed_book_is_five_of_eight(board):
    assert row(board, "alpha").closed.value == pytest.approx(5 / 8)


def test_alpha_open_book_per_bucket_and_pooled(board):
    r = row(board, "alpha")
    assert r.open_by_bucket["1k"].value == pytest.approx(6 / 8)
    assert r.open_by_bucket["2k"].value == pytest.approx(3 / 8)
    assert r.open_overall.value == pytest.approx(9 / 16)


def test_alpha_gain_is_open_minus_closed(board):
    assert row(board, "alpha").gain.value == pytest.approx(9 / 16 - 5 / 8)


def test_alpha_counterfactual_counts_open_book_cf_items_in_every_bucket(board):
    # cf items q2 q5 q7: right only on q7 in 1k -> 1 of 6 open-book cf items.
    assert row(board, "alpha").counterfactual.value == pytest.approx(1 / 6)


def test_alpha_format_compliance_comes_from_its_generative_answers(board):
    assert row(board, "alpha").format_compliance.value == pytest.approx(6 / 8)


def test_over_length_counts_loader_and_scoring_time_actions_by_kind(board):
    # Loader: q8 shortened, q3 flagged (2k). Scoring time: q2 shortened, q6's 4 requests cut (1k).
    assert row(board, "alpha").over_length == {"shortened": 2, "flagged": 1, "left_cut_requests": 4}


def test_alpha_depth_grid_for_the_1k_book(board):
    grid = row(board, "alpha").depth_grid["1k"]
    assert grid == {0.0: (1.0, 2), 0.25: (0.0, 1), 0.5: (1.0, 2), 0.75: (1.0, 1), 1.0: (0.5, 2)}


def test_beta_numbers(board):
    r = row(board, "beta")
    assert (r.kind, r.general_fraction, r.n) == ("mixture", 0.5, 1000)
    assert r.closed.value == pytest.approx(2 / 8)
    assert r.open_by_bucket["1k"].value == pytest.approx(7 / 8)
    assert r.open_by_bucket["2k"].value == pytest.approx(5 / 8)
    assert r.open_overall.value == pytest.approx(12 / 16)
    assert r.gain.value == pytest.approx(12 / 16 - 2 / 8)
    assert r.counterfactual.value == pytest.approx(3 / 6)
    assert r.format_compliance.value == pytest.approx(1.0)
    assert r.over_length == {"shortened": 0, "flagged": 0, "left_cut_requests": 0}


def test_model_without_generative_tasks_has_no_compliance_rather_than_zero(board):
    assert row(board, "gamma").format_compliance is None


def test_intervals_contain_the_estimate_and_stay_in_range(board):
    for r in board.variants["letter"]:
        for est in [r.closed, r.open_overall, *r.open_by_bucket.values()]:
            assert 0 <= est.low <= est.value <= est.high <= 1


def test_all_correct_items_give_a_degenerate_interval(board):
    one_k = row(board, "delta").open_by_bucket["1k"]
    assert (one_k.value, one_k.low, one_k.high) == (1.0, 1.0, 1.0)


def test_generative_tasks_form_their_own_table(board):
    assert [r.model for r in board.variants["gen"]] == ["alpha", "beta"]
    assert row(board, "alpha", "gen").closed.value == pytest.approx(5 / 8)


def test_json_and_markdown_carry_the_same_numbers(tmp_path):
    report = make_report(FIXTURE, tmp_path, iters=200)
    data = json.loads(report.json.read_text())
    alpha = next(r for r in data["variants"]["letter"]["rows"] if r["model"] == "alpha")
    assert alpha["closed"]["value"] == pytest.approx(0.625)
    assert alpha["over_length"] == {"shortened": 2, "flagged": 1, "left_cut_requests": 4}
    line = next(line for line in report.markdown.read_text().splitlines() if line.startswith("| alpha |"))
    assert "0.625 [" in line and line.rstrip().endswith("| 2/1/4 |")


def test_each_cell_names_the_result_folders_it_came_from(board):
    sources = row(board, "alpha").sources["open 1k"]
    assert len(sources) == 1 and "/medlc_openbook_1k/1.0/" in sources[0]


def test_edited_per_sample_log_that_disagrees_with_results_json_is_an_error(tmp_path):
    import shutil

    from fixtures.report_make_results import rehash

    shutil.copytree(FIXTURE, tmp_path / "r")
    samples = next((tmp_path / "r").glob("*/medlc_closedbook/1.0/*/samples.jsonl"))
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    rows[0]["acc"] = 1.0 - rows[0]["acc"]
    samples.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    rehash(samples.parent)  # digests that vouch for the edit: the aggregate still disagrees
    with pytest.raises(ResultsError, match="per-sample acc averages"):
        collect(tmp_path / "r")


def test_empty_results_folder_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="no completed pairs"):
        collect(tmp_path)


def test_committed_fixture_is_what_its_generator_writes(tmp_path):
    from fixtures.report_make_results import write

    write(tmp_path)
    committed = {p.relative_to(FIXTURE): p.read_bytes() for p in FIXTURE.rglob("*") if p.is_file()}
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fresh == committed


def test_footer_traces_each_task_to_its_metric_key_yaml_and_scorer(tmp_path):
    report = make_report(FIXTURE, tmp_path, iters=50)
    footer = report.markdown.read_text().split("## where each number comes from", 1)[1]
    assert "| medlc_openbook_2k | `acc,none` | medlc_tasks/medlc_openbook_2k.yaml | score_letter |" in footer


def test_variant_and_bucket_come_from_the_task_config_not_its_name(tmp_path):
    import shutil

    from fixtures.report_make_results import rehash

    shutil.copytree(FIXTURE, tmp_path / "r")
    for results in (tmp_path / "r").glob("*/medlc_openbook_2k/1.0/*/results.json"):
        data = json.loads(results.read_text())
        data["configs"]["medlc_openbook_2k"]["dataset_kwargs"]["exam_bucket"] = "3k"
        results.write_text(json.dumps(data))
        rehash(results.parent)
    assert leaderboard.build(collect(tmp_path / "r"), iters=50).buckets["letter"] == ["1k", "3k"]
