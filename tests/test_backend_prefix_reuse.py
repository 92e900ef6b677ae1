"""Every token shared by several requests -- a book, a context shared by its options, a
context sent by two tasks -- runs through the model once."""

from __future__ import annotations

import pytest
from lm_eval.api.instance import Instance

from medlc.backend import MedlcLM

from backend_support import distinct_prefix_tokens, loglikelihood_requests


@pytest.fixture
def ours(tiny_model_dir) -> MedlcLM:
    return MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")


def tokens_run(lm: MedlcLM) -> int:
    return lm.counts.read_tokens + lm.counts.packed_tokens


def test_each_distinct_token_prefix_runs_once_for_multi_token_options(ours):
    requests = loglikelihood_requests("cloze")
    ours.loglikelihood(requests, disable_tqdm=True)
    assert tokens_run(ours) == distinct_prefix_tokens(ours, requests)
    assert tokens_run(ours) < ours.counts.request_tokens / 3


def test_a_short_context_and_its_options_are_one_pass(ours):
    requests = loglikelihood_requests("cloze")
    ours.loglikelihood(requests, disable_tqdm=True)
    # The instruction the three items share is read once; then each item's book, question
    # and options (shorter than one_pass_tokens) go through the model as one packed pass.
    assert ours.counts.reads == 1
    assert ours.counts.packed_passes == len({r.args[0] for r in requests})


def test_single_token_options_run_no_token_beyond_their_contexts(ours):
    # A bare letter after "答案：" is one token for any byte-level BPE (punctuation and
    # letters are split before merging), whatever the tiny tokenizer learned.
    requests = [
        Instance(r.request_type, r.doc, (r.args[0], r.args[1].strip()), r.idx, r.metadata)
        for r in loglikelihood_requests("letter")
    ]
    assert {len(ours._encode_pair(*r.args)[1]) for r in requests} == {1}
    ours.loglikelihood(requests, disable_tqdm=True)
    contexts_only = [Instance(r.request_type, r.doc, (r.args[0], "A"), 0, r.metadata) for r in requests]
    assert tokens_run(ours) == distinct_prefix_tokens(ours, contexts_only)


def test_a_context_shared_by_two_tasks_is_still_run_once(ours):
    requests = loglikelihood_requests("cloze", task="a") + loglikelihood_requests("cloze", task="b")
    ours.loglikelihood(requests, disable_tqdm=True)
    assert tokens_run(ours) == distinct_prefix_tokens(ours, loglikelihood_requests("cloze"))
    assert ours.counts.requests == len(requests)
