"""The prefix store keeps recent KV caches within its memory cap, hands out the longest
stored prefix, and counts hits, misses and evictions into the backend report."""

from __future__ import annotations

import pytest
import torch
from lm_eval.models.huggingface import HFLM
from test_backend_agreement import assert_same_scores
from transformers import DynamicCache

from medlc.backend import MedlcLM
from medlc.backend.generate import cache_from_store
from medlc.backend.kv import cache_bytes, cached_length
from medlc.backend.store import PrefixStore

from backend_support import generation_requests, loglikelihood_requests

GEN_KWARGS = {"until": ["\n\n"], "max_gen_toks": 6, "do_sample": False}


def kv_of(tokens: list[int]) -> DynamicCache:
    """A two-layer cache holding one key/value per token (token id as its value)."""
    cache = DynamicCache()
    kv = torch.tensor(tokens, dtype=torch.float32).reshape(1, 1, -1, 1).expand(1, 2, -1, 4).contiguous()
    for layer in range(2):
        cache.update(kv, kv, layer)
    return cache


def sequence(first: int, length: int) -> list[int]:
    return list(range(first, first + length))


BYTES_PER_TOKEN = cache_bytes(kv_of([0]))


def test_lookup_finds_the_longest_stored_prefix_and_counts_a_hit():
    store = PrefixStore(max_bytes=10**6, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    store.put(sequence(100, 10), kv_of(sequence(100, 10)))
    found, cache = store.lookup([*sequence(0, 6), 99, 98], limit=100)
    assert found == 6
    assert cache.layers[0].keys[0, 0, :found, 0].tolist() == sequence(0, 6)
    assert (store.hits, store.misses, store.tokens_reused) == (1, 0, 6)


def test_a_prefix_too_short_to_be_worth_reusing_is_a_miss():
    store = PrefixStore(max_bytes=10**6, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    assert store.lookup([0, 1, 2, 50, 51], limit=100) == (0, None)
    # Holding 3 tokens already, 6 more shared tokens save too few to count either.
    assert store.lookup(sequence(0, 6), limit=100, have=3) == (0, None)
    assert (store.hits, store.misses) == (0, 2)


def test_lookup_never_reaches_past_its_limit():
    store = PrefixStore(max_bytes=10**6, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    assert store.lookup(sequence(0, 10), limit=7)[0] == 7


def test_the_store_never_holds_more_than_its_memory_cap():
    store = PrefixStore(max_bytes=25 * BYTES_PER_TOKEN, min_tokens=4)
    for first in (0, 100, 200):
        store.put(sequence(first, 10), kv_of(sequence(first, 10)))
        assert store.bytes <= store.max_bytes
    assert len(store) == 2 and store.evictions == 1
    # The least recently used went first.
    assert store.covered(sequence(0, 10)) == 0 and store.covered(sequence(200, 10)) == 10


def test_a_recent_lookup_keeps_an_entry_from_eviction():
    store = PrefixStore(max_bytes=25 * BYTES_PER_TOKEN, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    store.put(sequence(100, 10), kv_of(sequence(100, 10)))
    store.lookup(sequence(0, 10), limit=100)
    store.put(sequence(200, 10), kv_of(sequence(200, 10)))
    assert store.covered(sequence(0, 10)) == 10 and store.covered(sequence(100, 10)) == 0


def test_a_cache_larger_than_the_cap_is_not_kept():
    store = PrefixStore(max_bytes=5 * BYTES_PER_TOKEN, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    assert len(store) == 0 and store.bytes == 0 and store.evictions == 0


def test_an_entry_extended_by_a_newer_one_is_replaced_not_evicted():
    store = PrefixStore(max_bytes=10**6, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    store.put(sequence(0, 20), kv_of(sequence(0, 20)))
    store.put(sequence(0, 15), kv_of(sequence(0, 15)))  # already covered
    assert len(store) == 1 and store.bytes == 20 * BYTES_PER_TOKEN and store.evictions == 0


def test_a_batch_starts_from_each_rows_stored_prefix_after_its_padding():
    store = PrefixStore(max_bytes=10**6, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    store.put(sequence(100, 12), kv_of(sequence(100, 12)))
    # Left-padded prompts (pad id -1): row 0 is 13 tokens after 2 pads, row 1 is 15.
    prompts = torch.tensor([[-1, -1, *sequence(0, 10), 7, 8, 9], [*sequence(100, 12), 5, 6, 7]])
    mask = (prompts >= 0).long()
    cache = cache_from_store(store, prompts, mask)
    # Every row has its first 12 padded positions: row 0 its pads and 10 stored tokens, row
    # 1 its 12 stored tokens; each layer holds exactly those values, padding zeroed.
    want = torch.tensor([[0.0, 0.0, *sequence(0, 10)], [*sequence(100, 12)]])
    for layer in cache.layers:
        assert torch.equal(layer.keys[:, 0, :, 0], want) and torch.equal(layer.values[:, 1, :, 3], want)
    assert (store.hits, store.misses, store.tokens_reused) == (2, 0, 10 + 12)


def test_a_batch_with_a_row_the_store_cannot_start_starts_empty_and_counts_misses():
    store = PrefixStore(max_bytes=10**6, min_tokens=4)
    store.put(sequence(0, 10), kv_of(sequence(0, 10)))
    prompts = torch.tensor([[*sequence(0, 10), 7], [*sequence(200, 11)]])
    cache = cache_from_store(store, prompts, torch.ones_like(prompts))
    assert cached_length(cache) == 0
    assert (store.hits, store.misses, store.tokens_reused) == (0, 2, 0)


def scoring_requests():
    return loglikelihood_requests("letter") + loglikelihood_requests("cloze")


@pytest.fixture(scope="module")
def stock_answers(tiny_model_dir) -> tuple[list, list[str]]:
    lm = HFLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")
    return lm.loglikelihood(scoring_requests(), disable_tqdm=True), lm.generate_until(
        generation_requests(GEN_KWARGS), disable_tqdm=True
    )


def run_evaluation(model_dir, prefix_cache_gib: float) -> tuple[MedlcLM, list, list[str]]:
    """Letter and cloze requests in one call, then the generative ones, as lm-eval runs them."""
    lm = MedlcLM(
        pretrained=str(model_dir), device="cpu", dtype="float32", one_pass_tokens=8,
        prefix_cache_gib=prefix_cache_gib,
    )  # fmt: skip
    scores = lm.loglikelihood(scoring_requests(), disable_tqdm=True)
    return lm, scores, lm.generate_until(generation_requests(GEN_KWARGS), disable_tqdm=True)


def test_prefix_cache_gib_caps_the_store_and_the_report_counts_evictions(tiny_model_dir, stock_answers):
    config = MedlcLM(pretrained=str(tiny_model_dir), device="cpu").model.config
    per_token = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * 4
    room = 400 * per_token  # about one item's book and prompts
    lm, scores, answers = run_evaluation(tiny_model_dir, prefix_cache_gib=room / 2**30)
    report = lm.medlc_report()["prefix_cache"]
    assert lm.store.bytes <= lm.store.max_bytes == room
    assert report["evictions"] >= 2
    assert report["gib_now"] <= report["max_gib"]
    assert report["hits"] == lm.store.hits and report["misses"] == lm.store.misses
    # A smaller store costs reuse, never correctness.
    assert_same_scores(stock_answers[0], scores, scoring_requests())
    assert answers == stock_answers[1]


def test_a_store_of_zero_gib_keeps_nothing_and_generations_still_match(tiny_model_dir, stock_answers):
    lm, scores, answers = run_evaluation(tiny_model_dir, prefix_cache_gib=0)
    report = lm.medlc_report()["prefix_cache"]
    assert report["entries"] == 0 and report["hits"] == 0 and report["misses"] > 0
    assert answers == stock_answers[1]


def test_the_report_is_reset_and_the_store_emptied_after_each_evaluation(tiny_model_dir):
    lm, _, _ = run_evaluation(tiny_model_dir, prefix_cache_gib=1.0)
    assert lm.pop_medlc_report()["prefix_cache"]["hits"] > 0
    after = lm.medlc_report()["prefix_cache"]
    assert (after["entries"], after["hits"], after["misses"], after["evictions"]) == (0, 0, 0, 0)
