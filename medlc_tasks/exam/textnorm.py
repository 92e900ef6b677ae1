"""Text plumbing every exam stage shares: decoding, NFKC, sentence splitting, n-grams.

Chinese exam files arrive as UTF-8 or GB18030 and often contain look-alike characters
(Kangxi radicals such as U+2F08 for 人, full-width letters such as Ｂ). Everything the builder
compares or writes goes through `normalize` first, so "Ｂ项正确" and "B项正确" are one phrase
and a question's radicals match the same ideographs in its evidence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from medlc_core.errors import UserError

AUTO_ENCODINGS = ("utf-8", "gb18030")
KNOWN_ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gb18030")


class SourceError(UserError, ValueError):
    """Bad input, located: the file, the row (or byte) and what was expected."""

    def __init__(self, source: str, where: str, problem: str):
        self.source, self.where, self.problem = source, where, problem
        super().__init__(f"{source}, {where}: {problem}")


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # the encoding actually used, never "auto"
    undecodable_bytes: int = 0  # bytes replaced by U+FFFD (only when not strict)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode_error(name: str, encoding: str, data: bytes, err: UnicodeDecodeError) -> str:
    return (
        f"not valid {encoding}: undecodable bytes {data[err.start : err.end]!r} "
        f"at byte {err.start} (line {_line_of(data, err.start)})"
    )


def decode_bytes(data: bytes, name: str, encoding: str = "auto", strict: bool = True) -> DecodedText:
    """Decode a source file's bytes with a stated or detected encoding.

    `auto` tries UTF-8 (a leading BOM is dropped) and then GB18030, both strictly: GB18030
    accepts nearly any byte string, so it must come second or every UTF-8 file would pass
    as GB18030 gibberish. When neither decodes, strict mode raises with the byte offset and
    line; otherwise the encoding that got furthest is used with U+FFFD for the bad bytes,
    and the rows holding them are dropped by the loader.
    """
    if encoding not in KNOWN_ENCODINGS:
        raise SourceError(
            name, "encoding", f"unknown encoding {encoding!r}; expected one of {KNOWN_ENCODINGS}"
        )
    candidates = AUTO_ENCODINGS if encoding == "auto" else (encoding,)
    failures: list[tuple[str, UnicodeDecodeError]] = []
    for candidate in candidates:
        codec = "utf-8-sig" if candidate == "utf-8" else candidate
        try:
            return DecodedText(data.decode(codec, errors="strict"), candidate)
        except UnicodeDecodeError as err:
            failures.append((candidate, err))
    if strict:
        detail = "; ".join(_decode_error(name, enc, data, err) for enc, err in failures)
        hint = " (pass --encoding to state it)" if encoding == "auto" else ""
        raise SourceError(name, f"byte {failures[0][1].start}", detail + hint)
    best, _ = max(failures, key=lambda failure: failure[1].start)
    codec = "utf-8-sig" if best == "utf-8" else best
    text = data.decode(codec, errors="replace")
    return DecodedText(text, best, undecodable_bytes=text.count("\ufffd"))


def read_text(path: str | Path, encoding: str = "auto", strict: bool = True) -> DecodedText:
    path = Path(path)
    return decode_bytes(path.read_bytes(), path.name, encoding, strict)


_SPACES = re.compile(r"[ \t\u3000]+")


def normalize(text: str) -> str:
    """NFKC, Unix newlines, runs of spaces collapsed, ends stripped."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _SPACES.sub(" ", text).strip()


# A sentence ends at Chinese or English end punctuation (NFKC has already turned ？！；
# into ?!;), optionally followed by closing quotes or brackets. An ASCII full stop only
# ends a sentence before whitespace, so "2.5 mg" and "IgA." inside a word stay whole.
_SENTENCE_END = re.compile(r"(?:[。!?;…]+|\.(?=\s))[\"'”’」』)\]]*\s*|\n+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, terminator included, surrounding whitespace excluded."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        _append_span(spans, text, start, match.end())
        start = match.end()
    _append_span(spans, text, start, len(text))
    return spans


def _append_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    if piece.strip():
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + len(piece.rstrip())))


def split_sentences(text: str) -> list[str]:
    """Split at sentence ends, keeping each terminator with its sentence."""
    return [text[start:end] for start, end in sentence_spans(text)]


_CLAUSE_END = re.compile(r"[,，、:]\s*")


def split_clauses(sentence: str) -> list[str]:
    """Split a sentence at commas and colons, keeping each separator with its clause."""
    clauses, start = [], 0
    for match in _CLAUSE_END.finditer(sentence):
        clauses.append(sentence[start : match.end()])
        start = match.end()
    if start < len(sentence):
        clauses.append(sentence[start:])
    return [clause for clause in clauses if clause.strip()]


_SPACE_RUN = re.compile(r"\s+")
_PUNCT_RUN = re.compile(r"[\W_]+")


def match_key(text: str) -> str:
    """What 'contains this text' compares: lower case, no spaces, each run of punctuation one '|'.

    Spaces vanish so "5 mg" matches "5mg"; punctuation becomes a separator rather than
    vanishing so "5%～10%" still ends before "(50～100 ml/kg)" instead of running into it,
    and "阿司匹林+氯吡格雷" matches "阿司匹林、氯吡格雷".
    """
    return _PUNCT_RUN.sub("|", _SPACE_RUN.sub("", text.lower())).strip("|")


def _gram_key(text: str) -> str:
    return _PUNCT_RUN.sub("", text.lower())


def char_ngrams(text: str, n: int) -> frozenset[str]:
    """Character n-grams of the text without spaces or punctuation; a short text is one gram."""
    key = _gram_key(text)
    if len(key) <= n:
        return frozenset([key]) if key else frozenset()
    return frozenset(key[i : i + n] for i in range(len(key) - n + 1))


def coverage(part: frozenset[str], whole: frozenset[str]) -> float:
    """Share of `part`'s n-grams that also occur in `whole`."""
    if not part:
        return 0.0
    return len(part & whole) / len(part)


def contains_term(haystack_key: str, term: str) -> bool:
    """Whether a match key holds `term` as a whole term.

    A term must not run on into more of the same kind of character at either end: digits
    into digits (option "5 mg" is not in "15 mg") or Latin letters into Latin letters ("IgA"
    is not in "IgAN"). A letter beside a digit is a boundary: "1500 IU" is in "维生素D 1500 IU".
    """
    return contains_key(haystack_key, match_key(term))


def contains_key(haystack_key: str, needle: str) -> bool:
    """`contains_term` for a needle that is already a match key (the hot path)."""
    return next(_term_starts(haystack_key, needle), None) is not None


def count_key(haystack_key: str, needle: str) -> int:
    """How many times a match key holds `needle` as a whole term, without overlaps."""
    return sum(1 for _ in _term_starts(haystack_key, needle))


def _term_starts(haystack_key: str, needle: str):
    """Start offsets of `needle` as a whole term (see `contains_term`), left to right, no overlaps."""
    if not needle:
        return
    start = haystack_key.find(needle)
    while start != -1:
        end = start + len(needle)
        before_ok = start == 0 or not _same_kind(needle[0], haystack_key[start - 1])
        after_ok = end == len(haystack_key) or not _same_kind(needle[-1], haystack_key[end])
        if before_ok and after_ok:
            yield start
            start = haystack_key.find(needle, end)
        else:
            start = haystack_key.find(needle, start + 1)


def _same_kind(a: str, b: str) -> bool:
    if not (a.isascii() and b.isascii()):
        return False
    return (a.isdigit() and b.isdigit()) or (a.isalpha() and b.isalpha())
