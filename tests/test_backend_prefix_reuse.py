"""Each distinct context is read once; options are scored against its cached prefix."""

from __future__ import annotations

import pytest
from lm_eval.api.instance import Instance

from medlc.backend import MedlcLM

from backend_support import loglikelihood_requests


@pytest.fixture
def ours(tiny_model_dir) -> MedlcLM:
    return MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")


class ForwardLog:
    """Records (rows, tokens) of every forward pass the model runs."""

    def __init__(self, model):
        self.calls: list[tuple[int, int]] = []
        self._handle = model.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls.append(tuple(ids.shape))

    def reads_longer_than(self, tokens: int) -> list[tuple[int, int]]:
        return [call for call in self.calls if call[1] > tokens]

    def close(self):
        self._handle.remove()


def continuation_tokens(lm: MedlcLM, requests) -> int:
    return max(len(lm._encode_pair(*r.args)[1]) for r in requests)


def test_each_distinct_context_is_read_once_for_multi_token_options(ours):
    requests = loglikelihood_requests("cloze")
    contexts = {r.args[0] for r in requests}
    log = ForwardLog(ours.model)
    ours.loglikelihood(requests, disable_tqdm=True)
    log.close()
    context_reads = log.reads_longer_than(continuation_tokens(ours, requests))
    assert len(context_reads) == len(contexts) == 3
    assert all(rows == 1 for rows, _ in context_reads)
    assert ours.counts.contexts_read == len(contexts)


def test_all_options_of_a_context_are_scored_in_one_batched_pass(ours):
    requests = loglikelihood_requests("cloze")
    log = ForwardLog(ours.model)
    ours.loglikelihood(requests, disable_tqdm=True)
    log.close()
    continuation_passes = [call for call in log.calls if call[1] <= continuation_tokens(ours, requests)]
    options_per_doc = [sum(1 for r in requests if r.doc_id == d) for d in range(3)]
    # One pass per context, every option a row of it (each option here is several tokens).
    assert sorted(rows for rows, _ in continuation_passes) == sorted(options_per_doc)


def test_single_token_options_need_only_the_context_pass(ours):
    # A bare letter after "答案：" is one token for any byte-level BPE (punctuation and
    # letters are split before merging), whatever the tiny tokenizer learned.
    requests = [
        Instance(r.request_type, r.doc, (r.args[0], r.args[1].strip()), r.idx, r.metadata)
        for r in loglikelihood_requests("letter")
    ]
    assert continuation_tokens(ours, requests) == 1
    log = ForwardLog(ours.model)
    ours.loglikelihood(requests, disable_tqdm=True)
    log.close()
    assert len(log.calls) == len({r.args[0] for r in requests})
    assert ours.counts.continuation_forwards == 0


def test_a_context_shared_by_two_tasks_is_still_read_once(ours):
    requests = loglikelihood_requests("cloze", task="a") + loglikelihood_requests("cloze", task="b")
    ours.loglikelihood(requests, disable_tqdm=True)
    assert ours.counts.contexts_read == 3
    assert ours.counts.requests == len(requests)
