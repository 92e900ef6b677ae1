"""How a generated answer is scored: the letters it gives, or non-compliant and wrong.

The answers are recorded as a chat model writes them, and go through the gen task's own
scoring function (`metrics.score_gen`, which sees the raw response)."""

from __future__ import annotations

import pytest

from medlc_tasks.loading import build_docs
from medlc_tasks.metrics import answer_letters, echoes_options, score_gen
from medlc_tasks.prompts import options_block

from tasks_support import FIXTURE_EXAM, ScriptedLM, evaluate, metric

# t01: single answer B of five options; t06: multi-answer ACD of five; t05: B of four.
DOCS = {doc["id"]: doc for doc in build_docs(FIXTURE_EXAM, "1k", "gen", window=None)[0]}
T01_OPTIONS = options_block(DOCS["t01"])  # "A. 稳定型心绞痛\nB. 急性前壁心肌梗死\n…"


def scored(item: str, response: str) -> tuple[float, float]:
    scores = score_gen(DOCS[item], [response])
    return scores["acc"], scores["format_compliance"]


@pytest.mark.parametrize(
    "response, letters",
    [
        ("B", "B"),
        (" B\n", "B"),
        ("答案：B", "B"),
        ("Ｂ", "B"),
        ("B。因为V1至V4导联ST段抬高，提示急性前壁心肌梗死。", "B"),
        ("The answer is B.", "B"),
        ("选 Ｂ", "B"),
    ],
)
def test_a_single_letter_answer_is_read_whatever_surrounds_it(response, letters):
    assert answer_letters(response, DOCS["t01"]) == letters


@pytest.mark.parametrize("response", ["ACD", "A、C、D", "D和A和C", "Ａ，Ｃ，Ｄ", "A C D"])
def test_a_multi_answer_is_read_as_the_set_of_its_letters(response):
    assert answer_letters(response, DOCS["t06"]) == "ACD"


def test_the_keyed_letter_with_an_explanation_is_right_and_compliant():
    assert scored("t01", "B。因为资料写明前壁导联ST段抬高。") == (1.0, 1.0)


def test_an_echo_of_the_options_block_is_non_compliant_and_wrong():
    assert echoes_options(T01_OPTIONS, DOCS["t01"])
    assert scored("t01", T01_OPTIONS) == (0.0, 0.0)


def test_an_echo_cut_short_by_the_generation_budget_is_still_an_echo():
    truncated = "A. 稳定型心绞痛\nB. 急性前"
    assert echoes_options(truncated, DOCS["t01"])
    assert scored("t01", truncated) == (0.0, 0.0)


def test_two_listed_options_for_a_single_answer_item_are_non_compliant():
    # the block cut off exactly at a line end reads as a list of two chosen options
    assert scored("t01", "A. 稳定型心绞痛\nB. 急性前壁心肌梗死") == (0.0, 0.0)


def test_an_echo_whose_first_listed_option_is_the_key_is_still_wrong():
    echo = options_block(DOCS["t06"])  # starts "A. 规律使用长效支气管扩张剂", A is a key
    assert scored("t06", echo) == (0.0, 0.0)


@pytest.mark.parametrize("style", ["（{}）{}", "{}、{}", "{}: {}"])
def test_an_echo_in_other_list_punctuation_is_an_echo(style):
    doc = DOCS["t01"]
    echo = "\n".join(
        style.format(letter, text) for letter, text in zip(doc["choices"], doc["options"], strict=True)
    )
    assert echoes_options(echo, doc)


def test_listing_the_chosen_options_with_their_texts_is_an_answer_not_an_echo():
    listed = "A. 规律使用长效支气管扩张剂\nC. 戒烟\nD. 肺康复训练"
    assert not echoes_options(listed, DOCS["t06"])
    assert scored("t06", listed) == (1.0, 1.0)


def test_the_key_with_its_text_is_an_answer_not_an_echo():
    assert scored("t01", "B. 急性前壁心肌梗死") == (1.0, 1.0)


@pytest.mark.parametrize("response", ["AB", "A、B", "B和C"])
def test_several_letters_for_a_single_answer_item_are_non_compliant_and_wrong(response):
    assert scored("t01", response) == (0.0, 0.0)


def test_a_letter_the_item_does_not_have_is_non_compliant():
    assert scored("t05", "E") == (0.0, 0.0)


def test_a_wrong_multi_answer_set_is_compliant_but_wrong():
    assert scored("t06", "ACE") == (0.0, 1.0)
    assert scored("t06", "A、C、E") == (0.0, 1.0)


@pytest.mark.parametrize("response", ["", "我不确定。", "Because it is described", "答案是心肌梗死"])
def test_an_answer_without_option_letters_is_non_compliant(response):
    assert scored("t01", response) == (0.0, 0.0)


def test_the_gen_task_scores_echoes_and_extra_letters_as_wrong_through_lm_eval():
    replies = {"t01": T01_OPTIONS, "t02": "BC", "t03": "Ａ", "t06": "A、C、D"}
    lm = ScriptedLM(lambda doc: True, reply=lambda doc: replies.get(doc["id"], doc["answer"]))
    results = evaluate(["medlc_openbook_gen_1k"], lm)
    # eight items: t01 (echo) and t02 (two letters, single-answer) are wrong and non-compliant
    assert metric(results, "medlc_openbook_gen_1k", "acc") == pytest.approx(6 / 8)
    assert metric(results, "medlc_openbook_gen_1k", "format_compliance") == pytest.approx(6 / 8)
