"""The single-token letter path -- the one the default model takes, since Gemma tokenises
" A" as one token -- scores exactly what stock `hf` scores, one at a time and batched."""

from __future__ import annotations

import pytest
from lm_eval.models.huggingface import HFLM
from test_backend_agreement import assert_same_scores, predictions

from medlc.backend import MedlcLM

from backend_support import distinct_prefix_tokens, loglikelihood_requests
from tiny_models import build_tiny_model


@pytest.fixture(scope="module")
def letter_model_dir(tmp_path_factory):
    """The tiny Llama with a tokenizer in which " A" .. " E" are single tokens."""
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny_letters"), single_token_letters=True))


def letter_requests():
    # Books of three lengths and the same items without them: contexts of six lengths.
    return loglikelihood_requests("letter") + loglikelihood_requests("letter", with_book=False)


def test_every_option_letter_is_one_continuation_token(letter_model_dir):
    lm = MedlcLM(pretrained=letter_model_dir, device="cpu", dtype="float32")
    assert {len(lm._encode_pair(*r.args)[1]) for r in letter_requests()} == {1}


@pytest.mark.parametrize("batch_size", [1, 4])
def test_single_token_letters_score_as_stock_hf(letter_model_dir, batch_size):
    requests = letter_requests()
    stock = HFLM(pretrained=letter_model_dir, device="cpu", dtype="float32", batch_size=batch_size)
    ours = MedlcLM(pretrained=letter_model_dir, device="cpu", dtype="float32", batch_size=batch_size)
    expected = stock.loglikelihood(requests, disable_tqdm=True)
    got = ours.loglikelihood(requests, disable_tqdm=True)
    assert_same_scores(expected, got, requests)
    assert predictions(got, requests) == predictions(expected, requests)
    # Every score came from a context's last position: no token beyond the contexts ran.
    assert ours.counts.read_tokens + ours.counts.packed_tokens == distinct_prefix_tokens(ours, requests)
