"""The over-length policy (medlc_tasks/exam/fit.py), with one character = one token."""

from __future__ import annotations

import pytest

from medlc_tasks.exam.fit import drop_order, fit_record, keep_passages, prompt_budget, withhold_book
from medlc_tasks.exam.schema import PASSAGE_SEPARATOR, BuiltRecord

QUESTION = "问题：哪一项正确？"
GOLD = "金标准证据段落"


def make_record(num_passages: int = 7, gold_index: int = 3, passage_chars: int = 10) -> BuiltRecord:
    passages = [f"d{i}".ljust(passage_chars, "x") for i in range(num_passages)]
    passages[gold_index] = GOLD
    book = PASSAGE_SEPARATOR.join(passages)
    return BuiltRecord(
        id="q1",
        question=QUESTION,
        choices=["A", "B"],
        options=["甲", "乙"],
        answer="A",
        answer_index=0,
        multi_answer=False,
        department="",
        difficulty="",
        counterfactual=False,
        contradicts_common_knowledge=False,
        bucket="1k",
        target_chars=1000,
        depth=gold_index / (num_passages - 1),
        passages=passages,
        gold_index=gold_index,
        book=book,
        book_chars=len(book),
        gold_char_offset=book.index(GOLD),
        passage_sources=[f"src{i}" for i in range(num_passages)],
    )


def render(record: BuiltRecord) -> str:
    return f"{record.question}\n{record.book}"


def fit(record: BuiltRecord, budget: int):
    return fit_record(record, render, len, budget)


def test_prompt_that_fits_is_left_unchanged():
    record = make_record()
    result = fit(record, len(render(record)))
    assert result.action == "none"
    assert result.record == record
    assert result.passages_dropped == 0


def test_shortening_keeps_question_and_gold_passage():
    record = make_record()
    result = fit(record, len(render(record)) - 15)
    assert result.action == "shortened"
    assert result.record.question == QUESTION
    assert result.record.passages[result.record.gold_index] == GOLD


def test_distractors_furthest_from_gold_are_dropped_first():
    # gold at 3 of 0..6: distance 3 for passages 0 and 6, then 2 for 1 and 5, then 1 for 2 and 4
    assert drop_order(7, 3) == [0, 6, 1, 5, 2, 4]


def test_shortening_drops_the_furthest_passages():
    record = make_record()
    result = fit(record, len(render(record)) - 15)  # two 12-character passages must go
    assert result.passages_dropped == 2
    assert result.record.passage_sources == ["src1", "src2", "src3", "src4", "src5"]


def test_shortening_drops_no_more_passages_than_needed():
    record = make_record()
    for excess in (1, 12, 13, 25, 37):
        result = fit(record, len(render(record)) - excess)
        needed = -(-excess // 12)  # each distractor is 10 characters + a 2-character separator
        assert result.passages_dropped == needed, excess
        assert result.prompt_tokens <= result.budget_tokens


def test_gold_at_the_start_loses_passages_from_the_end():
    record = make_record(gold_index=0)
    result = fit(record, len(render(record)) - 30)
    assert result.record.gold_index == 0
    assert result.record.passage_sources == ["src0", "src1", "src2", "src3"]


def test_gold_at_the_end_loses_passages_from_the_start():
    record = make_record(gold_index=6)
    result = fit(record, len(render(record)) - 30)
    assert result.record.gold_index == len(result.record.passages) - 1
    assert result.record.passage_sources == ["src3", "src4", "src5", "src6"]


def test_shortened_book_offsets_describe_the_new_book():
    record = make_record(gold_index=5)
    shortened = fit(record, len(render(record)) - 40).record
    assert shortened.book == PASSAGE_SEPARATOR.join(shortened.passages)
    assert shortened.book_chars == len(shortened.book)
    assert shortened.book[shortened.gold_char_offset :].startswith(GOLD)


def test_shortening_counts_dropped_characters():
    record = make_record()
    result = fit(record, len(render(record)) - 15)
    assert result.chars_dropped == record.book_chars - result.record.book_chars == 24


def test_item_is_flagged_when_question_and_gold_alone_do_not_fit():
    record = make_record()
    smallest = len(f"{QUESTION}\n{GOLD}")
    result = fit(record, smallest - 1)
    assert result.action == "flagged"
    assert result.record == record
    assert result.prompt_tokens == smallest


def test_question_and_gold_alone_that_just_fit_are_shortened_not_flagged():
    record = make_record()
    result = fit(record, len(f"{QUESTION}\n{GOLD}"))
    assert result.action == "shortened"
    assert result.record.passages == [GOLD]


def test_over_long_closed_book_prompt_is_flagged():
    record = withhold_book(make_record())
    result = fit(record, 3)
    assert result.action == "flagged"


def test_keeping_passages_without_the_gold_is_refused():
    with pytest.raises(ValueError, match="gold passage must be kept"):
        keep_passages(make_record(gold_index=3), [0, 1, 2])


def test_budget_reserves_continuation_and_margin():
    assert prompt_budget(window=2048, continuation_tokens=2, margin_tokens=32) == 2014


def test_budget_without_room_for_a_prompt_is_an_error():
    with pytest.raises(ValueError, match="no room for a prompt"):
        prompt_budget(window=64, continuation_tokens=32, margin_tokens=32)


def test_withheld_book_is_empty_and_has_no_gold():
    record = withhold_book(make_record())
    assert (record.book, record.passages, record.gold_index, record.gold_char_offset) == ("", [], -1, -1)
