"""The no-reading rules the builder balances against and the count baseline answers with."""

from medlc_tasks.exam.shortcuts import (
    count_choice,
    count_expected_accuracy,
    item_rng,
    key_only_named,
    option_counts,
)


def test_option_counts_are_whole_term_occurrences_in_option_order():
    book = "呋塞米可致低钾。5 mg起始，15 mg为上限；呋塞米不宜与氨基糖苷类合用。"
    assert option_counts(book, ["呋塞米", "5 mg", "15 mg", "螺内酯", ""]) == [2, 1, 1, 0, 0]


def test_count_choice_picks_the_most_named_option():
    book = "螺内酯保钾。螺内酯可致高钾。呋塞米排钾。"
    assert count_choice(book, ["呋塞米", "螺内酯", "氢氯噻嗪"], item_rng(1, "x")) == 1


def test_count_choice_breaks_ties_with_the_seeded_rng_only():
    options = ["甲", "乙", "丙", "丁"]
    picks = {count_choice("无关文字", options, item_rng(7, "item", n)) for n in range(40)}
    assert picks == {0, 1, 2, 3}
    assert count_choice("无关文字", options, item_rng(7, "a")) == count_choice(
        "无关文字", options, item_rng(7, "a")
    )


def test_only_key_named_needs_the_key_present_and_every_other_option_absent():
    assert key_only_named([1, 0, 0], 0)
    assert not key_only_named([1, 1, 0], 0)
    assert not key_only_named([0, 0, 0], 0)


def test_expected_accuracy_splits_a_tie_and_is_zero_when_another_option_leads():
    assert count_expected_accuracy([1, 1, 0, 0], 0) == 0.5
    assert count_expected_accuracy([1, 2, 0, 0], 0) == 0.0
    assert count_expected_accuracy([3, 2, 0, 0], 0) == 1.0
