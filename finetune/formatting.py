"""From conversations to training tokens: template, response-only labels, packing.

Template. The base model's chat template when it has one. Otherwise PLAIN_TEMPLATE, which
is installed on the tokenizer as its chat template and saved with the checkpoint, so
`lm_eval --apply_chat_template` and `medlc-hf` format prompts exactly as training did:

    <bos>{system}\\n\\n### Instruction:\\n{user}\\n\\n### Response:\\n{assistant}<eos>\\n\\n...

Labels. Only assistant text carries loss; every other token is -100. The assistant spans
are found by rendering the conversation up to each assistant turn with and without it, so
the span covers the reply and whatever the template closes it with (`<end_of_turn>`,
`<|im_end|>`, eos), which is what teaches the model to stop. A token counts as response if
it starts inside a span. The first token of every example is -100 too, which is what keeps
the loss from crossing example boundaries when examples are packed.

Packing. Examples are packed into rows of at most `max_length` tokens by best-fit
decreasing. `position_ids` restart at 0 for every example and the 2D attention mask is left
out: transformers then builds a block-diagonal causal mask for sdpa/eager, and flash
attention takes the same position_ids as variable-length boundaries (for flash attention
a micro-batch is flattened into one row, the layout its varlen path expects). The forward
must run with use_cache=False (recipe.batch_loss does): with a KV cache present transformers
skips that mask. Attention and loss therefore never cross examples;
tests/test_finetune_packing.py checks that packed and unpacked losses agree.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import torch

from medlc_core.errors import UserError

IGNORE_INDEX = -100

PLAIN_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}### Instruction:\n{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'assistant' %}### Response:\n{{ message['content'] }}{{ eos_token }}\n\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### Response:\n{% endif %}"
)


class TemplateError(UserError, ValueError):
    """A chat template that cannot mark response tokens (rendering is not prefix-stable)."""


def prepare_tokenizer(tokenizer: Any, template: str) -> str:
    """Settle the template and padding; returns "chat" or "plain" (what was used)."""
    if not getattr(tokenizer, "is_fast", False):
        raise TemplateError(f"{tokenizer.name_or_path}: a fast tokenizer is needed (for offsets)")
    has_chat = bool(getattr(tokenizer, "chat_template", None))
    if template == "chat" and not has_chat:
        raise TemplateError(
            f"{tokenizer.name_or_path}: data.template is 'chat' but the tokenizer has no chat template"
        )
    used = "chat" if (template == "chat" or (template == "auto" and has_chat)) else "plain"
    if used == "plain":
        tokenizer.chat_template = PLAIN_TEMPLATE
    if tokenizer.pad_token is None:
        # Pad positions never reach the loss or attention, so any id will do; eos is standard.
        tokenizer.pad_token = tokenizer.eos_token
    return used


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def response_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of every assistant reply."""
    text = _render(tokenizer, messages, False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], True)
        through = _render(tokenizer, messages[: i + 1], False)
        if not (text.startswith(through) and through.startswith(before)):
            raise TemplateError(
                f"{tokenizer.name_or_path}: the chat template does not render a conversation as a "
                "prefix of its continuation, so reply tokens cannot be located; set data.template: plain"
            )
        spans.append((len(before), len(through)))
    return text, spans


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated_tokens: int  # tokens cut off beyond max_length


def encode(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> Encoded:
    """Tokens and response-only labels for one conversation, cut at max_length."""
    text, spans = response_spans(tokenizer, messages)
    # The template already wrote any bos/eos it wants; adding special tokens would double them.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for token, (start, _end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        inside = any(lo <= start < hi for lo, hi in spans)
        labels.append(token if inside else IGNORE_INDEX)
    labels[0] = IGNORE_INDEX
    ids = enc["input_ids"]
    cut = max(0, len(ids) - max_length)
    return Encoded(ids[:max_length], labels[:max_length], cut)


def pack(lengths: list[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing: bins (lists of example indices) whose lengths sum to <= capacity.

    Deterministic for given lengths: ties keep index order.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (remaining capacity, bin index), kept sorted
    for i in order:
        size = lengths[i]
        if size > capacity:
            raise ValueError(f"example {i} has {size} tokens, more than the row capacity {capacity}")
        at = bisect.bisect_left(free, (size, -1))
        if at == len(free):
            bins.append([i])
            bisect.insort(free, (capacity - size, len(bins) - 1))
        else:
            remaining, b = free.pop(at)
            bins[b].append(i)
            bisect.insort(free, (remaining - size, b))
    return bins


@dataclass
class Batch:
    tensors: dict[str, torch.Tensor]
    tokens: int  # real (non-pad) tokens
    padded_tokens: int  # tokens in the tensors, pads included
    label_tokens: int  # positions that carry loss after the causal shift


def collate(
    rows: list[list[dict[str, list[int]]]], pad_id: int, packed: bool, flatten: bool = False
) -> Batch:
    """Tensors for one micro-batch. Each row is a list of encoded examples (one unless packed)."""
    seqs, labs, poss = [], [], []
    for row in rows:
        ids, labels, positions = [], [], []
        for example in row:
            ids += example["input_ids"]
            labels += example["labels"]
            positions += range(len(example["input_ids"]))
        seqs.append(ids)
        labs.append(labels)
        poss.append(positions)
    if flatten:
        seqs, labs, poss = [sum(seqs, [])], [sum(labs, [])], [sum(poss, [])]
    width = max(len(s) for s in seqs)
    tokens = sum(len(s) for s in seqs)
    tensors: dict[str, Any] = {"input_ids": [], "labels": []}
    if packed:
        tensors["position_ids"] = []
    else:
        tensors["attention_mask"] = []
    for ids, labels, positions in zip(seqs, labs, poss, strict=True):
        pad = width - len(ids)
        tensors["input_ids"].append(ids + [pad_id] * pad)
        tensors["labels"].append(labels + [IGNORE_INDEX] * pad)
        if packed:
            # The pad tail is a segment of its own (positions from 0), so no example sees it.
            tensors["position_ids"].append(positions + list(range(pad)))
        else:
            tensors["attention_mask"].append([1] * len(ids) + [0] * pad)
    out = {k: torch.tensor(v, dtype=torch.long) for k, v in tensors.items()}
    label_tokens = int((out["labels"][:, 1:] != IGNORE_INDEX).sum())
    return Batch(out, tokens, width * len(seqs), label_tokens)


class OverlongError(UserError, ValueError):
    """An example longer than data.max_length while data.overlong is `error`."""


@dataclass
class TokenStats:
    examples: int
    tokens: int
    label_tokens: int
    truncated_examples: int
    truncated_tokens: int
    no_loss_examples: int  # truncation left no response token; counted, still in the mixture


def tokenize_dataset(
    dataset: Any, tokenizer: Any, max_length: int, overlong: str, fingerprint: str
) -> tuple[Any, TokenStats]:
    """Add input_ids/labels to a `{"id", "messages"}` dataset; cut or refuse overlong rows."""

    def encode_row(row: dict[str, Any]) -> dict[str, Any]:
        enc = encode(tokenizer, row["messages"], max_length)
        if enc.truncated_tokens and overlong == "error":
            raise OverlongError(
                f"example {row['id']}: {len(enc.input_ids) + enc.truncated_tokens} tokens, more than "
                f"data.max_length={max_length}; raise max_length or set data.overlong: truncate"
            )
        label_tokens = sum(label != IGNORE_INDEX for label in enc.labels)
        return {
            "input_ids": enc.input_ids,
            "labels": enc.labels,
            "truncated_tokens": enc.truncated_tokens,
            "label_tokens": label_tokens,
        }

    if len(dataset) == 0:  # map() on no rows adds no columns; keep the shape callers expect
        import datasets

        columns = ("input_ids", "labels", "truncated_tokens", "label_tokens")
        encoded = datasets.Dataset.from_dict({"id": [], **{c: [] for c in columns}})
        return encoded, TokenStats(0, 0, 0, 0, 0, 0)
    # The fingerprint is given because hashing a large tokenizer for datasets' cache key is slow.
    encoded = dataset.map(encode_row, remove_columns=["messages"], new_fingerprint=fingerprint)
    truncated = encoded["truncated_tokens"]
    label_tokens = encoded["label_tokens"]
    stats = TokenStats(
        examples=len(encoded),
        tokens=sum(len(ids) for ids in encoded["input_ids"]),
        label_tokens=sum(label_tokens),
        truncated_examples=sum(1 for t in truncated if t),
        truncated_tokens=sum(truncated),
        no_loss_examples=sum(1 for n in label_tokens if n == 0),
    )
    return encoded, stats
