"""The over-length policy: make a prompt fit a model's window without cutting it blindly.

Causal LM backends (lm-eval's `hf` among them) keep the *last* `max_length` tokens of an
over-long prompt, which silently throws away the instruction and the start of the book --
often the gold passage itself. medlc never lets that happen. Instead:

1. if the rendered prompt fits the budget, nothing changes (`"none"`);
2. otherwise distractor passages are dropped, the one furthest from the gold passage
   first, until the prompt fits (`"shortened"`). The question, the options and the gold
   passage are never touched, and because distance is measured from the gold passage the
   gold keeps roughly its relative depth (a gold at the start loses passages from the end,
   a gold at the end loses them from the start, a gold in the middle from both sides);
3. if even instruction + question + gold passage alone do not fit, the item is
   `"flagged"` and returned unchanged: the caller decides how to score it, and counts it.

Everything here is pure: the caller supplies how a record becomes a prompt (`render`) and
how text becomes tokens (`count_tokens`), so the dataset loader and the scorer backend share
one policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from medlc_tasks.exam.schema import PASSAGE_SEPARATOR, BuiltRecord

FitAction = Literal["none", "shortened", "flagged"]
FIT_ACTIONS: tuple[str, ...] = ("none", "shortened", "flagged")


@dataclass(frozen=True)
class FitResult:
    """What the policy did to one record."""

    record: BuiltRecord  # the record to score: shortened, or the original for none/flagged
    action: FitAction
    budget_tokens: int  # the most prompt tokens allowed
    original_tokens: int  # prompt tokens before fitting
    prompt_tokens: int  # prompt tokens of `record` (for flagged: of the smallest possible book)
    passages_dropped: int
    chars_dropped: int  # book characters removed


def prompt_budget(window: int, continuation_tokens: int, margin_tokens: int = 0) -> int:
    """Tokens left for the prompt once the continuation and a safety margin are reserved.

    `margin_tokens` covers what the backend adds around the prompt text (a BOS token, a
    chat template's role markers).
    """
    budget = window - continuation_tokens - margin_tokens
    if budget <= 0:
        raise ValueError(
            f"no room for a prompt: window {window} tokens - continuation "
            f"{continuation_tokens} - margin {margin_tokens} = {budget}"
        )
    return budget


def drop_order(num_passages: int, gold_index: int) -> list[int]:
    """Indices of the distractor passages in the order they are dropped: furthest from
    the gold passage first; at equal distance the earlier passage goes first."""
    distractors = [i for i in range(num_passages) if i != gold_index]
    return sorted(distractors, key=lambda i: (-abs(i - gold_index), i))


def keep_passages(record: BuiltRecord, keep: list[int]) -> BuiltRecord:
    """The record with only the passages at `keep` (which must include the gold), with
    book, gold index, gold offset and sources recomputed."""
    if record.gold_index not in keep:
        raise ValueError(f"item {record.id}: the gold passage must be kept")
    keep = sorted(keep)
    passages = [record.passages[i] for i in keep]
    gold_index = keep.index(record.gold_index)
    book = PASSAGE_SEPARATOR.join(passages)
    gold_offset = sum(len(p) + len(PASSAGE_SEPARATOR) for p in passages[:gold_index])
    sources = (
        [record.passage_sources[i] for i in keep]
        if len(record.passage_sources) == len(record.passages)
        else list(record.passage_sources)
    )
    return replace(
        record,
        passages=passages,
        gold_index=gold_index,
        book=book,
        book_chars=len(book),
        gold_char_offset=gold_offset,
        passage_sources=sources,
    )


def withhold_book(record: BuiltRecord) -> BuiltRecord:
    """How a flagged item is asked: without its book. It is scored wrong whatever the
    model answers, and sending the over-long prompt would only let the backend cut it."""
    return replace(
        record, passages=[], book="", book_chars=0, gold_index=-1, gold_char_offset=-1, passage_sources=[]
    )


def fit_record(
    record: BuiltRecord,
    render: Callable[[BuiltRecord], str],
    count_tokens: Callable[[str], int],
    budget_tokens: int,
) -> FitResult:
    """Apply the over-length policy to one record (see the module docstring)."""
    original_tokens = count_tokens(render(record))
    if original_tokens <= budget_tokens:
        return FitResult(record, "none", budget_tokens, original_tokens, original_tokens, 0, 0)

    order = drop_order(len(record.passages), record.gold_index) if record.passages else []
    if record.gold_index < 0 or not order:
        # A closed-book prompt or a book that is only the gold passage: nothing to drop.
        return FitResult(record, "flagged", budget_tokens, original_tokens, original_tokens, 0, 0)

    def shortened(n_dropped: int) -> BuiltRecord:
        dropped = set(order[:n_dropped])
        return keep_passages(record, [i for i in range(len(record.passages)) if i not in dropped])

    smallest = shortened(len(order))
    smallest_tokens = count_tokens(render(smallest))
    if smallest_tokens > budget_tokens:
        return FitResult(record, "flagged", budget_tokens, original_tokens, smallest_tokens, 0, 0)

    # Fewest drops that fit, by bisection: dropping a passage only ever shortens the
    # prompt, and a 32k-character book has dozens of passages to try.
    # Invariant: dropping `high` fits (and `fitted` is that record); dropping low - 1 does not.
    low, high = 1, len(order)
    fitted, fitted_tokens = smallest, smallest_tokens
    while low < high:
        mid = (low + high) // 2
        candidate = shortened(mid)
        tokens = count_tokens(render(candidate))
        if tokens <= budget_tokens:
            high, fitted, fitted_tokens = mid, candidate, tokens
        else:
            low = mid + 1
    return FitResult(
        fitted,
        "shortened",
        budget_tokens,
        original_tokens,
        fitted_tokens,
        passages_dropped=high,
        chars_dropped=record.book_chars - fitted.book_chars,
    )
