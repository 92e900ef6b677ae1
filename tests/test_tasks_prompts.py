"""How exam items become prompts and how generated answers become option letters."""

from __future__ import annotations

import pytest
from lm_eval.filters.extraction import RegexFilter
from tasks_support import FIXTURE_EXAM

from medlc_tasks.exam.fit import withhold_book
from medlc_tasks.exam.store import read_records
from medlc_tasks.metrics import LETTERS_PATTERN, NO_ANSWER, extracted_letters
from medlc_tasks.prompts import continuations, render_prompt


@pytest.fixture(scope="module")
def records():
    return {r.id: r for r in read_records(FIXTURE_EXAM, "1k")}


def test_open_book_letter_prompt_holds_book_question_and_every_option(records):
    record = records["t01"]
    prompt = render_prompt(record, "letter")
    assert record.book in prompt and record.question in prompt
    assert all(
        f"{letter}. {text}" in prompt for letter, text in zip(record.choices, record.options, strict=True)
    )
    assert prompt.index(record.book) < prompt.index(record.question)
    assert prompt.endswith("答案：")


def test_letter_continuations_are_a_space_and_the_letter(records):
    assert continuations(records["t01"], "letter") == [" A", " B", " C", " D", " E"]


def test_cloze_scores_option_texts_without_listing_them(records):
    record = records["t01"]
    prompt = render_prompt(record, "cloze")
    assert not any(f"{letter}. " in prompt for letter in record.choices)
    assert continuations(record, "cloze") == record.options


def test_a_record_without_a_book_is_asked_closed_book(records):
    open_prompt = render_prompt(records["t01"], "letter")
    closed_prompt = render_prompt(withhold_book(records["t01"]), "letter")
    assert "参考资料" in open_prompt and "参考资料" not in closed_prompt


def test_generative_prompt_says_when_an_item_has_several_answers(records):
    assert "多选题" in render_prompt(records["t06"], "gen").split("\n\n")[-1]
    assert "单选题" in render_prompt(records["t01"], "gen").split("\n\n")[-1]


def test_unknown_variant_is_refused(records):
    with pytest.raises(ValueError, match="unknown prompt variant"):
        render_prompt(records["t01"], "essay")


def lm_eval_extracts(answer: str) -> str:
    """What the gen tasks' lm-eval regex filter, then medlc, make of one generated answer."""
    (filtered,) = RegexFilter(regex_pattern=LETTERS_PATTERN, fallback=NO_ANSWER).apply([[answer]], [{}])[0]
    return extracted_letters(filtered)


@pytest.mark.parametrize(
    "answer, letters",
    [
        ("B", "B"),
        (" C\n", "C"),
        ("答案：D", "D"),
        ("ACD", "ACD"),
        ("A、C、D", "ACD"),
        ("D和A", "AD"),
        ("Ｂ", "B"),
        ("The answer is E.", "E"),
        ("B。解析：资料第二段提到……", "B"),
    ],
)
def test_option_letters_are_extracted_from_a_generated_answer(answer, letters):
    assert lm_eval_extracts(answer) == letters


@pytest.mark.parametrize("answer", ["", "我不确定。", "Because it is described", "答案是心肌梗死"])
def test_answers_without_option_letters_yield_nothing(answer):
    assert lm_eval_extracts(answer) == ""
