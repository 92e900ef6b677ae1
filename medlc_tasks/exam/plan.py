"""Which buckets a pool can fill, decided before any book is built.

Every item has a capacity: its gold, its decoys and every usable distractor the pool offers
it, in characters. A book of a bucket needs at least `target * (1 - tolerance)`. With
`--buckets auto` (the default) a pool that cannot fill a bucket never costs items: every
bucket that all kept items can fill is built, the others are skipped and recorded with what
they needed. Items are dropped (`book_unfillable`) only when they cannot fill even the
smallest bucket. An explicit bucket list is a requirement instead: an item that cannot fill
one of its buckets stops a strict build, and is a counted drop otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Shortfall:
    """A bucket some items cannot fill: what it needs against what the pool offers them."""

    bucket: str
    target_chars: int
    needed_chars: int  # per book: the target less the tolerance
    available_chars: int  # the least any item can reach
    items_short: int
    first_item: str  # the first item (in source order) that falls short

    def message(self) -> str:
        return (
            f"bucket {self.bucket}: a book of {self.target_chars} characters needs at least "
            f"{self.needed_chars} characters, but the pool gives {self.items_short} item(s) fewer "
            f"(as few as {self.available_chars}, item {self.first_item!r}); "
            "add --reference FILE with more text to build it"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message()}


def needed_chars(target: int, tolerance: float) -> int:
    """The fewest characters a book of `target` may hold."""
    return math.ceil(target * (1 - tolerance))


def shortfall(bucket: str, target: int, tolerance: float, capacity: dict[str, int]) -> Shortfall | None:
    """How the items (id -> capacity, in source order) fall short of a bucket, or None if all fill it."""
    needed = needed_chars(target, tolerance)
    short = [item_id for item_id, chars in capacity.items() if chars < needed]
    if not short:
        return None
    least = min(capacity[item_id] for item_id in short)
    return Shortfall(bucket, target, needed, least, len(short), short[0])


def smallest_bucket(buckets: dict[str, int]) -> str:
    """The bucket with the fewest characters (the first of equals)."""
    return min(buckets, key=buckets.__getitem__)


def plan_auto(
    buckets: dict[str, int], tolerance: float, capacity: dict[str, int]
) -> tuple[dict[str, int], list[Shortfall]]:
    """The buckets every item (id -> capacity) can fill, in the given order, and those skipped."""
    built, skipped = {}, []
    for bucket, target in buckets.items():
        missing = shortfall(bucket, target, tolerance, capacity)
        if missing is None:
            built[bucket] = target
        else:
            skipped.append(missing)
    return built, skipped
