"""The over-length policy inside the tasks: the tiny model, told a max_length shorter than
every 32k-bucket fixture prompt (the `window` fixture), reads that bucket."""

from __future__ import annotations

import logging

import pytest

from medlc_tasks.exam.fit import keep_passages, prompt_budget
from medlc_tasks.exam.store import read_records
from medlc_tasks.loading import DEFAULT_MARGIN_TOKENS
from medlc_tasks.prompts import GEN_MAX_TOKENS, render_prompt

from tasks_support import FIXTURE_EXAM, ITEMS, ScriptedLM, evaluate, metric

TASKS = ["medlc_openbook_32k", "medlc_openbook_cloze_32k", "medlc_openbook_gen_32k"]
VARIANTS = ("letter", "cloze", "gen")


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_hf(model_dir, window: int, model_args_in_metadata: bool, tasks=TASKS) -> tuple[dict, list[str]]:
    """The tasks through lm-eval's hf backend, with what that backend logged."""
    collect = Collect()
    hf_logger = logging.getLogger("lm_eval.models.huggingface")
    hf_logger.addHandler(collect)
    try:
        results = evaluate(
            list(tasks),
            "hf",
            model_args={"pretrained": str(model_dir), "device": "cpu", "max_length": window},
            model_args_in_metadata=model_args_in_metadata,
            log_samples=True,
        )
    finally:
        hf_logger.removeHandler(collect)
    return results, collect.messages


def left_cuts(messages: list[str]) -> list[str]:
    return [m for m in messages if "from the left" in m or "Left truncation" in m]


@pytest.fixture(scope="module")
def window(tiny_model_dir) -> int:
    """A window every 32k-bucket prompt exceeds, that holds every item's question + gold
    passage except t08's (its gold passage is long by design).

    It is measured rather than fixed because the tiny model's tokenizer is trained on the
    bundled exam, so its token counts move when that text changes.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)

    def tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    records = read_records(FIXTURE_EXAM, "32k")
    smallest = {
        (r.id, v): tokens(render_prompt(keep_passages(r, [r.gold_index]), v))
        for r in records
        for v in VARIANTS
    }
    full = {(r.id, v): tokens(render_prompt(r, v)) for r in records for v in VARIANTS}
    # GEN_MAX_TOKENS is the most continuation room any variant reserves.
    others = max(n for (item, _), n in smallest.items() if item != "t08")
    chosen = others + GEN_MAX_TOKENS + DEFAULT_MARGIN_TOKENS
    assert min(full.values()) > chosen, "fixture precondition: every 32k prompt needs shortening"
    assert min(n for (item, _), n in smallest.items() if item == "t08") > chosen, (
        "precondition: t08 cannot fit"
    )
    return chosen


@pytest.fixture(scope="module")
def fitted(tiny_model_dir, window):
    return run_hf(tiny_model_dir, window, model_args_in_metadata=True)


@pytest.mark.parametrize(
    "task, shortened, flagged",
    [("medlc_openbook_32k", 6, 1), ("medlc_openbook_cloze_32k", 6, 1), ("medlc_openbook_gen_32k", 7, 1)],
)
def test_shortened_and_flagged_counts_show_in_the_results(fitted, task, shortened, flagged):
    results, _ = fitted
    assert metric(results, task, "book_shortened") == shortened
    assert metric(results, task, "overlength_flagged") == flagged
    assert metric(results, task, "overlength_unchecked") == 0


def test_hf_backend_never_cuts_a_fitted_prompt_from_the_left(fitted):
    _, messages = fitted
    assert left_cuts(messages) == []


def test_without_the_model_in_the_metadata_hf_would_cut_and_items_are_counted_unchecked(
    tiny_model_dir, window
):
    results, messages = run_hf(tiny_model_dir, window, model_args_in_metadata=False, tasks=TASKS[:1])
    assert left_cuts(messages)  # the failure the policy exists to prevent
    assert metric(results, "medlc_openbook_32k", "overlength_unchecked") == 7


@pytest.mark.parametrize("task", TASKS)
def test_shortened_books_keep_question_and_gold_passage(fitted, task):
    results, _ = fitted
    shortened = [s["doc"] for s in results["samples"][task] if s["doc"]["overlength_action"] == "shortened"]
    assert shortened
    for doc in shortened:
        item = ITEMS[doc["id"]]
        assert doc["question"] == item.question
        assert doc["passages"][doc["gold_index"]] == item.evidence
        assert doc["book"].index(item.evidence) == doc["gold_char_offset"]


def test_shortened_prompts_fit_the_budget(fitted, window):
    results, _ = fitted
    budget = prompt_budget(window, GEN_MAX_TOKENS, DEFAULT_MARGIN_TOKENS)
    for sample in results["samples"]["medlc_openbook_gen_32k"]:
        assert sample["doc"]["prompt_tokens"] <= budget or sample["doc"]["overlength_action"] == "flagged"


def test_flagged_item_is_asked_without_its_book(fitted):
    results, _ = fitted
    (doc,) = [
        s["doc"]
        for s in results["samples"]["medlc_openbook_32k"]
        if s["doc"]["overlength_action"] == "flagged"
    ]
    assert (doc["id"], doc["book"], doc["passages"]) == ("t08", "", [])


def test_flagged_item_is_scored_wrong_even_when_answered_right(tiny_model_dir, window):
    oracle = ScriptedLM(lambda doc: True)
    results = evaluate(
        ["medlc_openbook_32k"], oracle, metadata={"pretrained": str(tiny_model_dir), "max_length": window}
    )
    assert metric(results, "medlc_openbook_32k", "acc") == pytest.approx(6 / 7)
    assert metric(results, "medlc_openbook_32k", "acc_factual") == pytest.approx(3 / 4)  # t08 is factual


def test_window_and_margin_used_are_recorded_in_the_task_config(fitted, window):
    results, _ = fitted
    loaded = results["configs"]["medlc_openbook_32k"]["dataset_kwargs"]["loaded"]
    assert (loaded["window_tokens"], loaded["margin_tokens"]) == (window, DEFAULT_MARGIN_TOKENS)
    assert loaded["overlength"] == {"flagged": 1, "shortened": 6}
