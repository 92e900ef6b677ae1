"""`--shard i/N`, one meaning for every command that splits work over machines
(`medlc run`, `medlc sweep`): machine i (0-based) takes the i-th of N contiguous blocks of
the command's work list, block sizes differing by at most one.

Why contiguous blocks and not every N-th item: the work lists are ordered so neighbours
share costly set-up. `medlc run` lists pairs model-major, so a block loads each of its
models once, where round-robin would load nearly every model on every machine. A sweep
lists its grid fraction-major with the volumes inner, so a block holds a mix of small and
large runs; round-robin with N equal to the number of volumes would hand one machine every
smallest run and another every largest.

Shards are independent: no machine needs to know what another took, and the union of the
N shards is the whole list, each item exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from medlc_core.config import ConfigError

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' with 0 <= i < N, e.g. '0/4' ... '3/4' -> (i, N)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected i/N with integers, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {text!r}: expected i/N with 0 <= i < N, e.g. 0/4")
    return index, count


def shard_slice(length: int, index: int, count: int) -> slice:
    """Where block `index` of `count` lies in a list of `length` items."""
    return slice(length * index // count, length * (index + 1) // count)


def select_shard(items: Sequence[T], index: int, count: int) -> list[T]:
    """Shard `index` of `count`: the `index`-th contiguous block of `items`."""
    return list(items[shard_slice(len(items), index, count)])
