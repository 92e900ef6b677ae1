"""Scoring correctness of every medlc task variant, with scripted LMs whose answers are known."""

from __future__ import annotations

import pytest

from medlc_tasks.metrics import BROKEN_DOWN, COUNT_KEYS, DEPTH_SUFFIXES, HEADLINES, KIND_SUFFIXES

from tasks_support import ITEMS, ScriptedLM, evaluate, metric, reported_keys

LETTER = ["medlc_openbook_1k", "medlc_openbook_32k", "medlc_closedbook"]
CLOZE = ["medlc_openbook_cloze_1k", "medlc_closedbook_cloze"]
GEN = ["medlc_openbook_gen_1k", "medlc_closedbook_gen"]
GROUPS = ["medlc_openbook", "medlc_openbook_cloze", "medlc_openbook_gen"]
VARIANT_OF = {**dict.fromkeys(LETTER, "letter"), **dict.fromkeys(CLOZE, "cloze"), **dict.fromkeys(GEN, "gen")}
VARIANT_OF |= {"medlc_openbook": "letter", "medlc_openbook_cloze": "cloze", "medlc_openbook_gen": "gen"}
EVERY_TASK = LETTER + CLOZE + GEN + GROUPS
# lm-eval refuses a task named both alone and inside its group, and the groups bring
# every bucket task along.
RUN = ["medlc_closedbook", "medlc_closedbook_cloze", "medlc_closedbook_gen", *GROUPS]


def accuracy_keys(results: dict, task: str) -> list[str]:
    """Every accuracy key the task reported: acc, acc_norm and their breakdowns."""
    return sorted(key for key in reported_keys(results, task) if key == "acc" or key.startswith("acc_"))


@pytest.fixture(scope="module")
def always_keyed():
    return evaluate(RUN, ScriptedLM(lambda doc: True))


@pytest.fixture(scope="module")
def never_keyed():
    return evaluate(RUN, ScriptedLM(lambda doc: False))


@pytest.fixture(scope="module")
def some_keyed():
    """Right exactly on t01, t03, t04 and t06 (the multi-answer item)."""
    return evaluate(RUN, ScriptedLM(lambda doc: doc["id"] in {"t01", "t03", "t04", "t06"}))


@pytest.mark.parametrize("task", EVERY_TASK)
def test_lm_preferring_the_key_scores_1_on_every_accuracy_key(always_keyed, task):
    keys = accuracy_keys(always_keyed, task)
    assert "acc" in keys and len(keys) >= 4
    assert {key: metric(always_keyed, task, key) for key in keys} == dict.fromkeys(keys, 1.0)


@pytest.mark.parametrize("task", EVERY_TASK)
def test_lm_never_preferring_the_key_scores_0_on_every_accuracy_key(never_keyed, task):
    keys = accuracy_keys(never_keyed, task)
    assert "acc" in keys and len(keys) >= 4
    assert {key: metric(never_keyed, task, key) for key in keys} == dict.fromkeys(keys, 0.0)


@pytest.mark.parametrize("task", CLOZE + ["medlc_openbook_cloze"])
def test_cloze_reports_length_normalised_accuracy(always_keyed, task):
    assert metric(always_keyed, task, "acc_norm") == 1.0


# Hand count over the fixture's seven single-answer items, right on t01, t03, t04:
#   depth 0: t01 | 0.25: t02, t08 | 0.5: t03, t07 | 0.75: t04 | 1.0: t05
#   counterfactual: t02, t04, t07 | factual: t01, t03, t05, t08 | contradicting: t02, t07
LETTER_HAND_COUNT = {
    "acc": 3 / 7,
    "acc_depth_0": 1.0,
    "acc_depth_25": 0.0,
    "acc_depth_50": 0.5,
    "acc_depth_75": 1.0,
    "acc_depth_100": 0.0,
    "acc_counterfactual": 1 / 3,
    "acc_factual": 2 / 4,
    "acc_contradicting": 0.0,
}


@pytest.mark.parametrize("task", ["medlc_openbook_1k", "medlc_openbook_32k", "medlc_openbook"])
def test_per_depth_and_counterfactual_accuracy_match_a_hand_count(some_keyed, task):
    reported = {key: metric(some_keyed, task, key) for key in LETTER_HAND_COUNT}
    assert reported == pytest.approx(LETTER_HAND_COUNT)


def test_closed_book_reports_counterfactual_but_not_depth_keys(some_keyed):
    keys = reported_keys(some_keyed, "medlc_closedbook")
    assert not any("depth" in key for key in keys)
    assert metric(some_keyed, "medlc_closedbook", "acc_counterfactual") == pytest.approx(1 / 3)


def test_generative_accuracy_includes_the_multi_answer_item(some_keyed):
    # eight items, right on t01, t03, t04 and the multi-answer t06 (exact set "ACD")
    assert metric(some_keyed, "medlc_openbook_gen_1k", "acc") == pytest.approx(4 / 8)
    assert metric(some_keyed, "medlc_openbook_gen_1k", "acc_depth_0") == 1.0  # t01, t06
    assert metric(some_keyed, "medlc_openbook_gen_1k", "acc_factual") == pytest.approx(3 / 5)


def test_log_likelihood_variants_leave_out_multi_answer_items(some_keyed):
    assert some_keyed["n-samples"]["medlc_openbook_1k"]["effective"] == 7
    assert some_keyed["n-samples"]["medlc_openbook_gen_1k"]["effective"] == 8


def test_multi_answer_exclusions_are_recorded_in_the_task_config(some_keyed):
    loaded = some_keyed["configs"]["medlc_openbook_1k"]["dataset_kwargs"]["loaded"]
    assert (loaded["items_in_file"], loaded["multi_answer_excluded"], loaded["docs"]) == (8, 1, 7)


def test_wrong_but_well_formed_answers_are_format_compliant(never_keyed):
    assert metric(never_keyed, "medlc_openbook_gen_1k", "format_compliance") == 1.0


def test_unparseable_generation_counts_as_non_compliant_and_wrong():
    lm = ScriptedLM(lambda doc: True, reply=lambda doc: doc["answer"] if doc["id"] > "t04" else "我不确定。")
    results = evaluate(["medlc_openbook_gen_1k"], lm)
    assert metric(results, "medlc_openbook_gen_1k", "format_compliance") == 0.5
    assert metric(results, "medlc_openbook_gen_1k", "acc") == 0.5


def test_answers_with_extra_words_are_still_extracted():
    replies = {"t01": "答案：B", "t02": "C。因为资料写明十四天。", "t06": "A、C、D", "t07": "选 Ｂ"}
    lm = ScriptedLM(lambda doc: True, reply=lambda doc: replies.get(doc["id"], doc["answer"]))
    results = evaluate(["medlc_openbook_gen_1k"], lm)
    assert metric(results, "medlc_openbook_gen_1k", "acc") == 1.0


@pytest.mark.parametrize("task", LETTER + CLOZE + GEN)
def test_every_task_reports_the_over_length_counts(always_keyed, task):
    assert set(COUNT_KEYS) <= reported_keys(always_keyed, task)


def test_without_a_model_in_the_metadata_every_item_is_counted_unchecked(always_keyed):
    assert metric(always_keyed, "medlc_openbook_1k", "overlength_unchecked") == 7
    assert metric(always_keyed, "medlc_openbook_1k", "book_shortened") == 0
    assert metric(always_keyed, "medlc_openbook_1k", "overlength_flagged") == 0


@pytest.mark.parametrize("task", GROUPS)
def test_groups_report_the_headline_and_every_breakdown(always_keyed, task):
    variant = VARIANT_OF[task]
    suffixes = DEPTH_SUFFIXES + KIND_SUFFIXES
    expected = set(HEADLINES[variant]) | {f"{m}_{s}" for m in BROKEN_DOWN[variant] for s in suffixes}
    assert expected <= reported_keys(always_keyed, task)


def test_fixture_facts_used_by_the_hand_count():
    depths = {i: item.depth for i, item in ITEMS.items()}
    assert depths == {
        "t01": 0.0,
        "t02": 0.25,
        "t03": 0.5,
        "t04": 0.75,
        "t05": 1.0,
        "t06": 0.0,
        "t07": 0.5,
        "t08": 0.25,
    }
    assert {i for i, item in ITEMS.items() if item.counterfactual} == {"t02", "t04", "t07"}
    assert {i for i, item in ITEMS.items() if item.contradicts} == {"t02", "t07"}
