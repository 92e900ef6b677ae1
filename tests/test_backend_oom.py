"""Out-of-memory halves the batch and retries: results stay complete and unchanged."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from medlc.backend import MedlcLM
from medlc.backend.batching import SingleItemOutOfMemory

from backend_support import generation_requests, loglikelihood_requests


class MemoryCappedLlama(LlamaForCausalLM):
    """The tiny Llama on a pretend device that holds at most `max_rows` sequences per pass,
    and at most `max_packed_tokens` tokens in a packed pass (one with a tree mask)."""

    max_rows = 2
    max_packed_tokens = 10**9

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        if input_ids is not None and input_ids.shape[0] > self.max_rows:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to fit {input_ids.shape[0]} rows")
        tree_mask = isinstance(attention_mask, dict) or getattr(attention_mask, "ndim", 2) == 4
        if tree_mask and input_ids.shape[1] > self.max_packed_tokens:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to pack {input_ids.shape[1]} tokens")
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


def capped_lm(model_dir, max_rows: int, batch_size, max_packed_tokens: int = 10**9) -> MedlcLM:
    model = MemoryCappedLlama.from_pretrained(model_dir, dtype=torch.float32)
    model.max_rows, model.max_packed_tokens = max_rows, max_packed_tokens
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return MedlcLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)


@pytest.fixture(scope="module")
def reference(tiny_model_dir) -> MedlcLM:
    return MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")


def scoring_requests():
    return loglikelihood_requests("cloze") + loglikelihood_requests("cloze", with_book=False)


def assert_same(got, want):
    assert len(got) == len(want)
    assert all(abs(a[0] - b[0]) < 1e-4 and a[1] == b[1] for a, b in zip(got, want, strict=True))


def test_loglikelihood_backs_off_and_returns_every_score_unchanged(tiny_model_dir, reference):
    requests = scoring_requests()
    lm = capped_lm(tiny_model_dir, max_rows=2, batch_size=8, max_packed_tokens=300)
    got = lm.loglikelihood(requests, disable_tqdm=True)
    assert_same(got, reference.loglikelihood(requests, disable_tqdm=True))
    batching = lm.medlc_report()["batching"]
    assert batching["out_of_memory_backoffs"] >= 1
    assert batching["rows_now"]["contexts"] < 8


def test_a_packed_pass_too_large_alone_is_read_instead_with_the_same_scores(tiny_model_dir, reference):
    # Closed-book contexts (70-140 tokens) with their options are one packed pass each,
    # unless a pass may hold only 40 tokens: then each context is read and its options
    # packed below it.
    requests = loglikelihood_requests("letter", with_book=False) + loglikelihood_requests(
        "cloze", with_book=False
    )
    lm = capped_lm(tiny_model_dir, max_rows=8, batch_size=1, max_packed_tokens=40)
    got = lm.loglikelihood(requests, disable_tqdm=True)
    assert_same(got, reference.loglikelihood(requests, disable_tqdm=True))
    assert lm.counts.reads >= len({r.args[0] for r in requests})


def test_auto_batch_size_starts_large_and_settles_where_memory_allows(tiny_model_dir, reference):
    requests = scoring_requests()
    lm = capped_lm(tiny_model_dir, max_rows=3, batch_size="auto", max_packed_tokens=300)
    assert lm.medlc_report()["batching"]["rows_now"]["contexts"] == 64
    got = lm.loglikelihood(requests, disable_tqdm=True)
    assert [round(x, 4) for x, _ in got] == [
        round(x, 4) for x, _ in reference.loglikelihood(requests, disable_tqdm=True)
    ]
    assert lm.medlc_report()["batching"]["rows_now"]["contexts"] <= 3


def test_generation_backs_off_and_answers_every_request(tiny_model_dir, reference):
    requests = generation_requests({"until": ["\n\n"], "max_gen_toks": 6, "do_sample": False})
    lm = capped_lm(tiny_model_dir, max_rows=1, batch_size=3)
    got = lm.generate_until(requests, disable_tqdm=True)
    assert got == reference.generate_until(requests, disable_tqdm=True)
    assert lm.medlc_report()["batching"]["rows_now"]["generation"] == 1


def test_a_single_request_that_cannot_fit_fails_with_a_clear_error(tiny_model_dir):
    lm = capped_lm(tiny_model_dir, max_rows=0, batch_size=4)
    with pytest.raises(SingleItemOutOfMemory, match="out of memory on a single item"):
        lm.loglikelihood(scoring_requests(), disable_tqdm=True)


def test_errors_other_than_out_of_memory_are_not_retried(tiny_model_dir):
    lm = capped_lm(tiny_model_dir, max_rows=8, batch_size=4)
    context = lm.tok_encode("问题：某药物的成人剂量为答案：")
    # An id outside the vocabulary fails the embedding lookup of the pass holding both.
    requests = [(None, context, [5]), (None, [*context, 10**9], [5])]
    with pytest.raises(IndexError):
        lm._loglikelihood_tokens(requests, disable_tqdm=True)
    assert lm.medlc_report()["batching"]["out_of_memory_backoffs"] == 0


def test_token_cap_puts_long_items_in_smaller_batches():
    from medlc.backend.batching import BatchLimit, run_in_batches

    lengths = [900, 800, 300, 300, 300, 300, 10]
    batches: list[list[int]] = []
    run_in_batches(
        list(range(7)), lengths, BatchLimit(rows=4, max_tokens=1000), lambda b: batches.append(b) or b
    )
    # Padded size is rows x longest: 900 alone, 800 alone, then 300s three at a time.
    assert batches == [[0], [1], [2, 3, 4], [5, 6]]
