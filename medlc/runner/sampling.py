"""`sample_items`: a small subset of each task that still spans what the report slices by.

The bundled exam is stored department by department, with gold depths assigned in turn,
so a fixed stride (item i*n//k) lands on a pattern: 12 of its 207 items at 1k fell
2/1/6/1/2 over the five depths, which leaves the length x depth heatmap nearly empty.
`stratified_sample` draws k items balanced on the three factors the report slices by,
gold depth x counterfactual x department:

1. each factor's k items are shared among its levels in proportion to their sizes,
   rounded by largest remainder, ties broken by a seeded draw (12 items over five depths
   of 41-43 items: 3/3/2/2/2; over nine equal departments: 2/2/2/1/1/1/1/1/1);
2. items are then taken one at a time, each time from a depth that still has room (every
   depth gets exactly its share), preferring items whose counterfactual flag and
   department also still have room, and otherwise in the order of a seeded hash of the
   item id. With more joint strata than items (5 x 2 x 9 = 90 against 12), the three
   shares are met together as far as the items allow, not cell by cell.

The draw depends only on the seed and each item's id and factors, never on the model, so
every model and baseline in a run is scored on the same items and the report can pair
them item by item. A document without these fields (a stock lm-eval task) is one
stratum: a seeded draw of k items.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from medlc_tasks.exam.shortcuts import item_rng

FACTORS = ("depth", "counterfactual", "department")
# Recorded in every fingerprint that uses sample_items: drawing N items another way gives
# other items, so results drawn by an older rule are never reused as if they were these.
SAMPLING_RULE = "stratified depth x counterfactual x department, largest remainder, v1"


def _item_id(doc: Any, index: int) -> str:
    return str(doc.get("id", index)) if isinstance(doc, Mapping) else str(index)


def _level(doc: Any, factor: str) -> Hashable:
    value = doc.get(factor) if isinstance(doc, Mapping) else None
    return value if isinstance(value, Hashable) else repr(value)


def shares(levels: Sequence[Hashable], k: int, seed: int, factor: str) -> dict[Hashable, int]:
    """k split over the levels in proportion to how often each occurs (largest remainder)."""
    sizes = Counter(levels)
    total = len(levels)
    share = {level: k * size // total for level, size in sizes.items()}
    rng = item_rng(seed, "sample-share", factor)
    tiebreak = {level: rng.random() for level in sorted(sizes, key=repr)}
    by_remainder = sorted(sizes, key=lambda level: (-(k * sizes[level] % total), tiebreak[level]))
    for level in by_remainder[: k - sum(share.values())]:
        share[level] += 1
    return share


def stratified_sample(docs: Sequence[Any], k: int, seed: int) -> list[int]:
    """Indices (ascending) of k documents balanced on depth, counterfactual and department."""
    if k >= len(docs):
        return list(range(len(docs)))
    keys = [tuple(_level(doc, factor) for factor in FACTORS) for doc in docs]
    rank = {i: item_rng(seed, "sample", _item_id(doc, i)).random() for i, doc in enumerate(docs)}
    room = [shares([key[f] for key in keys], k, seed, factor) for f, factor in enumerate(FACTORS)]
    # One queue per joint stratum, best-ranked item first: each step looks at the strata,
    # not at every item, so large exams draw quickly.
    queues: dict[tuple, list[int]] = defaultdict(list)
    for i in sorted(range(len(docs)), key=lambda i: (rank[i], i)):
        queues[keys[i]].append(i)
    chosen = []
    for _ in range(k):
        open_strata = [key for key, queue in queues.items() if queue and room[0][key[0]] > 0]
        best = max(
            open_strata,
            key=lambda key: (
                sum(room[f][key[f]] > 0 for f in range(1, len(FACTORS))),
                -rank[queues[key][0]],
            ),
        )
        chosen.append(queues[best].pop(0))
        for f in range(len(FACTORS)):
            room[f][best[f]] -= 1
    return sorted(chosen)


def task_samples(
    task: str, docs: Sequence[Any], wanted: int | None, seed: int
) -> dict[str, list[int]] | None:
    """lm-eval `samples` (doc indices) for `wanted` stratified items of one task; None: all."""
    if wanted is None:
        return None
    return {task: stratified_sample(list(docs), wanted, seed)}
