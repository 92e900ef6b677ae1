"""Log-likelihood scoring that runs every shared token once.

lm-eval's `hf` backend runs `context + continuation[:-1]` through the model once per
request and takes a log-softmax over the whole vocabulary at every position. For an
open-book item scored as letter and cloze that is ten reads of the same book, and a
[tokens x vocabulary] tensor per read (32k x 262k floats for Gemma 3 at the 32k bucket).
Here instead, for all requests of a call at once (lm-eval passes every task's):

1. the requests become a radix tree of token chains (`plan.py`), so a book shared by
   several prompts, and a context shared by its options, is one chain;
2. long chains are *read*: one causal forward each, starting from the KV cache of the
   chain above -- or from a longer prefix kept by the `PrefixStore` from an earlier call,
   a generation included -- keeping logits only where a request scores one; each read's
   cache goes to the store for later calls;
3. the short rest below a read (the end of each context and all its continuations), or a
   short context with its continuations, runs as one packed pass with a tree attention
   mask (`packing.py`): one pass, not two, and logits only at scored positions. Where the
   attention kernel takes no explicit mask, each remaining chain is a row of one batch
   against the cached prefix instead;
4. a short read whose packed subtrees fit one pass runs with them as one forward, causal
   over the read and tree-masked below it, and its cache is cut back to the read's end:
   at the 1k bucket the output head at the options' scored positions and one pass over
   the weights are most of an item's cost, and this saves the second pass.

Token sequences are exactly the ones stock `hf` scores, so log-probabilities agree with it
to float rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from medlc.backend.batching import (
    BatchLimit,
    SingleItemOutOfMemory,
    free_memory,
    is_out_of_memory,
    run_in_batches,
)
from medlc.backend.kv import (
    SharedPrefixCache,
    accepts,
    cache_argument,
    fork,
    new_cache,
    row_slice,
    supports_shared_prefix,
)
from medlc.backend.packing import AttentionLayout, Pack, behind_read, pack
from medlc.backend.plan import Chain, Limits, Target, build_tree, mark_reads, packed_subtrees
from medlc.backend.store import PrefixStore

TokenRequest = tuple[Sequence[int], Sequence[int]]  # (context tokens, continuation tokens)
Score = tuple[float, bool]  # (log-probability, continuation is the greedy decode)
Progress = Callable[[int], Callable[[int], None]]

logger = logging.getLogger(__name__)

# A chain of at most this many tokens is run in the packed pass of the read above it,
# with everything below it; a longer one is read on its own, and its cache kept.
DEFAULT_ONE_PASS_TOKENS = 256
# Tokens one packed pass may hold. Attention in a packed pass is computed between all its
# tokens and the mask throws most of it away, so the waste grows with the square of this.
MAX_PACK_TOKENS = 1024
# The chains below a long shared prefix (the ends of an item's prompts and their options,
# below its book) need its cache anyway, so they are packed at least this many per pass
# whatever `batch_size` says; contexts that share little are `batch_size` per pass.
MIN_BRANCHES_PER_PASS = 64
# A read of at most this many new tokens whose packed subtrees fit one pass runs with them
# as one masked forward (`packing.behind_read`). For a short book that saves a second pass
# over every layer's weights; the mask's attention waste grows with the read's square.
DEFAULT_FUSE_READ_TOKENS = 2048


@dataclass
class ScoringCounts:
    """What the scorer ran; tests and the benchmark read these to check reuse."""

    requests: int = 0
    contexts: int = 0  # distinct contexts among them
    request_tokens: int = 0  # what scoring each request alone would run through the model
    reads: int = 0  # causal forward passes over one chain each
    read_tokens: int = 0
    packed_passes: int = 0  # passes over packed chains (or, without a mask kernel, rows)
    packed_tokens: int = 0
    fused_reads: int = 0  # reads run in one forward with the packed pass below them
    prompt_reads: int = 0  # generation prompts read alone before a batch decodes them
    prompt_read_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class PrefixScorer:
    """Scores (context tokens, continuation tokens) pairs against one causal LM."""

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        pad_token_id: int,
        context_limit: BatchLimit,
        branch_limit: BatchLimit,
        store: PrefixStore,
        one_pass_tokens: int = DEFAULT_ONE_PASS_TOKENS,
        counts: ScoringCounts | None = None,
        packed: bool | None = None,
        fuse_read_tokens: int = DEFAULT_FUSE_READ_TOKENS,
    ):
        """`packed`: run short chains as one masked pass; by default where the model's
        attention kernel takes an explicit mask, else as rows. `fuse_read_tokens`: the
        longest read run in one forward with its packed pass (0: never)."""
        self.model = model
        self.device = device
        self.pad_token_id = pad_token_id
        self.context_limit = context_limit  # packed passes of whole short contexts
        self.branch_limit = branch_limit  # packed passes below a read
        self.store = store
        self.counts = counts or ScoringCounts()
        self.layout = AttentionLayout.of(model)
        self.packed = self.layout.packable if packed is None else packed
        if self.packed and not self.layout.packable:
            raise ValueError(f"attention kernel {self.layout.kernel!r} takes no packed-pass mask")
        self.one_pass_tokens = one_pass_tokens
        self.fuse_read_tokens = fuse_read_tokens
        for limit in (context_limit, branch_limit):
            limit.packed, limit.max_tokens = self.packed, MAX_PACK_TOKENS
        self._logits_to_keep = accepts(model, "logits_to_keep")
        self._cache_name = cache_argument()

    def score(self, requests: Sequence[TokenRequest], progress: Progress | None = None) -> list[Score]:
        """One (log-probability, is-greedy) per request, in order. `progress(total)` is told
        the tokens the plan holds and returns the callback that is told each pass's share."""
        root = build_tree(requests)
        self.limits = Limits(
            self.one_pass_tokens,
            pack_tokens=MAX_PACK_TOKENS,
            context_tokens=min(MAX_PACK_TOKENS, self.one_pass_tokens * self.context_limit.rows),
            pack_inner=self.packed,
        )
        mark_reads(root, self.limits)
        self._totals = [0.0] * len(requests)
        self._greedy = [True] * len(requests)
        total = root.subtree_tokens()
        step = progress(total) if progress else (lambda n: None)
        self._done = 0

        def on_done(n: int) -> None:
            self._done += n
            step(n)

        self._on_done = on_done
        self._below(root, None)
        step(total - self._done)
        self.counts.requests += len(requests)
        self.counts.contexts += len({tuple(c) for c, _ in requests})
        self.counts.request_tokens += sum(len(c) + len(t) - 1 for c, t in requests)
        return list(zip(self._totals, self._greedy, strict=True))

    def _below(self, point: Chain, cache, packed_done: bool = False) -> None:
        """Everything below `point`, whose KV cache (None for the root) is `cache`;
        `packed_done`: its packed subtrees were scored with its read."""
        reads = [child for child in point.children.values() if child.read]
        if point.parent is None:
            # Reads that can start from a stored prefix go first, before other reads'
            # entries push theirs out of the store.
            reads.sort(key=lambda chain: -self.store.covered(chain.prefix()))
        for chain in reads:
            read_cache, fused = self._read(chain, cache)
            self._below(chain, read_cache, packed_done=fused)
        pending = [] if packed_done else packed_subtrees(point)
        limit = self._limit_below(point)
        while pending:
            try:
                run_in_batches(
                    pending,
                    [chain.subtree_tokens() for chain in pending],
                    limit,
                    lambda group: self._pass(group, cache, point.end),
                    describe=lambda chain: f"a packed pass of {chain.subtree_tokens()} tokens",
                )
                pending = []
            except SingleItemOutOfMemory as err:
                # One subtree alone was too large a pass: read its first chain instead (a
                # causal read needs no [tokens x tokens] mask) and pack what hangs below it;
                # the subtrees before it are already scored.
                failed = err.item
                if failed not in pending:
                    raise
                failed.read = True
                self._below(failed, *self._read(failed, cache))
                pending = pending[pending.index(failed) + 1 :]

    @torch.inference_mode()
    def extend(self, tokens: Sequence[int], cache, start: int):
        """The KV cache of `tokens`, from `cache` holding its first `start` (None: from
        nothing): one causal forward over the rest, last position's logits only. For
        generation prompts, which are then decoded in a batch (`generate.cache_from_store`)."""
        base = fork(cache, start) if cache is not None else new_cache()
        ids = torch.tensor([list(tokens[start:])], device=self.device)
        out = self._forward(ids, 1, use_cache=True, **{self._cache_name: base})
        self.counts.prompt_reads += 1
        self.counts.prompt_read_tokens += len(tokens) - start
        return getattr(out, self._cache_name)

    # ----- reads ----------------------------------------------------------------------

    def _read(self, chain: Chain, parent_cache):
        """One causal forward over `chain`, from the longest cached prefix: its cache, and
        whether the packed subtrees below it were scored in the same forward."""
        tokens = chain.prefix()
        first_wanted = min(chain.wants, default=chain.end)
        stored, stored_cache = self.store.lookup(tokens, limit=first_wanted, have=chain.start)
        begin = chain.start
        if stored > begin:
            begin, base = stored, stored_cache
        else:
            base = parent_cache

        def start():
            return fork(base, begin) if base is not None else new_cache()

        cache, fused = start(), False
        if begin < chain.end:
            below = self._fusable(chain, begin)
            out = self._fused_read(chain, tokens[begin:], begin, cache, below) if below else None
            fused = out is not None
            if fused:
                cache = row_slice(getattr(out, self._cache_name), 0, 0, chain.end)
            else:
                # After a fused forward that ran out of memory, maybe part-way through the
                # layers, from a fresh fork.
                out = self._forward_read(chain, tokens[begin:], begin, start() if below else cache)
                cache = getattr(out, self._cache_name)
            if not supports_shared_prefix(cache):
                raise NotImplementedError(
                    f"{type(self.model).__name__}'s cache ({type(cache).__name__}) holds recurrent "
                    "state that cannot be shared between requests; use lm-eval's `hf` backend on "
                    "this architecture"
                )
            self.counts.reads += 1
            self.counts.read_tokens += chain.end - begin
        self.store.put(tokens, cache)
        return cache, fused

    def _fusable(self, chain: Chain, begin: int) -> list[Chain]:
        """The packed subtrees below `chain` when its read and all of them fit one forward
        (a short read, one packed pass's worth below it); else none."""
        if not self.packed or chain.end - begin > self.fuse_read_tokens:
            return []
        subtrees = packed_subtrees(chain)
        lengths = [subtree.subtree_tokens() for subtree in subtrees]
        if not subtrees or self._limit_below(chain).take(lengths, 0) < len(subtrees):
            return []
        return subtrees

    def _limit_below(self, point: Chain) -> BatchLimit:
        """The limit of the packed passes below `point`: the branches of a long shared
        prefix, or short contexts that share little."""
        return self.branch_limit if point.end >= self.one_pass_tokens else self.context_limit

    @torch.inference_mode()
    def _fused_read(self, chain: Chain, new: list[int], begin: int, cache, below: list[Chain]):
        """The read of `new` and the packed subtrees `below` it as one masked forward; None
        if that runs out of memory (then reads this long are no longer fused)."""
        packed = behind_read(new, begin, chain.wants, pack(below, chain.end))
        try:
            out = self._masked(packed, cache, keep_cache=True)
        except Exception as err:  # noqa: BLE001 -- only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(err):
                raise
            out = None
        if out is None:
            free_memory()  # outside `except`, whose traceback holds the pass's tensors
            self.fuse_read_tokens = len(new) - 1
            logger.warning("out of memory fusing a %d-token read with its pack; reading apart", len(new))
            return None
        self.counts.fused_reads += 1
        self._counted_pass(packed.input_ids.shape[1] - len(new))
        self._on_done(len(new))
        return out

    @torch.inference_mode()
    def _forward_read(self, chain: Chain, new: list[int], begin: int, cache):
        wanted = sorted(chain.wants)
        offsets = [position - begin for position in wanted]
        keep: int | torch.Tensor = 1
        if offsets and offsets != [len(new) - 1]:
            keep = torch.tensor(offsets, device=self.device)
        ids = torch.tensor([new], device=self.device)
        try:
            out = self._forward(ids, keep, use_cache=True, **{self._cache_name: cache})
            logits = out.logits[0, -1:] if isinstance(keep, int) else out.logits[0]
            if wanted:
                targets = [(row, target) for row, p in enumerate(wanted) for target in chain.wants[p]]
                self._score(logits, targets)
        except Exception as err:  # noqa: BLE001 -- out-of-memory is explained, the rest re-raised
            if is_out_of_memory(err):
                raise SingleItemOutOfMemory(
                    f"out of memory on a single item (a prefix of {chain.end} tokens): use a smaller "
                    "dtype, a GPU with more memory, or a shorter max_length so the over-length "
                    "policy shortens it",
                    item=chain,
                ) from err
            raise
        self._on_done(len(new))
        return out

    # ----- packed passes --------------------------------------------------------------

    @torch.inference_mode()
    def _pass(self, subtrees: list[Chain], cache, base_length: int) -> list[None]:
        """The packed chains below one cached prefix, in one forward pass."""
        if not self.packed:
            return self._rows(subtrees, cache, base_length)
        packed = pack(subtrees, base_length)
        self._masked(packed, cache, keep_cache=False)
        self._counted_pass(packed.input_ids.shape[1])
        return [None] * len(subtrees)

    def _masked(self, packed: Pack, cache, keep_cache: bool):
        """One forward over `packed` with its tree mask, on top of `cache` (None: nothing),
        scoring its targets. `keep_cache`: the new tokens' keys and values join `cache`,
        else it serves as a read-only prefix."""
        kwargs = {
            "position_ids": packed.position_ids.to(self.device),
            "attention_mask": packed.attention_mask(self.layout, self.model.dtype, self.device),
        }
        if cache is not None:
            kwargs[self._cache_name] = cache if keep_cache else SharedPrefixCache(cache, rows=1)
        out = self._forward(
            packed.input_ids.to(self.device),
            packed.keep.to(self.device),
            use_cache=cache is not None,
            **kwargs,
        )
        self._score(out.logits[0], packed.targets)
        return out

    def _rows(self, leaves: list[Chain], cache, base_length: int) -> list[None]:
        """Without a mask kernel: each packed chain (a leaf: see `Limits.pack_inner`) is a
        right-padded row against the cached prefix. Causal attention never lets a real
        token see the padding after it, so the rows need no mask."""
        width = max(len(leaf.tokens) for leaf in leaves)
        ids = torch.full((len(leaves), width), self.pad_token_id, dtype=torch.long)
        for row, leaf in enumerate(leaves):
            ids[row, : len(leaf.tokens)] = torch.tensor(leaf.tokens)
        kwargs = {}
        if cache is not None:
            kwargs[self._cache_name] = SharedPrefixCache(cache, rows=len(leaves))
        out = self._forward(ids.to(self.device), 0, use_cache=cache is not None, **kwargs)
        for row, leaf in enumerate(leaves):
            targets = [
                (position - leaf.start, target)
                for position in sorted(leaf.wants)
                for target in leaf.wants[position]
            ]
            self._score(out.logits[row], targets)
        self._counted_pass(ids.numel())
        return [None] * len(leaves)

    def _counted_pass(self, tokens: int) -> None:
        self.counts.packed_passes += 1
        self.counts.packed_tokens += tokens
        self._on_done(tokens)

    # ----- shared ---------------------------------------------------------------------

    def _score(self, logits: torch.Tensor, targets: list[tuple[int, Target]]) -> None:
        """Add each target's log-probability (row `r` of `logits` predicts it) to its request."""
        if not targets:
            return
        used = sorted({row for row, _ in targets})
        logprobs = F.log_softmax(logits[used].float(), dim=-1)
        index = {row: i for i, row in enumerate(used)}
        local = torch.tensor([index[row] for row, _ in targets], device=logprobs.device)
        tokens = torch.tensor([token for _, (_, token) in targets], device=logprobs.device)
        values = logprobs[local, tokens].tolist()
        greedy = (logprobs.argmax(-1)[local] == tokens).tolist()
        for (_, (request, _)), value, is_greedy in zip(targets, values, greedy, strict=True):
            self._totals[request] += value
            self._greedy[request] = self._greedy[request] and is_greedy

    def _forward(self, input_ids: torch.Tensor, keep: int | torch.Tensor, **kwargs):
        if self._logits_to_keep:
            return self.model(input_ids=input_ids, logits_to_keep=keep, **kwargs)
        out = self.model(input_ids=input_ids, **kwargs)
        if isinstance(keep, torch.Tensor):
            out.logits = out.logits[:, keep]
        elif keep:
            out.logits = out.logits[:, -keep:]
        return out
