"""How exam items become prompts: what each variant shows, and the prefix all of them share."""

from __future__ import annotations

import os

import pytest

from medlc_tasks.exam.fit import withhold_book
from medlc_tasks.exam.store import read_records
from medlc_tasks.prompts import VARIANTS, continuations, options_block, render_prompt, shared_prefix

from tasks_support import FIXTURE_EXAM


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


def test_generative_prompt_asks_for_letters_only_after_the_options(records):
    prompt = render_prompt(records["t01"], "gen")
    instruction = prompt.split("\n\n")[-1]
    assert "只写出正确选项的字母" in instruction and "不要解释" in instruction
    assert prompt.index("E. 肺栓塞") < prompt.index(instruction)
    assert prompt.endswith("答案：")


@pytest.mark.parametrize("item", ["t01", "t06"])
def test_every_variant_shares_one_prefix_holding_the_book_and_the_question(records, item):
    record = records[item]
    prompts = [render_prompt(record, variant) for variant in VARIANTS]
    shared = os.path.commonprefix(prompts)
    assert shared == shared_prefix(record)
    assert record.book in shared and shared.rstrip().endswith(record.question)


def test_closed_book_variants_share_the_question_too(records):
    record = withhold_book(records["t01"])
    shared = os.path.commonprefix([render_prompt(record, variant) for variant in VARIANTS])
    assert shared.rstrip().endswith(record.question)


def test_open_book_variants_share_one_instruction(records):
    record = records["t01"]
    first_lines = {render_prompt(record, variant).split("\n\n")[0] for variant in VARIANTS}
    assert len(first_lines) == 1


def test_letter_and_gen_prompts_list_the_options_after_the_question(records):
    record = records["t01"]
    for variant in ("letter", "gen"):
        prompt = render_prompt(record, variant)
        assert prompt.index(record.question) < prompt.index(options_block(record)), variant


def test_no_variant_prompt_is_contained_in_another(records):
    # The backend's length guard finds which variant rendered a context by searching for
    # each variant's prompt in it; containment would make it re-render the wrong one.
    for record in (records["t01"], withhold_book(records["t01"])):
        prompts = {variant: render_prompt(record, variant) for variant in VARIANTS}
        for variant, prompt in prompts.items():
            assert [v for v, other in prompts.items() if v != variant and prompt in other] == []


def test_unknown_variant_is_refused(records):
    with pytest.raises(ValueError, match="unknown prompt variant"):
        render_prompt(records["t01"], "essay")
