"""The over-length policy at scoring time: no prompt is cut from the left unseen.

The medlc tasks already fit each document to the model's window when the task metadata
names the model (`medlc_tasks.loading`); this guard is the backend's side of the same policy
and catches everything else: tasks loaded without the model in their metadata, chat
templates that add more than the reserved margin, other lm-eval tasks. For each request
whose prompt plus continuation exceeds the window it does one of:

* `fit` (default): for a medlc exam document, the exam policy from
  `medlc_tasks.exam.fit` -- drop distractor passages, furthest from the gold passage first,
  until the prompt fits ("shortened"); if question + gold alone do not fit, ask the item
  without its book ("flagged", as the task loader does). A request that is not a medlc
  document, or still does not fit, is cut from the left and counted ("truncated");
* `truncate`: cut from the left as lm-eval's `hf` does, but counted;
* `error`: stop with an error naming the task, document and lengths.

Every affected document is counted per task in `LengthReport`, which `medlc eval` writes
into the results JSON.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lm_eval.api.instance import Instance

from medlc_tasks.exam.fit import fit_record, withhold_book
from medlc_tasks.exam.schema import BuiltRecord
from medlc_tasks.prompts import VARIANTS, render_prompt

logger = logging.getLogger(__name__)

POLICIES = ("fit", "truncate", "error")
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(BuiltRecord))


class OverLengthError(ValueError):
    """A prompt does not fit the model's window and the policy is `error`."""


@dataclass
class TaskLengthCounts:
    """Over-length outcomes for one task; documents are counted once however many options."""

    requests: int = 0
    over_length_requests: int = 0
    shortened_docs: list[int] = field(default_factory=list)
    flagged_docs: list[int] = field(default_factory=list)  # asked without the book
    truncated_docs: list[int] = field(default_factory=list)  # scored on a left-cut prompt
    passages_dropped: int = 0
    chars_dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "over_length_requests": self.over_length_requests,
            "docs_shortened": len(self.shortened_docs),
            "docs_flagged": len(self.flagged_docs),
            "docs_truncated": len(self.truncated_docs),
            "passages_dropped": self.passages_dropped,
            "chars_dropped": self.chars_dropped,
            "shortened_doc_ids": sorted(self.shortened_docs),
            "flagged_doc_ids": sorted(self.flagged_docs),
            "truncated_doc_ids": sorted(self.truncated_docs),
        }


@dataclass(frozen=True)
class _Fit:
    context: str
    action: str  # none | shortened | flagged | truncated
    passages_dropped: int = 0
    chars_dropped: int = 0


def exam_record(doc: Any) -> BuiltRecord | None:
    """The BuiltRecord a medlc task document carries, or None for any other document."""
    if not isinstance(doc, Mapping) or not all(name in doc for name in _RECORD_FIELDS):
        return None
    return BuiltRecord.from_dict({name: doc[name] for name in _RECORD_FIELDS})


def _renderer(record: BuiltRecord, doc: Mapping, context: str) -> Callable[[BuiltRecord], str] | None:
    """Re-renders `context` for a changed record: the prompt the task rendered is located in
    the context (a chat template or few-shot examples may surround it) and swapped."""
    for variant in VARIANTS:
        rendered = render_prompt(doc, variant)
        if rendered and rendered in context:
            head, _, tail = context.partition(rendered)
            return lambda r, v=variant: head + render_prompt(r, v) + tail
    return None


def fit_context(doc: Any, context: str, count_tokens: Callable[[str], int], budget: int) -> _Fit:
    """Apply the exam policy to one over-long prompt (see the module docstring)."""
    record = exam_record(doc)
    render = _renderer(record, doc, context) if record is not None else None
    if record is None or render is None:
        return _Fit(context, "truncated")
    fit = fit_record(record, render, count_tokens, budget)
    if fit.action == "shortened":
        return _Fit(render(fit.record), "shortened", fit.passages_dropped, fit.chars_dropped)
    if record.book:
        bookless = render(withhold_book(record))
        if count_tokens(bookless) <= budget:
            return _Fit(bookless, "flagged", len(record.passages), record.book_chars)
    return _Fit(context, "truncated")


class LengthGuard:
    """Checks every request against the window, applies the policy, and counts."""

    def __init__(self, policy: str, window: int):
        if policy not in POLICIES:
            raise ValueError(f"over_length={policy!r}; expected one of {POLICIES}")
        self.policy = policy
        self.window = window
        self.tasks: dict[str, TaskLengthCounts] = {}

    def _counts(self, instance: Instance) -> TaskLengthCounts:
        return self.tasks.setdefault(instance.task_name or "(no task)", TaskLengthCounts())

    def fit(
        self,
        group: Sequence[Instance],
        context: str,
        count_tokens: Callable[[str], int],
        needed: int,
        budget: int,
    ) -> str:
        """The context to score `group` (requests sharing `context`) with.

        `needed` is the tokens the group needs as it stands, `budget` the most prompt tokens
        `count_tokens(context)` may reach. Returns `context` itself when it fits.
        """
        first = group[0]
        counts = self._counts(first)
        counts.requests += len(group)
        if needed <= self.window:
            return context
        counts.over_length_requests += len(group)
        if self.policy == "error":
            raise OverLengthError(
                f"task {first.task_name!r} doc {first.doc_id}: prompt needs {needed} tokens, the "
                f"model window is {self.window} (over_length=error; use over_length=fit to "
                "shorten the book as the exam policy allows)"
            )
        outcome = (
            fit_context(first.doc, context, count_tokens, budget)
            if self.policy == "fit"
            else _Fit(context, "truncated")
        )
        logger.log(
            logging.INFO if outcome.action == "shortened" else logging.WARNING,
            "task %r doc %s: prompt needs %d tokens, window %d: %s",
            first.task_name,
            first.doc_id,
            needed,
            self.window,
            {
                "shortened": f"book shortened ({outcome.passages_dropped} passages dropped)",
                "flagged": "asked without its book (flagged)",
                "truncated": "cut from the left (counted)",
            }[outcome.action],
        )
        self._record(counts, first.doc_id, outcome)
        return outcome.context

    def _record(self, counts: TaskLengthCounts, doc_id: int | None, outcome: _Fit) -> None:
        target = {
            "shortened": counts.shortened_docs,
            "flagged": counts.flagged_docs,
            "truncated": counts.truncated_docs,
        }[outcome.action]
        key = -1 if doc_id is None else int(doc_id)
        if key not in target:
            target.append(key)
            counts.passages_dropped += outcome.passages_dropped
            counts.chars_dropped += outcome.chars_dropped

    def note_truncated(self, instance: Instance) -> None:
        """A request the policy let through but that still had to be cut (it is counted)."""
        counts = self._counts(instance)
        key = -1 if instance.doc_id is None else int(instance.doc_id)
        if key not in counts.truncated_docs:
            counts.truncated_docs.append(key)

    def report(self) -> dict[str, Any]:
        totals = {
            key: sum(c.as_dict()[key] for c in self.tasks.values())
            for key in (
                "requests",
                "over_length_requests",
                "docs_shortened",
                "docs_flagged",
                "docs_truncated",
                "passages_dropped",
            )
        }
        return {
            "policy": self.policy,
            "window": self.window,
            "totals": totals,
            "tasks": {name: c.as_dict() for name, c in sorted(self.tasks.items())},
        }

    def reset(self) -> None:
        self.tasks = {}


def replace_context(instance: Instance, context: str) -> Instance:
    """A copy of `instance` asking with `context`; lm-eval's own instance is left as built."""
    if instance.arguments[0] == context:
        return instance
    return dataclasses.replace(instance, arguments=(context, *instance.arguments[1:]))
