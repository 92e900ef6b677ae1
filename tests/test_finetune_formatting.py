"""Templates and labels: loss falls on reply tokens only, in chat and plain templates."""

from __future__ import annotations

import random

import datasets
import pytest
from transformers import AutoTokenizer

from finetune.formatting import (
    IGNORE_INDEX,
    OverlongError,
    TemplateError,
    encode,
    pack,
    prepare_tokenizer,
    tokenize_dataset,
)

QA = [
    {"role": "user", "content": "胃痛怎么办？"},
    {"role": "assistant", "content": "清淡饮食，持续不缓解请就医。"},
]


@pytest.fixture
def tokenizer(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert prepare_tokenizer(tok, "auto") == "chat"
    return tok


def _labelled_text(tok, encoded) -> str:
    return tok.decode([t for t in encoded.labels if t != IGNORE_INDEX])


def test_prompt_tokens_carry_no_loss(tokenizer):
    encoded = encode(tokenizer, QA, max_length=256)
    first = next(i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX)
    assert all(label == IGNORE_INDEX for label in encoded.labels[:first])
    assert tokenizer.decode(encoded.input_ids[:first]) == "<|user|>\n胃痛怎么办？<|end|>\n<|assistant|>\n"
    # The reply and the template's end-of-turn marker, which teaches the model to stop.
    assert _labelled_text(tokenizer, encoded) == "清淡饮食，持续不缓解请就医。<|end|>\n"


def test_every_assistant_turn_of_a_dialogue_is_labelled(tokenizer):
    dialogue = QA + [{"role": "user", "content": "要吃药吗？"}, {"role": "assistant", "content": "遵医嘱。"}]
    encoded = encode(tokenizer, dialogue, max_length=256)
    assert _labelled_text(tokenizer, encoded) == "清淡饮食，持续不缓解请就医。<|end|>\n遵医嘱。<|end|>\n"


def test_plain_template_is_used_when_the_model_has_none(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = None
    assert prepare_tokenizer(tok, "auto") == "plain"
    encoded = encode(tok, QA, max_length=256)
    assert tok.decode(encoded.input_ids).startswith("<s>### Instruction:\n胃痛怎么办？\n\n### Response:\n")
    assert _labelled_text(tok, encoded) == "清淡饮食，持续不缓解请就医。</s>\n\n"


def test_chat_template_requested_but_missing_is_refused(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = None
    with pytest.raises(TemplateError, match="data.template is 'chat' but the tokenizer has no chat template"):
        prepare_tokenizer(tok, "chat")


def test_template_that_rewrites_history_is_refused(tokenizer):
    # Renders only the last two messages, so a conversation is no prefix of its continuation.
    tokenizer.chat_template = "{% for m in messages[-2:] %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    dialogue = QA + [{"role": "user", "content": "要吃药吗？"}, {"role": "assistant", "content": "遵医嘱。"}]
    with pytest.raises(TemplateError, match="set data.template: plain"):
        encode(tokenizer, dialogue, max_length=256)


def _one_example_dataset():
    return datasets.Dataset.from_dict({"id": ["x:1"], "messages": [QA]})


def test_overlong_example_is_cut_and_counted(tokenizer):
    full = len(encode(tokenizer, QA, max_length=10_000).input_ids)
    encoded, stats = tokenize_dataset(_one_example_dataset(), tokenizer, full - 3, "truncate", "t1")
    assert len(encoded[0]["input_ids"]) == full - 3
    assert (stats.truncated_examples, stats.truncated_tokens) == (1, 3)


def test_overlong_example_in_error_mode_names_the_example(tokenizer):
    with pytest.raises(OverlongError, match=r"example x:1: \d+ tokens, more than data.max_length=8"):
        tokenize_dataset(_one_example_dataset(), tokenizer, 8, "error", "t2")


def test_packing_fits_every_example_exactly_once_within_capacity():
    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(300)]
    bins = pack(lengths, capacity=128)
    assert sorted(i for row in bins for i in row) == list(range(300))
    assert all(sum(lengths[i] for i in row) <= 128 for row in bins)
    # Best-fit decreasing leaves little room: within 5% of the ideal number of rows.
    assert len(bins) <= 1.05 * sum(lengths) / 128 + 1


def test_packing_refuses_an_example_longer_than_a_row():
    with pytest.raises(ValueError, match="example 1 has 200 tokens, more than the row capacity 128"):
        pack([10, 200], capacity=128)
