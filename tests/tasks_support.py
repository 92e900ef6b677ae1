"""Shared by the tests/test_tasks_*.py files: the fixture exam, how to run the medlc tasks
through lm-eval exactly as the CLI does, and scripted LMs whose answers are known."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

REPO = Path(__file__).resolve().parents[1]
TASKS_DIR = REPO / "medlc_tasks"
FIXTURE_EXAM = REPO / "tests" / "fixtures" / "tasks_exam"
FIXTURE_SCRIPT = REPO / "tests" / "fixtures" / "tasks_make_exam.py"

sys.path.insert(0, str(FIXTURE_SCRIPT.parent))
import tasks_make_exam  # noqa: E402  (the fixture's generator holds the items' facts)

ITEMS = {item.id: item for item in tasks_make_exam.ITEMS}
SINGLE_ANSWER_IDS = [i for i, item in ITEMS.items() if len(item.answer) == 1]


def evaluate(
    tasks: list[str],
    model: Any,
    model_args: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    model_args_in_metadata: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """medlc.scoring.evaluate on the fixture exam, with the task metadata the `lm_eval`
    CLI would build (parsed --model_args merged with --metadata). `model` is an LM or a
    registry name built from `model_args`. With `model_args_in_metadata=False` the tasks
    are not told the model, as when a caller hands simple_evaluate its own TaskManager.
    `kwargs` are `ScoringOptions` fields."""
    from medlc import scoring

    told = dict(model_args or {}) if model_args_in_metadata else {}
    merged = told | {"exam_dir": str(FIXTURE_EXAM)} | dict(metadata or {})
    manager = scoring.task_manager(merged)
    kwargs.setdefault("bootstrap_iters", 0)
    backend = model if isinstance(model, str) else type(model).__name__
    lm = scoring.build_lm(model, model_args or {}) if isinstance(model, str) else model
    return scoring.evaluate(lm, tasks, manager, scoring.ScoringOptions(**kwargs), backend, model_args or {})


def metric(results: dict[str, Any], task: str, key: str) -> Any:
    """One metric of a task or group, whatever filter it was reported under."""
    row = results["results"][task]
    found = [value for name, value in row.items() if name.split(",")[0] == key and "," in name]
    assert len(found) == 1, f"{task}: expected one {key!r}, found keys {sorted(row)}"
    return found[0]


def reported_keys(results: dict[str, Any], task: str) -> set[str]:
    return {name.split(",")[0] for name in results["results"][task] if "," in name and "_stderr" not in name}


def wrong_letter(doc: dict) -> str:
    return next(letter for letter in doc["choices"] if letter not in doc["answer"])


class ScriptedLM(LM):
    """A real lm-eval LM that answers each item right or wrong as `is_correct(doc)` says.

    Log-likelihood: the keyed option (its letter, or its text for cloze) gets 0.0 and the
    others -10.0 when the item is to be right, the reverse when it is to be wrong.
    Generation: `reply(doc)`, by default the keyed letters or a wrong letter.
    """

    def __init__(self, is_correct: Callable[[dict], bool], reply: Callable[[dict], str] | None = None):
        super().__init__()
        self.is_correct = is_correct
        self.reply = reply or (lambda doc: doc["answer"] if is_correct(doc) else wrong_letter(doc))

    def loglikelihood(self, requests):
        scores = []
        for request in requests:
            doc = request.doc
            _, continuation = request.args
            key_text = doc["options"][doc["answer_index"]]
            is_key = continuation.strip() in (doc["answer"], key_text)
            scores.append((0.0, True) if is_key == self.is_correct(doc) else (-10.0, False))
        return scores

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError("no medlc task scores rolling log-likelihood")

    def generate_until(self, requests):
        return [self.reply(request.doc) for request in requests]
