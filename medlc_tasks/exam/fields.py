"""Parsing one row's fields: text, options, answer letters, and the meta keys medlc reads.

Every problem is a `RowError` with a kind the manifest counts; the loader adds the file and
row to the message.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from medlc_tasks.exam.schema import LETTERS
from medlc_tasks.exam.support import CONFLICT_TERMS, OPTION_ALIASES
from medlc_tasks.exam.textnorm import normalize


class RowError(ValueError):
    """A bad row: `kind` is the stable key drops are counted by (missing_answer, ...)."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def conflict_terms(terms: Any) -> list[str]:
    """meta.conflict_terms checked (a list of non-empty text) and normalised."""
    if not isinstance(terms, list) or not all(isinstance(term, str) and term.strip() for term in terms):
        raise RowError("malformed_row", f"meta.{CONFLICT_TERMS} must be a list of non-empty strings")
    return [normalize(term) for term in terms]


def option_aliases(aliases: Any, options: dict[str, str]) -> dict[str, list[str]]:
    """meta.option_aliases checked (letters among the options, lists of text) and normalised."""
    valid = isinstance(aliases, dict) and all(
        normalize(str(letter)).upper() in options
        and isinstance(terms, list)
        and all(isinstance(term, str) for term in terms)
        for letter, terms in aliases.items()
    )
    if not valid:
        expected = f"an object from option letters ({', '.join(options)}) to lists of strings"
        raise RowError("malformed_row", f"meta.{OPTION_ALIASES} must be {expected}")
    return {
        normalize(str(letter)).upper(): [normalize(term) for term in terms]
        for letter, terms in aliases.items()
    }


def text_of(value: Any) -> str:
    """A field as normalised text; None is empty, a nested object is a malformed row."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise RowError("malformed_row", f"expected text, got {type(value).__name__}")
    return normalize(str(value))


_OPTION_LINE = re.compile(r"^([A-Ha-h])\s*[.、:)\]]?\s*(.*)$", re.DOTALL)


class ParsedOptions(NamedTuple):
    options: dict[str, str]  # letter -> text, the slots that hold text, in source order
    empty: list[str]  # letters of the slots whose text was empty, removed from `options`


def parse_options(raw: Any) -> ParsedOptions:
    """Options from a letter dict, a list, a JSON string of either, or lines "A xxx".

    An option whose text is empty after normalisation is absent: real exports leave `E`
    as "" on 4-option items. The other options keep the letters the source gave them (no
    re-lettering), so the keyed letters and any letter an explanation names still point
    at the same texts; a removed slot in the middle leaves a gap (A, B, D, E). The slots
    as listed must still run A, B, C ... without gaps, and at least 2 must hold text.
    An item with no option text at all (options that were images) is `no_option_text`.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise RowError("no_option_text", "no option text: the options field is empty")
    if isinstance(raw, str):
        stripped = raw.strip()
        if stripped[:1] in "[{":
            try:
                raw = json.loads(stripped)
            except json.JSONDecodeError:
                pass
    if isinstance(raw, dict):
        pairs = [(normalize(str(key)).upper(), text_of(value)) for key, value in raw.items()]
    elif isinstance(raw, list):
        pairs = [
            (LETTERS[i] if i < len(LETTERS) else "?", _strip_letter(text_of(v), i)) for i, v in enumerate(raw)
        ]
    else:
        pairs = []
        for line in filter(None, (line.strip() for line in normalize(str(raw)).split("\n"))):
            match = _OPTION_LINE.match(line)
            if match is None:
                raise RowError("malformed_row", f"option line {line!r} does not start with a letter A-H")
            pairs.append((match.group(1).upper(), match.group(2).strip()))
    letters = [letter for letter, _ in pairs]
    if letters != list(LETTERS[: len(letters)]):
        raise RowError(
            "malformed_row", f"option letters must run A, B, C ... without gaps; got {', '.join(letters)}"
        )
    options = {letter: text for letter, text in pairs if text}
    empty = [letter for letter, text in pairs if not text]
    if not options:
        slots = f"all {len(pairs)} options are empty" if pairs else "there are no options"
        raise RowError("no_option_text", f"no option text: {slots} (were they images?)")
    if len(options) < 2:
        only = ", ".join(options)
        raise RowError("malformed_row", f"expected at least 2 options with text, got only {only}")
    return ParsedOptions(options, empty)


def _strip_letter(text: str, index: int) -> str:
    """List options are often written "A. xxx"; drop the letter when it is the expected one."""
    match = _OPTION_LINE.match(text)
    if index >= len(LETTERS) or match is None or text[1:2] not in ".、:) ":
        return text
    if match.group(1).upper() == LETTERS[index] and match.group(2).strip():
        return match.group(2).strip()
    return text


def parse_answer(raw: Any, options: dict[str, str], empty: list[str] | tuple[str, ...] = ()) -> str:
    """Keyed letters, sorted and de-duplicated: "A, C, E", "ace" and "ECA" all give "ACE".

    `empty` are the letters of option slots removed for having no text; a key naming one
    is refused with that reason rather than as an unknown letter.
    """
    text = text_of(raw)
    if not text:
        raise RowError("missing_answer", "missing answer")
    letters = re.sub(r"[\s,、;/|和及]+", "", text).upper()
    if not re.fullmatch(r"[A-Z]+", letters):
        raise RowError("answer_not_in_options", f"answer {text!r} is not option letters")
    blank = sorted(set(letters) & set(empty))
    if blank:
        named = f"answer {text!r} names option {', '.join(blank)}"
        raise RowError("answer_not_in_options", f"{named}, which has no text")
    outside = sorted(set(letters) - set(options))
    if outside:
        named = f"answer {text!r}" if len(set(letters)) == 1 else f"answer {text!r}: {', '.join(outside)}"
        raise RowError("answer_not_in_options", f"{named} is not among the options {', '.join(options)}")
    return "".join(sorted(set(letters)))


def letter_of_answer_text(answer_text: Any, options: dict[str, str]) -> str:
    """MedQA rows without answer_idx still carry the answer text; find its letter."""
    text = text_of(answer_text)
    matches = [letter for letter, option in options.items() if option == text]
    return matches[0] if len(matches) == 1 else ""
