"""The over-length policy at scoring time: no prompt is cut from the left unseen.

A task may fit its documents to the model's window while loading (the medlc tasks do when
their metadata names the model); this guard is the backend's side of the same policy and
catches everything else: tasks loaded without the model in their metadata, chat templates
that add more than the reserved margin, other lm-eval tasks. For each request whose prompt
plus continuation exceeds the window it does one of:

* `fit` (default): ask the task. A document that names a fitter in its
  `overlength_fitter` field ("module:function", see `Fitter`) gets the task's own policy --
  for the medlc exam, `medlc_tasks.fitting`: drop distractor passages ("shortened"), or ask
  the item without its book ("flagged"). A document without a fitter, or one its fitter
  cannot fit, is cut from the left and counted ("truncated");
* `truncate`: cut from the left as lm-eval's `hf` does, but counted;
* `error`: stop with an error naming the task, document and lengths.

The backend knows nothing of any task's format: the fitter is found through the document.
Every affected document is counted per task, and every request cut from the left is booked
to the task that sent it; `MedlcLM.medlc_report()` returns the counts.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from lm_eval.api.instance import Instance

logger = logging.getLogger(__name__)

POLICIES = ("fit", "truncate", "error")
# The document field through which a task names its fitter, as "module:function".
FITTER_FIELD = "overlength_fitter"


class FittedPrompt(Protocol):
    """What a fitter returns: the prompt to score and what was done to get it."""

    context: str
    action: str  # "shortened" or "flagged"
    passages_dropped: int
    chars_dropped: int


# fitter(doc, context, count_tokens, budget): a prompt of at most `budget` tokens that asks
# the same item, or None when the task has no way to shorten this one.
Fitter = Callable[[Mapping[str, Any], str, Callable[[str], int], int], "FittedPrompt | None"]


class OverLengthError(ValueError):
    """A prompt does not fit the model's window and the policy is `error`."""


@dataclass
class TaskLengthCounts:
    """Over-length outcomes for one task; documents are counted once however many options."""

    requests: int = 0
    over_length_requests: int = 0
    left_cut_requests: int = 0  # requests scored on a prompt cut from the left
    shortened_docs: list[int] = field(default_factory=list)
    flagged_docs: list[int] = field(default_factory=list)  # asked without the book
    truncated_docs: list[int] = field(default_factory=list)  # scored on a left-cut prompt
    passages_dropped: int = 0
    chars_dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "over_length_requests": self.over_length_requests,
            "left_cut_requests": self.left_cut_requests,
            "docs_shortened": len(self.shortened_docs),
            "docs_flagged": len(self.flagged_docs),
            "docs_truncated": len(self.truncated_docs),
            "passages_dropped": self.passages_dropped,
            "chars_dropped": self.chars_dropped,
            "shortened_doc_ids": sorted(self.shortened_docs),
            "flagged_doc_ids": sorted(self.flagged_docs),
            "truncated_doc_ids": sorted(self.truncated_docs),
        }


TOTAL_KEYS = (
    "requests",
    "over_length_requests",
    "left_cut_requests",
    "docs_shortened",
    "docs_flagged",
    "docs_truncated",
    "passages_dropped",
)


@dataclass(frozen=True)
class _Fit:
    context: str
    action: str  # shortened | flagged | truncated
    passages_dropped: int = 0
    chars_dropped: int = 0


@cache
def _load_fitter(reference: str) -> Fitter:
    module, _, name = reference.partition(":")
    try:
        fitter = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"{FITTER_FIELD}={reference!r}: expected an importable 'module:function' ({err})"
        ) from err
    if not callable(fitter):
        raise ValueError(f"{FITTER_FIELD}={reference!r} is not callable")
    return fitter


def doc_fitter(doc: Any) -> Fitter | None:
    """The fitter a task document names in its `overlength_fitter` field, or None."""
    reference = doc.get(FITTER_FIELD) if isinstance(doc, Mapping) else None
    return _load_fitter(reference) if reference else None


def _doc_key(instance: Instance) -> int:
    return -1 if instance.doc_id is None else int(instance.doc_id)


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
        """The context to score `group` (requests of one task sharing `context`) with.

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
                f"model window is {self.window} (over_length=error; over_length=fit lets the "
                "task shorten it)"
            )
        outcome = self._ask_task(first, context, count_tokens, budget) if self.policy == "fit" else None
        outcome = outcome or _Fit(context, "truncated")
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
        self._record(counts, _doc_key(first), outcome)
        return outcome.context

    @staticmethod
    def _ask_task(
        instance: Instance, context: str, count_tokens: Callable[[str], int], budget: int
    ) -> _Fit | None:
        fitter = doc_fitter(instance.doc)
        fitted = fitter(instance.doc, context, count_tokens, budget) if fitter else None
        if fitted is None:
            return None
        if fitted.action not in ("shortened", "flagged"):
            raise ValueError(f"task {instance.task_name!r}: fitter returned action {fitted.action!r}")
        return _Fit(fitted.context, fitted.action, fitted.passages_dropped, fitted.chars_dropped)

    def _record(self, counts: TaskLengthCounts, doc: int, outcome: _Fit) -> None:
        target = {
            "shortened": counts.shortened_docs,
            "flagged": counts.flagged_docs,
            "truncated": counts.truncated_docs,
        }[outcome.action]
        if doc not in target:
            target.append(doc)
            counts.passages_dropped += outcome.passages_dropped
            counts.chars_dropped += outcome.chars_dropped

    def note_left_cut(self, instance: Instance) -> None:
        """`instance` is scored on a prompt cut from the left: booked to its own task."""
        counts = self._counts(instance)
        counts.left_cut_requests += 1
        if _doc_key(instance) not in counts.truncated_docs:
            counts.truncated_docs.append(_doc_key(instance))

    def report(self) -> dict[str, Any]:
        tasks = {name: c.as_dict() for name, c in sorted(self.tasks.items())}
        return {
            "policy": self.policy,
            "window": self.window,
            "totals": {key: sum(t[key] for t in tasks.values()) for key in TOTAL_KEYS},
            "tasks": tasks,
        }

    def reset(self) -> None:
        self.tasks = {}


def replace_context(instance: Instance, context: str) -> Instance:
    """A copy of `instance` asking with `context`; lm-eval's own instance is left as built."""
    if instance.arguments[0] == context:
        return instance
    return dataclasses.replace(instance, arguments=(context, *instance.arguments[1:]))
