"""A prompt longer than the window is shortened by the exam policy, flagged, or cut and
counted -- never cut silently."""

from __future__ import annotations

import pytest
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from transformers import AutoTokenizer

from medlc.backend import MedlcLM
from medlc.backend.length import FITTER_FIELD, OverLengthError
from medlc_tasks.exam.fit import keep_passages, withhold_book
from medlc_tasks.prompts import render_prompt

from backend_support import generation_requests, loglikelihood_requests, record


class RecordingLM(MedlcLM):
    """medlc-hf that remembers the (context, continuation) strings it actually scored."""

    def _loglikelihood_tokens(self, requests, disable_tqdm=False, override_bs=None):
        self.scored = [strings for strings, _, _ in requests]
        return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)


@pytest.fixture(scope="module")
def prompt_tokens(tiny_model_dir):
    """Tokens of item 0's letter prompt: full book, gold passage only, and no book."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    item = record(0)

    def count(r):
        return len(tokenizer(render_prompt(r, "letter"))["input_ids"])

    return {
        "full": count(item),
        "gold_only": count(keep_passages(item, [item.gold_index])),
        "no_book": count(withhold_book(item)),
    }


def item0_letter_requests() -> list[Instance]:
    return [r for r in loglikelihood_requests("letter") if r.doc_id == 0]


def scored_with(lm: RecordingLM, requests: list[Instance]):
    scores = lm.loglikelihood(requests, disable_tqdm=True)
    return scores, {context for context, _ in lm.scored}


def stock_scores(model_dir, max_length: int, context: str, requests: list[Instance]):
    rewritten = [Instance(r.request_type, r.doc, (context, r.args[1]), r.idx, r.metadata) for r in requests]
    stock = HFLM(pretrained=str(model_dir), device="cpu", dtype="float32", max_length=max_length)
    return stock.loglikelihood(rewritten, disable_tqdm=True)


def assert_close(a, b):
    assert [round(x, 3) for x, _ in a] == [round(y, 3) for y, _ in b]


def test_prompts_that_fit_are_scored_unchanged_and_not_counted(tiny_model_dir):
    lm = RecordingLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")
    requests = loglikelihood_requests("letter")
    _, contexts = scored_with(lm, requests)
    assert contexts == {r.args[0] for r in requests}
    totals = lm.medlc_report()["over_length"]["totals"]
    assert totals["requests"] == len(requests) and totals["over_length_requests"] == 0


def test_overlong_book_is_shortened_keeping_question_and_gold_passage(tiny_model_dir, prompt_tokens):
    window = (prompt_tokens["full"] + prompt_tokens["gold_only"]) // 2
    lm = RecordingLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window)
    requests = item0_letter_requests()
    scores, contexts = scored_with(lm, requests)
    (context,) = contexts
    item = record(0)
    assert item.question in context and item.passages[item.gold_index] in context
    assert item.passages[-1] not in context  # the passage furthest from the gold goes first
    assert len(lm.tok_encode(context.rstrip())) <= window  # one-token options
    counts = lm.medlc_report()["over_length"]["tasks"]["backend_test"]
    assert counts["shortened_doc_ids"] == [0] and counts["passages_dropped"] >= 1
    assert counts["over_length_requests"] == len(requests)
    assert_close(scores, stock_scores(tiny_model_dir, window, context, requests))


def test_item_whose_gold_passage_cannot_fit_is_asked_without_book_and_flagged(tiny_model_dir, prompt_tokens):
    window = (prompt_tokens["gold_only"] + prompt_tokens["no_book"]) // 2
    lm = RecordingLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window)
    requests = item0_letter_requests()
    scores, (context,) = scored_with(lm, requests)
    assert context == render_prompt(withhold_book(record(0)), "letter")
    counts = lm.medlc_report()["over_length"]["tasks"]["backend_test"]
    assert counts["flagged_doc_ids"] == [0] and counts["docs_shortened"] == 0
    assert_close(scores, stock_scores(tiny_model_dir, window, context, requests))


def test_prompt_that_fits_no_policy_is_cut_from_the_left_and_counted(tiny_model_dir, prompt_tokens):
    window = prompt_tokens["no_book"] - 20
    lm = RecordingLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window)
    requests = item0_letter_requests()
    scores = lm.loglikelihood(requests, disable_tqdm=True)
    counts = lm.medlc_report()["over_length"]["tasks"]["backend_test"]
    assert counts["truncated_doc_ids"] == [0]
    assert counts["left_cut_requests"] == len(requests)
    # Cut exactly where stock `hf` would cut (it does so with only a log warning).
    assert_close(scores, stock_scores(tiny_model_dir, window, requests[0].args[0], requests))


def test_other_tasks_documents_are_cut_and_counted_not_shortened(tiny_model_dir, prompt_tokens):
    window = (prompt_tokens["full"] + prompt_tokens["gold_only"]) // 2
    lm = MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window)
    plain = [
        Instance(r.request_type, {"text": "not an exam"}, r.args, r.idx, r.metadata)
        for r in item0_letter_requests()
    ]
    lm.loglikelihood(plain, disable_tqdm=True)
    counts = lm.medlc_report()["over_length"]["tasks"]["backend_test"]
    assert counts["truncated_doc_ids"] == [0] and counts["docs_shortened"] == 0


def test_error_policy_names_task_document_and_lengths(tiny_model_dir, prompt_tokens):
    window = prompt_tokens["full"] - 10
    lm = MedlcLM(
        pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window, over_length="error"
    )
    with pytest.raises(OverLengthError, match=rf"task 'backend_test' doc 0: .* window is {window}"):
        lm.loglikelihood(item0_letter_requests(), disable_tqdm=True)


def test_overlong_generation_prompt_is_shortened_to_leave_room_for_the_answer(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    item = record(0)
    full = len(tokenizer(render_prompt(item, "gen"))["input_ids"])
    gold_only = len(tokenizer(render_prompt(keep_passages(item, [item.gold_index]), "gen"))["input_ids"])
    max_gen_toks = 8
    window = (full + gold_only) // 2 + max_gen_toks
    lm = MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window)
    requests = [
        r for r in generation_requests({"until": ["\n\n"], "max_gen_toks": max_gen_toks}) if r.doc_id == 0
    ]
    (text,) = lm.generate_until(requests, disable_tqdm=True)
    assert isinstance(text, str)
    counts = lm.medlc_report()["over_length"]["tasks"]["backend_test"]
    assert counts["shortened_doc_ids"] == [0]


def test_unknown_policy_is_rejected(tiny_model_dir):
    with pytest.raises(ValueError, match="over_length='drop'"):
        MedlcLM(pretrained=str(tiny_model_dir), device="cpu", over_length="drop")


def test_left_cuts_are_booked_to_each_task_that_sent_the_context(tiny_model_dir, prompt_tokens):
    window = prompt_tokens["no_book"] - 20
    lm = MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window)
    first = [r for r in loglikelihood_requests("letter", task="first") if r.doc_id == 0]
    second = [r for r in loglikelihood_requests("letter", task="second") if r.doc_id == 0]
    lm.loglikelihood(first + second, disable_tqdm=True)
    tasks = lm.medlc_report()["over_length"]["tasks"]
    for name, sent in (("first", first), ("second", second)):
        assert tasks[name]["left_cut_requests"] == len(sent)
        assert tasks[name]["requests"] == len(sent) and tasks[name]["truncated_doc_ids"] == [0]


def test_a_document_without_a_fitter_is_cut_not_shortened(tiny_model_dir, prompt_tokens):
    window = (prompt_tokens["full"] + prompt_tokens["gold_only"]) // 2
    lm = MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", max_length=window)
    # The exam's fields are all there; only the hook naming the task's fitter is missing.
    bare = [
        Instance(
            r.request_type, {k: v for k, v in r.doc.items() if k != FITTER_FIELD}, r.args, r.idx, r.metadata
        )
        for r in item0_letter_requests()
    ]
    lm.loglikelihood(bare, disable_tqdm=True)
    counts = lm.medlc_report()["over_length"]["tasks"]["backend_test"]
    assert counts["truncated_doc_ids"] == [0] and counts["docs_shortened"] == 0
