"""Gemma 3's architecture -- sliding-window layers around a global one -- with prompts far
longer than the window: medlc-hf scores and generates what stock `hf` does."""

from __future__ import annotations

import pytest
from lm_eval.models.huggingface import HFLM
from test_backend_agreement import assert_same_scores

from medlc.backend import MedlcLM

from backend_support import generation_requests, loglikelihood_requests
from tiny_models import GEMMA3_SLIDING_WINDOW, build_tiny_model


@pytest.fixture(scope="module")
def gemma3_dir(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny_gemma3"), arch="gemma3"))


@pytest.fixture(scope="module")
def stock(gemma3_dir) -> HFLM:
    return HFLM(pretrained=gemma3_dir, device="cpu", dtype="float32")


def test_the_model_is_gemma3_with_prompts_longer_than_its_window(stock):
    config = stock.model.config
    assert type(stock.model).__name__ == "Gemma3ForCausalLM"
    assert "sliding_attention" in config.layer_types and config.sliding_window == GEMMA3_SLIDING_WINDOW
    shortest = min(len(stock.tok_encode(r.args[0])) for r in loglikelihood_requests("cloze", with_book=False))
    assert shortest > 4 * GEMMA3_SLIDING_WINDOW


@pytest.mark.parametrize("variant", ["letter", "cloze"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_gemma3_scores_match_stock_hf(gemma3_dir, stock, variant, batch_size):
    requests = loglikelihood_requests(variant) + loglikelihood_requests(variant, with_book=False)
    ours = MedlcLM(pretrained=gemma3_dir, device="cpu", dtype="float32", batch_size=batch_size)
    expected = stock.loglikelihood(requests, disable_tqdm=True)
    assert_same_scores(expected, ours.loglikelihood(requests, disable_tqdm=True), requests)


def test_gemma3_greedy_generations_match_stock_hf(gemma3_dir, stock):
    requests = generation_requests({"until": ["\n\n"], "max_gen_toks": 8, "do_sample": False})
    ours = MedlcLM(pretrained=gemma3_dir, device="cpu", dtype="float32", batch_size=2)
    expected = stock.generate_until(requests, disable_tqdm=True)
    assert ours.generate_until(requests, disable_tqdm=True) == expected
