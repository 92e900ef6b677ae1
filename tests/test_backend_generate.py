"""Greedy generation gives stock `hf`'s answers, stops at stop sequences, and follows
lm-eval's --apply_chat_template."""

from __future__ import annotations

import pytest
from lm_eval.models.huggingface import HFLM

from medlc.backend import MedlcLM

from backend_support import generation_requests
from tasks_support import evaluate

GREEDY = {"do_sample": False, "temperature": 0.0}


@pytest.fixture(scope="module")
def stock(tiny_model_dir) -> HFLM:
    return HFLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def ours(tiny_model_dir) -> MedlcLM:
    return MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", batch_size=2)


def test_greedy_generations_match_stock_hf(stock, ours):
    requests = generation_requests(GREEDY | {"until": ["\n\n"], "max_gen_toks": 12})
    assert ours.generate_until(requests, disable_tqdm=True) == stock.generate_until(
        requests, disable_tqdm=True
    )


def test_generation_stops_at_a_stop_sequence(ours):
    free = ours.generate_until(
        generation_requests(GREEDY | {"until": [], "max_gen_toks": 24}), disable_tqdm=True
    )
    # A stop string taken from the middle of what the model writes unprompted.
    text = next(t for t in free if len(t) >= 6)
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    doc = free.index(text)
    stopped = ours.generate_until(
        generation_requests(GREEDY | {"until": [stop], "max_gen_toks": 24}), disable_tqdm=True
    )
    assert stopped[doc] == text[: text.index(stop)]
    assert stop not in stopped[doc]


def test_chat_template_is_applied_as_stock_hf_applies_it(tiny_model_dir, stock, ours):
    task = "medlc_closedbook_gen"
    args = {"pretrained": str(tiny_model_dir)}
    want = evaluate([task], model=stock, model_args=args, limit=3, log_samples=True, apply_chat_template=True)
    got = evaluate([task], model=ours, model_args=args, limit=3, log_samples=True, apply_chat_template=True)
    prompts = [s["arguments"][0][0] for s in got["samples"][task]]
    assert all(p.startswith("<|user|>") and p.endswith("<|assistant|>\n") for p in prompts)
    assert prompts == [s["arguments"][0][0] for s in want["samples"][task]]
    assert [s["resps"] for s in got["samples"][task]] == [s["resps"] for s in want["samples"][task]]
    assert ours.tokenizer_name == stock.tokenizer_name
