"""Recently read prefixes and their KV caches, kept across the calls of one evaluation.

lm-eval hands a backend all log-likelihood requests of an evaluation in one call and all
generation requests in another. A book read for the letter and cloze variants is read
again by the generative one unless its KV cache outlives the first call: the store keeps
the caches of recent reads, up to a memory cap, and a later read or generation starts from
the longest stored prefix of its tokens (any prefix of a stored sequence will do: the
caches keep every position, see `kv.py`). Least recently used entries go first when the
cap is reached; an entry that is a prefix of a newer one is dropped as redundant.

Counts, for the backend report: `hits` (a read or generation started from a stored
prefix of at least `min_tokens` tokens), `misses` (it found none), `evictions` (entries
dropped for room), `tokens_reused`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from transformers import DynamicCache

from medlc.backend.kv import cache_bytes
from medlc.backend.plan import common_prefix_length

# A stored prefix is worth starting from when it saves at least this many tokens (the
# backend passes its `one_pass_tokens`: what is shorter is cheap to run again).
MIN_REUSE_TOKENS = 256


class PrefixStore:
    """Token sequences -> KV caches of exactly those tokens, within `max_bytes`."""

    def __init__(self, max_bytes: int, min_tokens: int = MIN_REUSE_TOKENS):
        self.max_bytes = max(0, int(max_bytes))
        self.min_tokens = min_tokens
        self._entries: OrderedDict[tuple[int, ...], tuple[DynamicCache, int]] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = self.tokens_reused = 0

    def __len__(self) -> int:
        return len(self._entries)

    def covered(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of `tokens` some entry holds (not counted as a lookup)."""
        return max((common_prefix_length(key, tokens) for key in self._entries), default=0)

    def lookup(
        self, tokens: Sequence[int], limit: int, have: int = 0, count: bool = True
    ) -> tuple[int, DynamicCache | None]:
        """The longest stored prefix of `tokens`, capped at `limit` tokens, and its cache
        (whose first that-many positions are the prefix); (0, None) unless it is at least
        `min_tokens` longer than the `have` tokens the caller holds already. Counted as a
        hit or a miss unless `count` is False (the caller then says what it used, `record`)."""
        best, found = 0, None
        for key in self._entries:
            shared = min(common_prefix_length(key, tokens), limit)
            if shared > best:
                best, found = shared, key
        if found is None or best - have < self.min_tokens:
            if count:
                self.record(0)
            return 0, None
        self._entries.move_to_end(found)
        if count:
            self.record(best - have)
        return best, self._entries[found][0]

    def record(self, reused: int) -> None:
        """Count one start: a hit reusing `reused` tokens, or a miss when that is 0."""
        if reused:
            self.hits += 1
            self.tokens_reused += reused
        else:
            self.misses += 1

    def put(self, tokens: Sequence[int], cache: DynamicCache) -> None:
        """Keep `cache` (the KV of exactly `tokens`), evicting the least recently used."""
        key = tuple(tokens)
        size = cache_bytes(cache)
        if len(key) < self.min_tokens or size > self.max_bytes:
            return
        for other in list(self._entries):
            if key[: len(other)] == other:  # the new entry covers this one
                self._drop(other)
            elif other[: len(key)] == key:  # an entry already covers the new one
                self._entries.move_to_end(other)
                return
        self._entries[key] = (cache, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
            self.evictions += 1

    def _drop(self, key: tuple[int, ...]) -> None:
        _, size = self._entries.pop(key)
        self.bytes -= size

    def clear(self) -> None:
        """Forget every entry (the counts stay until `reset_counts`)."""
        self._entries.clear()
        self.bytes = 0

    def reset_counts(self) -> None:
        self.hits = self.misses = self.evictions = self.tokens_reused = 0

    def report(self) -> dict[str, Any]:
        return {
            "max_gib": round(self.max_bytes / 2**30, 3),
            "entries": len(self._entries),
            "gib_now": round(self.bytes / 2**30, 3),
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "tokens_reused": self.tokens_reused,
        }
