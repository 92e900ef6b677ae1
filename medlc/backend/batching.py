"""Length-sorted batches that shrink on out-of-memory instead of crashing the run.

A long-context evaluation meets its worst batch late: one 32k-token book among 4k ones.
Rather than guess a safe batch size up front (lm-eval's `auto` probes once and can still
die later), every batch runs under `run_in_batches`: an out-of-memory error halves the
limit, frees the allocator cache and retries the same items, and the smaller limit is kept
for the rest of the run.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# What the CPU allocator and the CUDA caching allocator say when they give up. torch raises
# torch.OutOfMemoryError for CUDA; a failed CPU allocation is a plain RuntimeError.
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and any(m in str(err).lower() for m in _OOM_MESSAGES)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class BatchLimit:
    """How many items, and how many padded tokens, one forward pass may take.

    `rows` shrinks on out-of-memory and never grows back within a run: a size that failed
    once on long items would fail again on the next long item.
    """

    rows: int
    max_tokens: int | None = None  # None = no token cap
    backoffs: int = 0
    # Padded batches cost rows x the longest item; packed ones (items laid end to end in
    # one sequence) cost the sum of their lengths.
    packed: bool = False

    def take(self, lengths: Sequence[int], start: int) -> int:
        """How many items from `start` go into the next batch (always at least one)."""
        count = 1
        longest = total = lengths[start]
        while start + count < len(lengths) and count < self.rows:
            longest = max(longest, lengths[start + count])
            total += lengths[start + count]
            cost = total if self.packed else longest * (count + 1)
            if self.max_tokens is not None and cost > self.max_tokens:
                break
            count += 1
        return count

    def shrink(self, failed_rows: int) -> None:
        self.rows = max(1, failed_rows // 2)
        self.backoffs += 1


class SingleItemOutOfMemory(RuntimeError):
    """Even one item alone does not fit; nothing smaller is left to try (`item` says which)."""

    def __init__(self, message: str, item: object = None):
        super().__init__(message)
        self.item = item


def run_in_batches(
    items: Sequence[T],
    lengths: Sequence[int],
    limit: BatchLimit,
    run: Callable[[list[T]], list[R]],
    describe: Callable[[T], str] = repr,
    on_done: Callable[[int], None] | None = None,
) -> list[R]:
    """`run` over consecutive batches of `items`, halving `limit.rows` on out-of-memory.

    `items` should already be sorted longest first, so the first batch is the largest and
    an unworkable size shows up at once. `run` must return one result per item.
    """
    results: list[R] = []
    start = 0
    while start < len(items):
        count = limit.take(lengths, start)
        batch = list(items[start : start + count])
        try:
            out = run(batch)
        except Exception as err:  # noqa: BLE001 -- only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(err):
                raise
            if count == 1:
                raise SingleItemOutOfMemory(
                    f"out of memory on a single item ({describe(batch[0])}, {lengths[start]} "
                    "tokens): use a smaller dtype, a GPU with more memory, or a shorter "
                    "max_length so the over-length policy shortens it",
                    item=batch[0],
                ) from err
            out = None
        if out is None:
            # Freed only here: inside `except` the traceback still holds the batch's tensors.
            free_memory()
            limit.shrink(count)
            logger.warning("out of memory on a batch of %d; retrying with at most %d", count, limit.rows)
            continue
        if len(out) != len(batch):
            raise AssertionError(f"batch runner returned {len(out)} results for {len(batch)} items")
        results.extend(out)
        start += count
        if on_done is not None:
            on_done(count)
    return results
