"""medlc-hf scores exactly what lm-eval's stock `hf` backend scores, only faster."""

from __future__ import annotations

import pytest
from lm_eval.models.huggingface import HFLM

from medlc.backend import MedlcLM

from backend_support import loglikelihood_requests
from tasks_support import evaluate

TOLERANCE = 1e-3  # fp32; observed differences are ~1e-5


@pytest.fixture(scope="module")
def stock(tiny_model_dir) -> HFLM:
    return HFLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def ours(tiny_model_dir) -> MedlcLM:
    return MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")


def assert_same_scores(expected, got, requests):
    assert len(got) == len(expected)
    for request, (want_ll, want_greedy), (got_ll, got_greedy) in zip(requests, expected, got, strict=True):
        assert abs(want_ll - got_ll) <= TOLERANCE, request.args
        assert want_greedy == got_greedy, request.args


def predictions(scores, requests) -> dict[int, int]:
    """The option each document's highest log-likelihood picks."""
    best: dict[int, tuple[float, int]] = {}
    for request, (ll, _) in zip(requests, scores, strict=True):
        if request.doc_id not in best or ll > best[request.doc_id][0]:
            best[request.doc_id] = (ll, request.idx)
    return {doc: option for doc, (_, option) in best.items()}


@pytest.mark.parametrize(
    "variant, with_book",
    [("letter", True), ("cloze", True), ("letter", False), ("cloze", False)],
    ids=["letter", "cloze", "closedbook_letter", "closedbook_cloze"],
)
def test_loglikelihoods_and_predictions_match_stock_hf(stock, ours, variant, with_book):
    requests = loglikelihood_requests(variant, with_book)
    expected = stock.loglikelihood(requests, disable_tqdm=True)
    got = ours.loglikelihood(requests, disable_tqdm=True)
    assert_same_scores(expected, got, requests)
    assert predictions(got, requests) == predictions(expected, requests)


@pytest.mark.parametrize("arch_fixture", ["tiny_model_dir", "tiny_qwen2_dir"])
def test_batched_left_padded_contexts_match_stock_hf(request, arch_fixture):
    model_dir = str(request.getfixturevalue(arch_fixture))
    requests = loglikelihood_requests("cloze") + loglikelihood_requests("cloze", with_book=False)
    expected = HFLM(pretrained=model_dir, device="cpu", dtype="float32").loglikelihood(
        requests, disable_tqdm=True
    )
    batched = MedlcLM(pretrained=model_dir, device="cpu", dtype="float32", batch_size=6)
    got = batched.loglikelihood(requests, disable_tqdm=True)
    assert_same_scores(expected, got, requests)
    # All six contexts (three lengths with a book, three without) and their options went
    # through the model as one packed pass.
    assert (batched.counts.reads, batched.counts.packed_passes) == (0, 1)


def test_eager_attention_matches_sdpa(tiny_model_dir, ours):
    requests = loglikelihood_requests("cloze")
    eager = MedlcLM(
        pretrained=str(tiny_model_dir), device="cpu", dtype="float32", attn_implementation="eager"
    )
    assert eager.model.config._attn_implementation == "eager"
    assert_same_scores(
        ours.loglikelihood(requests, disable_tqdm=True),
        eager.loglikelihood(requests, disable_tqdm=True),
        requests,
    )


def _sample_scores(results, task):
    return {
        (s["doc_id"], i): tuple(resp[0])
        for s in results["samples"][task]
        for i, resp in enumerate(s["resps"])
    }


def test_medlc_tasks_score_the_same_through_simple_evaluate(tiny_model_dir, stock, ours):
    tasks = ["medlc_openbook_1k", "medlc_openbook_cloze_1k", "medlc_closedbook"]
    model_args = {"pretrained": str(tiny_model_dir)}
    want = evaluate(tasks, model=stock, model_args=model_args, log_samples=True, limit=4)
    got = evaluate(tasks, model=ours, model_args=model_args, log_samples=True, limit=4)
    for task in tasks:
        expected, observed = _sample_scores(want, task), _sample_scores(got, task)
        assert expected.keys() == observed.keys() and expected
        for key, (want_ll, want_greedy) in expected.items():
            got_ll, got_greedy = observed[key]
            assert abs(float(want_ll) - float(got_ll)) <= TOLERANCE, (task, key)
            assert want_greedy == got_greedy
        assert got["results"][task]["acc,none"] == want["results"][task]["acc,none"]


def test_rolling_loglikelihood_matches_stock_hf(stock, ours):
    from lm_eval.api.instance import Instance

    texts = [r.args[0] for r in loglikelihood_requests("letter") if r.idx == 0]
    requests = [
        Instance("loglikelihood_rolling", {}, (text,), 0, ("rolling", i, 1)) for i, text in enumerate(texts)
    ]
    expected = stock.loglikelihood_rolling(requests, disable_tqdm=True)
    got = ours.loglikelihood_rolling(requests, disable_tqdm=True)
    assert all(abs(a - b) <= TOLERANCE for a, b in zip(expected, got, strict=True))
