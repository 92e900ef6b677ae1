"""The study report, on the hand-made results fixture (alpha is the base; beta, gamma and
delta are mixtures): linked from the leaderboard, paired tests equal to a hand count,
every metric drawn against fraction and volume, and points placed by each model's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports.report import make_report
from reports.study import StudyQuestion

FIXTURE = Path(__file__).parent / "fixtures" / "report_results"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    made = make_report(FIXTURE, out, iters=100, study=StudyQuestion(base="alpha", title="fixture study"))
    return out, made, json.loads((out / "study" / "study.json").read_text(encoding="utf-8"))


def test_the_leaderboard_links_the_study_report(report):
    out, made, _ = report
    assert made.study == out / "study" / "study.md" and made.study.is_file()
    assert "(study/study.md)" in (out / "leaderboard.md").read_text(encoding="utf-8")
    assert 'href="study/study.md"' in (out / "leaderboard.html").read_text(encoding="utf-8")


def paired(study: dict, model: str, task: str) -> dict:
    (row,) = [
        t for t in study["variants"]["letter"]["paired_vs_base"] if (t["model"], t["task"]) == (model, task)
    ]
    return row


def test_checkpoint_against_base_is_an_exact_mcnemar_on_a_hand_count(report):
    _, _, study = report
    # Closed book: alpha has q1 q2 q3 q5 q8 right, beta q1 q2: three items only alpha has,
    # none only beta: two-sided exact p = 2 * 0.5**3.
    closed = paired(study, "beta", "medlc_closedbook")
    assert (closed["n"], closed["base_only"], closed["model_only"]) == (8, 3, 0)
    assert closed["p"] == pytest.approx(0.25) and closed["diff"] == pytest.approx(2 / 8 - 5 / 8)
    # 1k book: beta also has q2, alpha nothing beta lacks: one discordant pair, p = 1.
    open_1k = paired(study, "beta", "medlc_openbook_1k")
    assert (open_1k["base_only"], open_1k["model_only"], open_1k["p"]) == (0, 1, 1.0)
    # Holm over beta's three letter tasks multiplies the smallest p by three.
    assert closed["p_holm"] == pytest.approx(min(1.0, 3 * closed["p"]))


def test_every_metric_is_drawn_against_fraction_and_volume(report):
    out, _, study = report
    for name in ("letter_vs_fraction", "letter_vs_volume", "gain_vs_closed"):
        assert (out / "study" / "letter" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    keys = set(study["variants"]["letter"]["checkpoints"][0])
    assert {"closed", "open 1k", "open 2k", "open", "gain"} <= keys


def test_points_sit_where_each_model_record_places_them(report):
    _, _, study = report
    records = {
        json.loads(p.read_text())["name"]: json.loads(p.read_text()) for p in FIXTURE.glob("*/model.json")
    }
    points = study["variants"]["letter"]["checkpoints"]
    assert sorted(p["model"] for p in points) == ["beta", "delta", "gamma"]
    for p in points:
        assert (p["general_fraction"], p["n"]) == (
            records[p["model"]]["general_fraction"],
            records[p["model"]]["n"],
        )


def test_two_volumes_at_a_fraction_are_too_few_to_say_where_gains_flatten(report):
    out, _, study = report
    fits = {(f["general_fraction"], f["metric"]): f for f in study["variants"]["letter"]["saturation"]}
    assert fits[0.5, "open"]["volumes"] == [0, 1000, 4000]
    assert fits[0.5, "open"]["reason"].startswith("too few volumes: 2 tuned volume(s)")
    assert "no estimate: too few volumes" in (out / "study" / "study.md").read_text(encoding="utf-8")


def test_a_leaderboard_without_a_study_says_how_to_run_one(tmp_path):
    make_report(FIXTURE, tmp_path, iters=50)
    text = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert "Next: to ask whether medical fine-tuning hurts reading" in text
    assert "`medlc study harness_configs/study_cpu_smoke.yaml`" in text
    assert "medlc study harness_configs/study_cpu_smoke.yaml" in (tmp_path / "leaderboard.html").read_text()
