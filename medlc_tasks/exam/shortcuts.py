"""Answers that need no reading: how often each option's text occurs in the book.

An open-book score means "found and read the evidence" only where naming counts cannot earn
it. The builder balances every book against `option_counts` (the key is never named more
often than the most-named other option), `validate-exam` measures the `count` rule and the
only-key share per bucket with these functions, and the `medlc-baseline` lm-eval model
(`method=count`) answers with `count_choice`: one rule, one implementation.

Counting is literal, as a string matcher would do it: an option's text, matched as a whole
term on the normalised book (`textnorm.match_key`, so "5 mg" is not counted inside "15 mg").
Aliases are not counted: a shortcut-taker sees only the options as printed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from medlc_tasks.exam.textnorm import count_key, match_key


def option_counts(book: str, options: Sequence[str]) -> list[int]:
    """Occurrences of each option's text in the book, in option order (0 for an empty text)."""
    return key_counts(match_key(book), [match_key(text) for text in options])


def key_counts(book_key: str, option_keys: Sequence[str]) -> list[int]:
    """`option_counts` on match keys computed once (the builder counts thousands of passages)."""
    # `in` first: most passages name no option, and it is much cheaper than counting.
    return [count_key(book_key, key) if key and key in book_key else 0 for key in option_keys]


def most_named(counts: Sequence[int]) -> list[int]:
    """Indices of the options named most often (every index when the counts are all equal)."""
    top = max(counts)
    return [i for i, n in enumerate(counts) if n == top]


def count_choice(book: str, options: Sequence[str], rng: random.Random) -> int:
    """The `count` rule: the most-named option, ties (including "named nowhere") broken by `rng`."""
    return rng.choice(most_named(option_counts(book, options)))


def key_only_named(counts: Sequence[int], answer_index: int) -> bool:
    """Whether the key is named and no other option is: a book that gives the answer away."""
    return counts[answer_index] > 0 and all(n == 0 for i, n in enumerate(counts) if i != answer_index)


def count_expected_accuracy(counts: Sequence[int], answer_index: int) -> float:
    """The `count` rule's accuracy on one item, averaged over its random tie-breaks."""
    tied = most_named(counts)
    return 1.0 / len(tied) if answer_index in tied else 0.0


def item_rng(seed: int | str, *parts: object) -> random.Random:
    """A random.Random for one item, the same on every run and platform (string seeds are hashed)."""
    return random.Random(":".join(map(str, (seed, *parts))))
