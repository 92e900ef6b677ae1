"""How far a book can be answered without reading it: the naming balance and its figures.

A reader that never reads can still pick the option whose text the book names most often.
The builder keeps every book level against that rule and its mirror image (`NamingBalance`), and the manifest
and `validate-exam` measure what is left of it per bucket (`bucket_figures`):

- `count_accuracy`: the `count` rule's accuracy, exact rather than sampled: each
  single-answer item contributes `shortcuts.count_expected_accuracy` (1/k when the key is
  among k options tied for most named, else 0), averaged over the bucket's single-answer items;
- `key_only_share`: the share of single-answer items whose key is the only option named;
- `decoy_coverage`: the share of (item, non-key option) pairs whose book names that option
  (text or listed alias) in some passage other than the gold.

Counting is `shortcuts.option_counts` (option texts only, whole terms); coverage uses the
item's option match keys (`support.ItemFacts.option_keys`), the very terms decoys are chosen by.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from medlc_tasks.exam.schema import BuiltRecord
from medlc_tasks.exam.shortcuts import count_expected_accuracy, key_counts, key_only_named, option_counts
from medlc_tasks.exam.support import ItemFacts
from medlc_tasks.exam.textnorm import contains_key, match_key


@dataclass(frozen=True)
class ShortcutLimits:
    """What `validate-exam` accepts per bucket; `enforce` makes a breach a problem, not a warning.

    The bundled exam is built with `enforce=True` (see bundled.py); a user's exam warns.
    """

    max_count_accuracy: float = 0.30
    max_key_only_share: float = 0.05
    min_decoy_coverage: float = 1.0
    enforce: bool = False


class NamingBalance:
    """Running option-text counts of one book, refusing passages that would tip them either way.

    The aim is every option named as often as the key, so that neither "pick the most-named
    option" nor "pick the least-named one" beats chance. A passage that names an option is
    refused when, with it, the key would be named more often than some other option, or an
    option it names would be named more often than the key. Passages that name no option
    are always welcome. Multi-answer items (`answer_index` -1) are not balanced: the count
    rule is measured on single-answer items only. `counts_of` takes a passage's match key
    when the caller has it, since the builder checks whole pools.
    """

    def __init__(self, options: Sequence[str], answer_index: int, texts: Sequence[str] = ()):
        self.option_keys, self.key = [match_key(text) for text in options], answer_index
        self.counts = [0] * len(self.option_keys)
        for text in texts:
            self.add(self.counts_of(text))

    def counts_of(self, text: str, passage_key: str | None = None) -> list[int]:
        """How often a passage names each option (`shortcuts.key_counts`)."""
        return key_counts(match_key(text) if passage_key is None else passage_key, self.option_keys)

    def allows(self, added: Sequence[int]) -> bool:
        """Whether a passage naming the options `added` times keeps the counts level (see the class)."""
        if self.key < 0 or not any(added):
            return True
        after = [have + new for have, new in zip(self.counts, added, strict=True)]
        key = after[self.key]
        others = [(n, new) for i, (n, new) in enumerate(zip(after, added, strict=True)) if i != self.key]
        if others and key > min(n for n, _ in others):
            return False
        return all(n <= key for n, new in others if new)

    def add(self, added: Sequence[int]) -> None:
        self.counts = [have + new for have, new in zip(self.counts, added, strict=True)]


def unnamed_options(passages: Sequence[str], gold_index: int, facts: ItemFacts) -> list[str]:
    """Non-key letters that no passage but the gold names by text or listed alias."""
    keys = [_key(passage) for index, passage in enumerate(passages) if index != gold_index]
    return [
        letter
        for letter in facts.options
        if letter not in facts.answer
        and not any(contains_key(key, term) for key in keys for term in facts.option_keys[letter])
    ]


def record_facts(record: BuiltRecord, info: Mapping[str, Any]) -> ItemFacts:
    """A built record's item facts; `info` is its manifest entry (anchors, meta with aliases)."""
    options = dict(zip(record.choices, record.options, strict=False))
    return ItemFacts.of_parts(
        record.question, options, record.answer, info.get("anchors", []), info.get("meta", {})
    )


@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    # Books of one exam share most passages, so each passage's key is computed once.
    return match_key(text)


@dataclass(frozen=True)
class BucketFigures:
    """The no-reading figures of one bucket (see the module docstring)."""

    single_answer_items: int
    count_accuracy: float
    key_only_share: float
    decoy_pairs: int  # (item, non-key option) pairs, multi-answer items included
    decoys_missing: int  # pairs whose option no non-gold passage names
    # Single-answer items whose book names the key more often than every other option
    # (the pool had too few decoys to keep the balance).
    key_named_most: tuple[str, ...] = ()

    @property
    def decoy_coverage(self) -> float:
        return 1.0 - self.decoys_missing / self.decoy_pairs if self.decoy_pairs else 1.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BucketFigures:
        """From `as_dict`'s keys (a manifest's bucket_stats entry)."""
        fields = ("single_answer_items", "count_accuracy", "key_only_share", "decoy_pairs", "decoys_missing")
        return cls(*(data[name] for name in fields), tuple(data.get("key_named_most", ())))

    def as_dict(self) -> dict[str, float | int]:
        return {
            "single_answer_items": self.single_answer_items,
            "count_accuracy": round(self.count_accuracy, 4),
            "key_only_share": round(self.key_only_share, 4),
            "decoy_pairs": self.decoy_pairs,
            "decoys_missing": self.decoys_missing,
            "decoy_coverage": round(self.decoy_coverage, 4),
            "key_named_most": list(self.key_named_most),
        }

    def breaches(self, limits: ShortcutLimits) -> dict[str, str]:
        """Check name -> what is over its limit, for each limit this bucket breaks."""
        found = {}
        if self.count_accuracy > limits.max_count_accuracy:
            found["count_shortcut"] = (
                f"the count rule (pick the most-named option) scores {self.count_accuracy:.3f} "
                f"on {self.single_answer_items} single-answer items; the limit is "
                f"{limits.max_count_accuracy:.2f}"
            )
        if self.key_only_share > limits.max_key_only_share:
            found["key_only_named"] = (
                f"{self.key_only_share:.1%} of single-answer books name the key and no other option; "
                f"the limit is {limits.max_key_only_share:.0%}"
            )
        if self.decoy_coverage < limits.min_decoy_coverage:
            found["decoy_coverage"] = (
                f"{self.decoys_missing} of {self.decoy_pairs} non-key options are named nowhere but "
                f"the gold (coverage {self.decoy_coverage:.1%}); the limit is {limits.min_decoy_coverage:.0%}"
            )
        return found


def bucket_figures(
    records: Sequence[BuiltRecord], facts_of: Callable[[BuiltRecord], ItemFacts]
) -> BucketFigures:
    """The figures of one bucket's records; `facts_of` gives each record's item facts."""
    accuracy = key_only = singles = pairs = missing = 0
    key_most = []
    for record in records:
        facts = facts_of(record)
        pairs += sum(letter not in record.answer for letter in record.choices)
        missing += len(unnamed_options(record.passages, record.gold_index, facts))
        if record.multi_answer:
            continue
        counts = option_counts(record.book, record.options)
        singles += 1
        accuracy += count_expected_accuracy(counts, record.answer_index)
        key_only += key_only_named(counts, record.answer_index)
        others = [n for i, n in enumerate(counts) if i != record.answer_index]
        if others and counts[record.answer_index] > max(others):
            key_most.append(record.id)
    singles_or_one = singles or 1
    return BucketFigures(
        singles, accuracy / singles_or_one, key_only / singles_or_one, pairs, missing, tuple(key_most)
    )
