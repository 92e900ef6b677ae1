"""A short book and the options below it run as one forward: causal over the book, a tree
mask below it. Scores and generations stay stock `hf`'s, the cache kept for later calls is
the book's alone, and a fused forward that runs out of memory is done as two instead."""

from __future__ import annotations

import logging

import pytest
import torch
from lm_eval.models.huggingface import HFLM
from test_backend_agreement import assert_same_scores
from test_backend_oom import MemoryCappedLlama
from transformers import AutoTokenizer

from medlc.backend import MedlcLM
from medlc.backend.kv import cached_length
from medlc.backend.packing import SLIDING, AttentionLayout, behind_read, pack
from medlc.backend.plan import build_tree, packed_subtrees

from backend_support import generation_requests, loglikelihood_requests
from tiny_models import build_tiny_model

# Below the tiny items' book + question (200-340 tokens), above their answer blocks: each
# item's book is a read and both variants' endings and options hang below it, packed.
ONE_PASS = 64
GEN_KWARGS = {"until": ["\n\n"], "max_gen_toks": 8, "do_sample": False, "temperature": 0.0}
MODELS = {
    "llama_sdpa": ({}, "sdpa"),
    "llama_eager": ({}, "eager"),
    "single_token_letters": ({"single_token_letters": True}, "sdpa"),
    "gemma3_sliding_window": ({"arch": "gemma3"}, "sdpa"),
}


def scoring_requests():
    return loglikelihood_requests("letter", task="letter") + loglikelihood_requests("cloze", task="cloze")


@pytest.fixture(scope="module", params=list(MODELS))
def model(request, tmp_path_factory) -> tuple[str, str]:
    arch, kernel = MODELS[request.param]
    return str(build_tiny_model(tmp_path_factory.mktemp(request.param), **arch)), kernel


@pytest.fixture(scope="module")
def stock(model) -> tuple[list, list[str]]:
    path, kernel = model
    lm = HFLM(pretrained=path, device="cpu", dtype="float32", attn_implementation=kernel)
    return lm.loglikelihood(scoring_requests(), disable_tqdm=True), lm.generate_until(
        generation_requests(GEN_KWARGS), disable_tqdm=True
    )


def medlc(model, **kwargs) -> MedlcLM:
    path, kernel = model
    return MedlcLM(
        pretrained=path,
        device="cpu",
        dtype="float32",
        attn_implementation=kernel,
        one_pass_tokens=ONE_PASS,
        **kwargs,
    )


def counting_forwards(lm: MedlcLM) -> list[int]:
    """Appends each model forward's input length to the returned list."""
    lengths: list[int] = []
    lm.model.register_forward_pre_hook(
        lambda _, args, kwargs: lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    return lengths


def test_fused_reads_score_as_stock_and_save_one_forward_each(model, stock):
    fused, apart = medlc(model), medlc(model, fuse_read_tokens=0)
    fused_forwards, apart_forwards = counting_forwards(fused), counting_forwards(apart)
    requests = scoring_requests()
    got = fused.loglikelihood(requests, disable_tqdm=True)
    assert_same_scores(stock[0], got, requests)
    assert_same_scores(apart.loglikelihood(requests, disable_tqdm=True), got, requests)
    books = len({r.doc_id for r in requests})
    assert fused.counts.fused_reads == books and apart.counts.fused_reads == 0
    assert len(fused_forwards) == len(apart_forwards) - books
    # The same tokens run through the model, in fewer forwards.
    assert sum(fused_forwards) == sum(apart_forwards)
    assert fused.counts.read_tokens == apart.counts.read_tokens


def test_the_cache_kept_after_a_fused_read_is_the_books_alone(model, stock):
    lm = medlc(model)
    lm.loglikelihood(scoring_requests(), disable_tqdm=True)
    assert lm.counts.fused_reads > 0
    for key, (cache, _) in lm.store._entries.items():
        assert cached_length(cache) == len(key)
    assert lm.generate_until(generation_requests(GEN_KWARGS), disable_tqdm=True) == stock[1]
    assert lm.medlc_report()["prefix_cache"]["hits"] == len(stock[1])


def test_reads_longer_than_the_fuse_limit_run_apart(model, stock):
    lm = medlc(model, fuse_read_tokens=ONE_PASS)
    requests = scoring_requests()
    assert_same_scores(stock[0], lm.loglikelihood(requests, disable_tqdm=True), requests)
    assert lm.counts.fused_reads == 0 and lm.counts.reads > 0


def test_a_fused_forward_out_of_memory_is_read_and_packed_apart(tiny_model_dir, caplog):
    requests = scoring_requests()
    plain = MedlcLM(
        pretrained=str(tiny_model_dir),
        device="cpu",
        dtype="float32",
        one_pass_tokens=ONE_PASS,
        fuse_read_tokens=0,
    )
    masked = []
    plain.model.register_forward_pre_hook(
        lambda _, args, kwargs: (
            masked.append(kwargs["input_ids"].shape[1])
            if getattr(kwargs.get("attention_mask"), "ndim", 2) == 4
            else None
        ),
        with_kwargs=True,
    )
    expected = plain.loglikelihood(requests, disable_tqdm=True)
    # A device that holds every packed pass but no read fused in front of one.
    capped = MemoryCappedLlama.from_pretrained(tiny_model_dir, dtype=torch.float32)
    capped.max_packed_tokens = max(masked)
    lm = MedlcLM(
        pretrained=capped,
        tokenizer=AutoTokenizer.from_pretrained(tiny_model_dir),
        one_pass_tokens=ONE_PASS,
    )
    with caplog.at_level(logging.WARNING, logger="medlc.backend.prefix"):
        got = lm.loglikelihood(requests, disable_tqdm=True)
    assert_same_scores(expected, got, requests)
    assert lm.counts.fused_reads == 0
    failed = [record.args[0] for record in caplog.records if "reading apart" in record.getMessage()]
    assert failed, "no fused forward was tried"
    # A length that failed is not tried again, nor any longer one.
    assert failed == sorted(set(failed), reverse=True)
    assert lm.scorer.fuse_read_tokens == failed[-1] - 1


def test_behind_read_is_causal_over_the_read_and_a_tree_below_it():
    # Prefix [1, 2] cached; the read [3, 4, 5]; below it two options [6, 7] and [8].
    root = build_tree([([1, 2, 3, 4, 5], [6, 7, 9]), ([1, 2, 3, 4, 5], [8, 9])])
    (head,) = root.children.values()
    head._split(2)
    read = head.children[3]
    below = packed_subtrees(read)
    fused = behind_read(read.tokens, read.start, read.wants, pack(below, read.end))
    assert fused.input_ids[0].tolist() == [3, 4, 5, 6, 7, 8]
    assert fused.position_ids[0].tolist() == [2, 3, 4, 5, 6, 5]
    allowed = fused.ancestors.int().tolist()
    assert allowed == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 0, 0, 1],  # option 2 sees the read, not option 1
    ]
    # Each target's logit row sits at the position before the token it scores.
    positions = fused.position_ids[0][fused.keep].tolist()
    want = {(0, 6): 4, (0, 7): 5, (0, 9): 6, (1, 8): 4, (1, 9): 5}
    assert {target: positions[row] for row, target in fused.targets} == want
    # A sliding window of 3 hides keys 3 or more positions back, the cached prefix included.
    window = fused._mask(AttentionLayout("sdpa", frozenset({SLIDING}), 3, False), SLIDING, torch.float32)[
        0, 0
    ]
    assert window.shape == (6, 8)
    assert window[2].tolist() == [False, False, True, True, True, False, False, False]
    assert window[5].tolist() == [False, False, False, True, True, False, False, True]
