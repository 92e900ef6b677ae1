"""The exam's over-length hook for scoring backends.

Every medlc task document names one of `fit_letter`, `fit_cloze`, `fit_gen` in its
`overlength_fitter` field. A backend that finds a prompt too long for its window (the
`medlc-hf` length guard does) calls the named function with the document, the prompt as it
will be sent, a token counter and a budget, and gets back a prompt that fits or None. The
backend thereby applies the exam policy (`medlc_tasks.exam.fit`) without knowing the exam.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from medlc_tasks.exam.fit import fit_record, withhold_book
from medlc_tasks.exam.schema import BuiltRecord
from medlc_tasks.prompts import render_prompt

FITTER_FIELD = "overlength_fitter"
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(BuiltRecord))


@dataclass(frozen=True)
class FittedPrompt:
    """A prompt that fits, and what the policy did to the item to get there."""

    context: str
    action: str  # "shortened" (distractors dropped) or "flagged" (asked without its book)
    passages_dropped: int
    chars_dropped: int


def fitter_reference(variant: str) -> str:
    """The `overlength_fitter` value for a document of `variant`."""
    return f"{__name__}:fit_{variant}"


def fit_prompt(
    doc: Mapping[str, Any], variant: str, context: str, count_tokens: Callable[[str], int], budget: int
) -> FittedPrompt | None:
    """The exam policy on one over-long prompt: shorten the book, else ask without it.

    `context` is the item's rendered prompt, possibly inside a chat template or after
    few-shot examples; only the item's own prompt (the last occurrence) is re-rendered.
    None when the prompt is not the item's or nothing the policy allows fits `budget`.
    """
    record = BuiltRecord.from_dict({name: doc[name] for name in _RECORD_FIELDS})
    head, found, tail = context.rpartition(render_prompt(record, variant))
    if not found:
        return None

    def render(changed: BuiltRecord) -> str:
        return head + render_prompt(changed, variant) + tail

    fit = fit_record(record, render, count_tokens, budget)
    if fit.action == "none":
        return None  # already within budget by this count: nothing for the policy to do
    if fit.action == "shortened":
        return FittedPrompt(render(fit.record), "shortened", fit.passages_dropped, fit.chars_dropped)
    if record.book:
        bookless = render(withhold_book(record))
        if count_tokens(bookless) <= budget:
            return FittedPrompt(bookless, "flagged", len(record.passages), record.book_chars)
    return None


def fit_letter(doc: Mapping[str, Any], context: str, count_tokens: Callable[[str], int], budget: int):
    return fit_prompt(doc, "letter", context, count_tokens, budget)


def fit_cloze(doc: Mapping[str, Any], context: str, count_tokens: Callable[[str], int], budget: int):
    return fit_prompt(doc, "cloze", context, count_tokens, budget)


def fit_gen(doc: Mapping[str, Any], context: str, count_tokens: Callable[[str], int], budget: int):
    return fit_prompt(doc, "gen", context, count_tokens, budget)
