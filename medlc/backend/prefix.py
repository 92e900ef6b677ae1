"""Log-likelihood scoring that reads each distinct context once.

lm-eval's `hf` backend runs `context + continuation[:-1]` through the model once per
option and takes a log-softmax over the whole vocabulary at every position. For an
open-book item that is five reads of the same book and a [tokens x vocabulary] tensor per
read (32k x 262k floats for Gemma 3 at the 32k bucket). Here instead:

1. requests are grouped by their context tokens; groups are sorted longest first and
   batched (left-padded, so every context ends at the last column);
2. one forward pass per batch of contexts keeps the KV cache and asks the model for the
   logits of the last position only (`logits_to_keep=1`): that row scores every
   single-token continuation (the letter variant) and the first token of every longer one;
3. the remaining continuation tokens of all options are run as one batch against the
   cached prefix, which every row reads through a view and nothing copies for good
   (`SharedPrefixCache`); the log-softmax is taken only at those positions.

Token sequences are exactly the ones stock `hf` scores, so log-probabilities agree with it
to float rounding.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from medlc.backend.batching import BatchLimit, run_in_batches

TokenRequest = tuple[Sequence[int], Sequence[int]]  # (context tokens, continuation tokens)
Score = tuple[float, bool]  # (log-probability, continuation is the greedy decode)


@dataclass
class ScoringCounts:
    """What the scorer did; tests and the benchmark read these to check reuse."""

    context_forwards: int = 0  # forward passes over context tokens
    contexts_read: int = 0  # distinct contexts, each read exactly once
    context_tokens: int = 0
    continuation_forwards: int = 0  # forward passes over continuation tokens only
    continuation_rows: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class SharedPrefixCache(DynamicCache):
    """A read-only view of a context's KV cache, shared by many continuation rows.

    The model sees a cache holding the prefix, but `update` never stores: it returns the
    prefix keys/values joined with the new ones for this one forward pass, so the prefix is
    materialised per row for one layer at a time only, and the same prefix serves the next
    batch of continuations unchanged. `rows[i]` is the context row of continuation row i.
    """

    def __init__(self, prefix: DynamicCache, rows: torch.Tensor):
        super().__init__()
        self.layers = prefix.layers
        self._rows = rows
        self._broadcast = all(_batch_of(layer) == 1 for layer in prefix.layers)

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        layer = self.layers[layer_idx]
        scratch = copy.copy(layer)  # carries lengths/offsets; the original stays untouched
        if _holds_keys(layer):
            if self._broadcast:
                n = len(self._rows)
                scratch.keys = layer.keys.expand(n, -1, -1, -1)
                scratch.values = layer.values.expand(n, -1, -1, -1)
            else:
                scratch.keys = layer.keys.index_select(0, self._rows)
                scratch.values = layer.values.index_select(0, self._rows)
        return scratch.update(key_states, value_states, *args, **kwargs)


def _holds_keys(layer) -> bool:
    # transformers 4.56 leaves `keys` None until the first update; 5.x has `is_initialized`.
    keys = getattr(layer, "keys", None)
    return keys is not None and getattr(layer, "is_initialized", True) and keys.numel() > 0


def _batch_of(layer) -> int:
    return layer.keys.shape[0] if _holds_keys(layer) else 1


def supports_shared_prefix(cache: object) -> bool:
    """Attention-only KV caches can be shared; recurrent/linear-attention state cannot."""
    return isinstance(cache, DynamicCache) and all(isinstance(x, DynamicLayer) for x in cache.layers)


@dataclass
class _Group:
    context: tuple[int, ...]
    members: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # (index, continuation)


def cache_argument() -> str:
    """The name of the KV-cache argument and output field of this transformers' models.

    transformers 5.24 renamed `past_key_values` to `cache` (the old name goes in 5.40); the
    lower bound, 4.56, knows only the old one. Asked of the library's output class, not of
    a model's signature, which a wrapper's `**kwargs` would hide.
    """
    from transformers.modeling_outputs import CausalLMOutputWithPast

    fields = {f.name for f in dataclasses.fields(CausalLMOutputWithPast)}
    return "cache" if "cache" in fields else "past_key_values"


def _accepts(model: torch.nn.Module, name: str) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return name in inspect.signature(base.forward).parameters


class PrefixScorer:
    """Scores (context tokens, continuation tokens) pairs against one causal LM."""

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        pad_token_id: int,
        context_limit: BatchLimit,
        row_limit: BatchLimit,
        counts: ScoringCounts | None = None,
    ):
        self.model = model
        self.device = device
        self.pad_token_id = pad_token_id
        self.context_limit = context_limit
        self.row_limit = row_limit
        self.counts = counts or ScoringCounts()
        self._logits_to_keep = _accepts(model, "logits_to_keep")
        self._cache_name = cache_argument()

    def score(
        self, requests: Sequence[TokenRequest], on_done: Callable[[int], None] | None = None
    ) -> list[Score]:
        groups: dict[tuple[int, ...], _Group] = {}
        for index, (context, continuation) in enumerate(requests):
            if not context or not continuation:
                raise ValueError(f"request {index}: context and continuation must be non-empty")
            key = tuple(context)
            groups.setdefault(key, _Group(key)).members.append((index, tuple(continuation)))
        # Longest first: the largest batch runs (and fails, if it must) at the start.
        ordered = sorted(groups.values(), key=lambda g: (-len(g.context), g.context))
        results: list[Score | None] = [None] * len(requests)

        def run(batch: list[_Group]) -> list[None]:
            for index, score in self._score_groups(batch):
                results[index] = score
            return [None] * len(batch)

        def done(n_groups: int) -> None:
            if on_done is not None:
                on_done(n_groups)

        run_in_batches(
            ordered,
            [len(g.context) for g in ordered],
            self.context_limit,
            run,
            describe=lambda g: f"context of {len(g.context)} tokens",
            on_done=done,
        )
        self.counts.requests += len(requests)
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _score_groups(self, groups: list[_Group]) -> list[tuple[int, Score]]:
        lengths = [len(g.context) for g in groups]
        width = max(lengths)
        ids = torch.full((len(groups), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(groups), width), dtype=torch.long)
        for row, group in enumerate(groups):
            ids[row, width - len(group.context) :] = torch.tensor(group.context)
            mask[row, width - len(group.context) :] = 1
        ragged = min(lengths) != width
        needs_cache = any(len(c) > 1 for g in groups for _, c in g.members)
        kwargs = {}
        if ragged:
            # Left padding moves the real tokens right; explicit positions keep them where
            # an unpadded read would put them, so batching does not change any score.
            kwargs = {
                "attention_mask": mask.to(self.device),
                "position_ids": (mask.cumsum(1) - 1).clamp(min=0).to(self.device),
            }
        out = self._forward(ids.to(self.device), keep=1, use_cache=needs_cache, **kwargs)
        last = F.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        self.counts.context_forwards += 1
        self.counts.contexts_read += len(groups)
        self.counts.context_tokens += sum(lengths)

        scores: list[tuple[int, Score]] = []
        rows: list[tuple[int, int, tuple[int, ...]]] = []  # (group row, request index, continuation)
        for row, group in enumerate(groups):
            for index, continuation in group.members:
                if len(continuation) == 1:
                    token = continuation[0]
                    scores.append((index, (float(last[row, token]), bool(last[row].argmax() == token))))
                else:
                    rows.append((row, index, continuation))
        if not rows:
            return scores

        cache = getattr(out, self._cache_name)
        if not supports_shared_prefix(cache):
            raise NotImplementedError(
                f"{type(self.model).__name__}'s cache ({type(cache).__name__}) holds recurrent "
                "state that cannot be shared between continuations; use lm-eval's `hf` backend "
                "for multi-token continuations on this architecture"
            )
        rows.sort(key=lambda r: -len(r[2]))

        def run(chunk: list[tuple[int, int, tuple[int, ...]]]) -> list[tuple[int, Score]]:
            return self._score_continuations(chunk, cache, last, mask, lengths, ragged)

        scores += run_in_batches(
            rows,
            [len(r[2]) - 1 for r in rows],
            self.row_limit,
            run,
            describe=lambda r: f"continuation of {len(r[2])} tokens",
        )
        return scores

    def _score_continuations(
        self,
        chunk: list[tuple[int, int, tuple[int, ...]]],
        cache: DynamicCache,
        last: torch.Tensor,
        context_mask: torch.Tensor,
        context_lengths: list[int],
        ragged: bool,
    ) -> list[tuple[int, Score]]:
        # The first continuation token is scored by the context's last position; the model
        # reads continuation[:-1] to score the rest. Right padding needs no mask: causal
        # attention never lets a real token see the padding after it.
        width = max(len(c) for _, _, c in chunk) - 1
        ids = torch.full((len(chunk), width), self.pad_token_id, dtype=torch.long)
        for i, (_, _, continuation) in enumerate(chunk):
            ids[i, : len(continuation) - 1] = torch.tensor(continuation[:-1])
        context_rows = torch.tensor([row for row, _, _ in chunk], dtype=torch.long)
        kwargs = {}
        if ragged:
            starts = torch.tensor([context_lengths[row] for row, _, _ in chunk])
            kwargs = {
                "attention_mask": torch.cat(
                    [context_mask[context_rows], torch.ones((len(chunk), width), dtype=torch.long)], 1
                ).to(self.device),
                "position_ids": (starts[:, None] + torch.arange(width)[None, :]).to(self.device),
            }
        kwargs[self._cache_name] = SharedPrefixCache(cache, context_rows.to(self.device))
        out = self._forward(ids.to(self.device), keep=0, use_cache=True, **kwargs)
        self.counts.continuation_forwards += 1
        self.counts.continuation_rows += len(chunk)

        scores = []
        for i, (row, index, continuation) in enumerate(chunk):
            n = len(continuation) - 1
            logprobs = F.log_softmax(out.logits[i, :n].float(), dim=-1)
            targets = torch.tensor(continuation[1:], device=logprobs.device)
            total = float(last[row, continuation[0]]) + float(logprobs.gather(1, targets[:, None]).sum())
            greedy = bool(last[row].argmax() == continuation[0]) and bool(
                (logprobs.argmax(-1) == targets).all()
            )
            scores.append((index, (total, greedy)))
        return scores

    def _forward(self, input_ids: torch.Tensor, keep: int, **kwargs):
        if self._logits_to_keep:
            return self.model(input_ids=input_ids, logits_to_keep=keep, **kwargs)
        out = self.model(input_ids=input_ids, **kwargs)
        if keep:
            out.logits = out.logits[:, -keep:]
        return out
