"""The letter, cloze and generative prompts of the same items, handed over as lm-eval hands
them when a run names the three tasks -- every log-likelihood request in one call, then every
generation -- share their book: it is read once, generation starts from its stored cache,
and every score and answer is still stock `hf`'s."""

from __future__ import annotations

import pytest
from lm_eval.models.huggingface import HFLM
from test_backend_agreement import assert_same_scores

from medlc.backend import MedlcLM

from backend_support import distinct_prefix_tokens, generation_requests, loglikelihood_requests
from tiny_models import build_tiny_model

# Far below the tiny books (200-340 tokens): books are read on their own and kept in the
# store, and what follows them is packed, as at the real buckets' lengths. The Gemma 3
# fixture's sliding window (16 tokens) is a small fraction of every prompt.
SHORT_ONE_PASS = 8
GEN_KWARGS = {"until": ["\n\n"], "max_gen_toks": 8, "do_sample": False, "temperature": 0.0}
MODELS = {
    "llama": {},
    "single_token_letters": {"single_token_letters": True},
    "gemma3_sliding_window": {"arch": "gemma3"},
}


@pytest.fixture(scope="module", params=list(MODELS))
def model_dir(request, tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp(request.param), **MODELS[request.param]))


def scoring_requests():
    """Letter and cloze requests of the same items, as two tasks of one evaluation."""
    return loglikelihood_requests("letter", task="letter") + loglikelihood_requests("cloze", task="cloze")


@pytest.fixture(scope="module")
def stock(model_dir) -> tuple[list, list[str]]:
    """Stock `hf`'s scores and greedy answers for the same requests."""
    lm = HFLM(pretrained=model_dir, device="cpu", dtype="float32")
    scores = lm.loglikelihood(scoring_requests(), disable_tqdm=True)
    return scores, lm.generate_until(generation_requests(GEN_KWARGS), disable_tqdm=True)


@pytest.fixture(scope="module")
def ours(model_dir) -> tuple[MedlcLM, list, list[str]]:
    """medlc-hf after the two calls of one evaluation, with what each returned."""
    lm = MedlcLM(pretrained=model_dir, device="cpu", dtype="float32", one_pass_tokens=SHORT_ONE_PASS)
    scores = lm.loglikelihood(scoring_requests(), disable_tqdm=True)
    return lm, scores, lm.generate_until(generation_requests(GEN_KWARGS), disable_tqdm=True)


def picks(scores, requests) -> dict[tuple[str, int], int]:
    """The option each (task, document) scores highest."""
    best: dict[tuple[str, int], tuple[float, int]] = {}
    for request, (ll, _) in zip(requests, scores, strict=True):
        key = (request.task_name, request.doc_id)
        if key not in best or ll > best[key][0]:
            best[key] = (ll, request.idx)
    return {key: option for key, (_, option) in best.items()}


def test_letter_and_cloze_scored_in_one_call_match_stock_hf(stock, ours):
    requests = scoring_requests()
    _, got, _ = ours
    assert_same_scores(stock[0], got, requests)
    assert picks(got, requests) == picks(stock[0], requests)


def test_generations_after_the_scoring_call_match_stock_hf(stock, ours):
    _, _, answers = ours
    assert answers == stock[1]


def test_generations_batched_from_their_stored_books_match_stock_hf(model_dir, stock):
    lm = MedlcLM(
        pretrained=model_dir, device="cpu", dtype="float32", one_pass_tokens=SHORT_ONE_PASS, batch_size=4
    )
    lm.loglikelihood(scoring_requests(), disable_tqdm=True)
    rows, generate = [], lm.model.generate

    def counted(*args, **kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        return generate(*args, **kwargs)

    lm.model.generate = counted
    answers = lm.generate_until(generation_requests(GEN_KWARGS), disable_tqdm=True)
    assert answers == stock[1]
    assert max(rows) > 1  # rows of different books and paddings decoded together
    cache = lm.medlc_report()["prefix_cache"]
    assert cache["hits"] == len(answers) and cache["tokens_reused"] >= len(answers) * 150


def test_a_batch_of_generations_without_stored_books_reads_each_prompt_alone(model_dir, stock):
    lm = MedlcLM(
        pretrained=model_dir, device="cpu", dtype="float32", one_pass_tokens=SHORT_ONE_PASS, batch_size=4
    )
    requests = generation_requests(GEN_KWARGS)
    assert lm.generate_until(requests, disable_tqdm=True) == stock[1]
    # Each prompt read once, unpadded, then decoded in batches: no padded prefill.
    scoring = lm.medlc_report()["scoring"]
    assert scoring["prompt_reads"] == len(requests)
    assert scoring["prompt_read_tokens"] == sum(len(lm.tok_encode(r.args[0])) - 1 for r in requests)


def test_every_distinct_token_prefix_runs_through_the_model_once(ours):
    lm, _, _ = ours
    scoring = lm.medlc_report()["scoring"]
    distinct = distinct_prefix_tokens(lm, scoring_requests())
    assert scoring["read_tokens"] + scoring["packed_tokens"] == distinct
    # Each book is shared by both tasks' prompts and all their options.
    assert distinct < scoring["request_tokens"] / 5


def test_each_generation_starts_from_the_book_its_item_read(ours):
    lm, _, _ = ours
    cache = lm.medlc_report()["prefix_cache"]
    generations = len(generation_requests(GEN_KWARGS))
    assert cache["hits"] >= generations
    # Each reuses at least its book: far more than the few tokens after it.
    assert cache["tokens_reused"] >= generations * 150
    assert cache["evictions"] == 0 and cache["entries"] > 0


def test_one_pass_of_short_contexts_scores_as_reading_them_first(model_dir):
    requests = loglikelihood_requests("letter", with_book=False) + loglikelihood_requests(
        "cloze", with_book=False
    )
    one_pass = MedlcLM(pretrained=model_dir, device="cpu", dtype="float32", batch_size=4)
    two_pass = MedlcLM(pretrained=model_dir, device="cpu", dtype="float32", one_pass_tokens=4)
    assert_same_scores(
        two_pass.loglikelihood(requests, disable_tqdm=True),
        one_pass.loglikelihood(requests, disable_tqdm=True),
        requests,
    )
    assert one_pass.counts.reads == 0 and one_pass.counts.packed_passes >= 1
    assert two_pass.counts.reads >= len({r.args[0] for r in requests})
