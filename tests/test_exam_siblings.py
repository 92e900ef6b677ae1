"""Sibling questions (a shared case stem or option set) never read each other's explanations."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc_tasks.exam.build import BuildOptions, build_exam
from medlc_tasks.exam.schema import ExamItem
from medlc_tasks.exam.siblings import find_siblings
from medlc_tasks.exam.store import read_records

FIXTURES = Path(__file__).parent / "fixtures"
# sib-01/sib-02 ask two questions about one case; match-01/match-02 share one option list.
SOURCES = [FIXTURES / "decoy_items.jsonl", FIXTURES / "sibling_items.jsonl"]
REFERENCES = [FIXTURES / "decoy_reference.txt", FIXTURES / "decoy_filler.txt"]
BUCKETS = {"s": 1000, "m": 2000}
STEM = "患者，女，45岁。反复上腹痛3年，餐后加重，近一周出现呕吐宿食。"


def item(item_id: str, question: str, options: dict[str, str] | None = None) -> ExamItem:
    options = options or {"A": f"{item_id}甲", "B": f"{item_id}乙", "C": f"{item_id}丙"}
    return ExamItem(item_id, question, options, "A", "解析")


def books_of(out: Path, item_id: str) -> list:
    return [r for bucket in BUCKETS for r in read_records(out, bucket) if r.id == item_id]


def test_questions_sharing_a_case_stem_are_siblings():
    found = find_siblings([item("a", STEM + "最可能的诊断是"), item("b", STEM + "首选的检查是")], 20)
    assert found == {"a": ["b"], "b": ["a"]}


def test_a_shared_preface_that_stops_mid_sentence_is_no_case_stem():
    preface = "按《示例医院神经内科诊疗规程（medlc虚构版）》，"
    found = find_siblings(
        [item("a", preface + "头痛首选的检查是"), item("b", preface + "癫痫首选的药物是")], 20
    )
    assert found == {}


def test_a_short_shared_opening_is_no_case_stem():
    found = find_siblings([item("a", "患者，男。诊断是"), item("b", "患者，男。治疗是")], 20)
    assert found == {}


def test_questions_sharing_one_option_set_are_siblings_whatever_the_order():
    options = {"A": "肾病综合征", "B": "IgA肾病", "C": "急性肾小球肾炎"}
    shuffled = {"A": "急性肾小球肾炎", "B": "肾病综合征", "C": "IgA 肾病"}
    found = find_siblings([item("a", "大量蛋白尿见于", options), item("b", "肉眼血尿见于", shuffled)], 20)
    assert found == {"a": ["b"], "b": ["a"]}


@pytest.fixture(scope="module")
def exam(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("siblings") / "exam"
    return out, build_exam(SOURCES, out, BUCKETS, 7, REFERENCES)


def test_a_siblings_explanation_never_enters_the_items_books(exam, tmp_path):
    out, _ = exam
    pairs = [("sib-01", "sib-02"), ("sib-02", "sib-01"), ("match-01", "match-02"), ("match-02", "match-01")]
    for item_id, sibling in pairs:
        assert all(sibling not in record.passage_sources for record in books_of(out, item_id)), item_id
    # Without stem detection, sib-01's explanation is among sib-02's best distractors.
    undetected = tmp_path / "undetected"
    build_exam(SOURCES, undetected, BUCKETS, 7, REFERENCES, BuildOptions(sibling_stem_chars=10**6))
    assert any("sib-01" in record.passage_sources for record in books_of(undetected, "sib-02"))


def test_siblings_are_listed_per_item_and_counted(exam):
    _, manifest = exam
    assert manifest["items"]["sib-01"]["siblings"] == ["sib-02"]
    assert manifest["items"]["match-02"]["siblings"] == ["match-01"]
    assert manifest["items"]["thyr-01"]["siblings"] == []
    assert manifest["counts"]["items_with_siblings"] == 4
    assert manifest["counts"]["sibling_passages_excluded"] == 4
    assert manifest["items"]["sib-01"]["sibling_passages_excluded"] == 1
