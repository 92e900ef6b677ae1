"""Packing keeps examples apart: attention and loss never cross an example boundary."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from finetune.formatting import IGNORE_INDEX, collate, encode, prepare_tokenizer
from finetune.recipe import batch_loss

CONVERSATIONS = [
    [{"role": "user", "content": "一年有几个季节？"}, {"role": "assistant", "content": "四个季节。"}],
    [
        {"role": "user", "content": "胃痛怎么办"},
        {"role": "assistant", "content": "清淡饮食，持续不缓解请就医检查。"},
    ],
    [
        {"role": "system", "content": "你是医生。"},
        {"role": "user", "content": "发烧了"},
        {"role": "assistant", "content": "多喝水，观察体温。"},
    ],
]


@pytest.fixture(scope="module")
def examples(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prepare_tokenizer(tok, "auto")
    return tok.pad_token_id, [vars(encode(tok, c, 256)) for c in CONVERSATIONS]


def _model(path, impl):
    return AutoModelForCausalLM.from_pretrained(path, attn_implementation=impl).eval()


def _mean_loss(model, batch) -> float:
    with torch.no_grad():
        return batch_loss(model, batch, torch.tensor(float(batch.label_tokens))).item()


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("layout", ["one_row", "two_rows", "flattened"])
def test_packed_loss_equals_unpacked_loss(tiny_model_dir, examples, impl, layout):
    pad_id, ex = examples
    model = _model(tiny_model_dir, impl)
    unpacked = collate([[e] for e in ex], pad_id, packed=False)
    rows = {"one_row": [ex], "two_rows": [ex[:2], ex[2:]], "flattened": [ex[:2], ex[2:]]}[layout]
    packed = collate(rows, pad_id, packed=True, flatten=layout == "flattened")
    assert packed.label_tokens == unpacked.label_tokens
    assert _mean_loss(model, packed) == pytest.approx(_mean_loss(model, unpacked), abs=1e-5)


def _logits(model, batch):
    with torch.no_grad():
        return model(**{k: v for k, v in batch.tensors.items() if k != "labels"}, use_cache=False).logits


def test_a_packed_example_sees_only_itself(tiny_model_dir, examples):
    pad_id, ex = examples
    model = _model(tiny_model_dir, "sdpa")
    packed = _logits(model, collate([ex], pad_id, packed=True))
    start = len(ex[0]["input_ids"])
    alone = _logits(model, collate([[ex[1]]], pad_id, packed=True))
    assert torch.allclose(packed[0, start : start + alone.shape[1]], alone[0], atol=1e-5)


def test_without_position_reset_the_check_above_would_fail(tiny_model_dir, examples):
    # The control: run the same packed row as one long sequence and example 2 now attends
    # to example 1, so its logits change. This is what packing must prevent.
    pad_id, ex = examples
    model = _model(tiny_model_dir, "sdpa")
    batch = collate([ex], pad_id, packed=True)
    batch.tensors["position_ids"] = torch.arange(batch.tensors["input_ids"].shape[1])[None]
    leaky = _logits(model, batch)
    start = len(ex[0]["input_ids"])
    alone = _logits(model, collate([[ex[1]]], pad_id, packed=True))
    assert not torch.allclose(leaky[0, start : start + alone.shape[1]], alone[0], atol=1e-3)


def test_first_token_of_every_packed_example_carries_no_label(examples):
    pad_id, ex = examples
    labels = collate([ex], pad_id, packed=True).tensors["labels"][0].tolist()
    starts = [0, len(ex[0]["input_ids"]), len(ex[0]["input_ids"]) + len(ex[1]["input_ids"])]
    assert [labels[s] for s in starts] == [IGNORE_INDEX] * 3


def test_pad_tail_of_a_packed_row_is_its_own_segment(examples):
    pad_id, ex = examples
    batch = collate([ex[:1], ex[1:]], pad_id, packed=True)
    first = batch.tensors["position_ids"][0].tolist()
    real = len(ex[0]["input_ids"])
    assert first[:real] == list(range(real))
    assert first[real:] == list(range(len(first) - real))
    assert batch.tokens == sum(len(e["input_ids"]) for e in ex)
