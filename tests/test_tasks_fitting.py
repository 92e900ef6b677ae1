"""The exam's over-length hook: task documents name it, and it fits a prompt a backend
will send (one character = one token here)."""

from __future__ import annotations

from dataclasses import asdict

from medlc.backend.length import FITTER_FIELD, doc_fitter
from medlc_tasks import fitting
from medlc_tasks.exam.fit import withhold_book
from medlc_tasks.loading import build_docs
from medlc_tasks.prompts import render_prompt

from backend_support import record
from tasks_support import FIXTURE_EXAM

WRAP_HEAD, WRAP_TAIL = "<|user|>\n", "<|end|>\n<|assistant|>\n"


def test_loaded_docs_name_the_fitter_the_backend_looks_up():
    docs, _ = build_docs(FIXTURE_EXAM, "1k", "cloze", None)
    assert doc_fitter(docs[0]) is fitting.fit_cloze
    assert FITTER_FIELD == fitting.FITTER_FIELD


def test_book_is_shortened_inside_a_chat_wrapper_and_the_wrapper_kept():
    item = record(0)
    doc = asdict(item)
    context = WRAP_HEAD + render_prompt(doc, "letter") + WRAP_TAIL
    fitted = fitting.fit_letter(doc, context, len, len(context) - len(item.passages[-1]))
    assert fitted.action == "shortened" and fitted.passages_dropped >= 1
    assert fitted.context.startswith(WRAP_HEAD) and fitted.context.endswith(WRAP_TAIL)
    assert item.passages[item.gold_index] in fitted.context and item.passages[-1] not in fitted.context


def test_item_whose_gold_cannot_fit_is_asked_without_its_book():
    item = record(0)
    bookless = render_prompt(withhold_book(item), "letter")
    fitted = fitting.fit_letter(asdict(item), render_prompt(item, "letter"), len, len(bookless))
    assert (fitted.action, fitted.context) == ("flagged", bookless)


def test_a_prompt_that_is_not_the_items_own_is_left_to_the_backend():
    doc = asdict(record(0))
    assert fitting.fit_letter(doc, "an unrelated prompt " * 50, len, 100) is None
