"""Find and scrub answer leaks ("故选B", "答案：B", "B项正确", "选项C") from evidence text.

An explanation copied from an answer key usually ends by naming the keyed letter. Left in
the book, a model could answer by spotting "故选B" without reading anything, so every
passage is scrubbed before it enters a book and `validate-exam` checks none survived.

The letters only matter inside answer-ish phrases. "B超", "维生素B12", "乙型肝炎B",
"C反应蛋白" and "A型血" are ordinary medical text and must survive, so every pattern
needs an answer word (答案, 选, 项, 正确, option, answer ...) next to the letter, and a
letter glued to further Latin letters or digits never counts.

Text is expected to be NFKC-normalised already (full-width Ｂ and ： are plain B and :).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One letter or a run of letters such as "ACE", "A、C、E", "A和C", "A and C".
_LETTERS = r"[A-H](?:\s*(?:[、,/和及与或]|and|or)?\s*[A-H])*"
_NOT_AFTER_ALNUM = r"(?<![A-Za-z0-9])"
_NOT_BEFORE_ALNUM = r"(?![A-Za-z0-9])"
# After a letter named by an answer verb: the end, punctuation, or a word that continues an
# answer phrase. Any other Chinese character means the letter starts a term ("选B超检查").
_ANSWER_END = (
    _NOT_BEFORE_ALNUM + r"(?=$|[^\u4e00-\u9fff]|项|选项|正确|错误|不正确|对|错|为|是|的|与|和|都|均)"
)
_OPEN = r"[(\[【]?\s*"
_CLOSE = r"\s*[)\]】]?"
# Where a bare verdict ("B正确", "D对") may start: a new line, punctuation, or a connective.
_VERDICT_START = r"(?:^|(?<=[\s,;:。、(\[【])|(?<=故)|(?<=而)|(?<=即)|(?<=则)|(?<=所以)|(?<=因此)|(?<=其中))"

_PATTERNS = [
    # 故选B, 答案：B, 答案为B, 正确答案是B, 本题选D, 答案选ACE, 应选(C)
    rf"(?:答案|答|选择|选)\s*(?:应该|应当|应)?\s*(?:是|为|选|:)?\s*{_OPEN}{_NOT_AFTER_ALNUM}{_LETTERS}{_CLOSE}{_ANSWER_END}",
    # B项正确, A、B、C项均错误, D选项 -- but not "B项目"
    rf"{_NOT_AFTER_ALNUM}{_LETTERS}\s*(?:选项|项)(?!目)",
    # 选项C, 备选答案(D)
    rf"(?:选项|备选答案)\s*{_OPEN}{_LETTERS}{_NOT_BEFORE_ALNUM}",
    # 正确的是B, 最佳选择为D, 错误的一项是A
    rf"(?:正确|错误|最佳|最合适|最恰当)的?(?:选项|选择|答案|一项)?\s*(?:是|为|:)\s*{_OPEN}{_LETTERS}{_ANSWER_END}",
    # B正确, (B对), 其中D错误, C为正确答案 -- only where the letter starts a clause
    rf"{_VERDICT_START}\s*{_OPEN}{_LETTERS}{_CLOSE}\s*(?:说法)?"
    # "对" must not start 对照/对比/对于/对称/对应: "B对照组" is a study arm, not a verdict.
    r"(?:正确|错误|不正确|对(?![照比于称应])|错|为正确答案|是正确答案|为答案|是答案|为最佳答案|为最佳选择|符合题意|不符合题意)",
    # 排除A、B
    rf"排除\s*{_OPEN}{_LETTERS}{_ANSWER_END}",
    # English: "the answer is B", "Answer: (C)", "option D", "B is correct"
    rf"(?i:\b(?:the\s+)?(?:correct\s+|right\s+|best\s+)?answer\s*(?:is|:|=)\s*)\(?{_LETTERS}\)?{_NOT_BEFORE_ALNUM}",
    rf"(?i:\boptions?\s*)\(?{_LETTERS}\)?{_NOT_BEFORE_ALNUM}",
    rf"{_NOT_AFTER_ALNUM}\(?{_LETTERS}\)?\s+(?i:is\s+(?:the\s+)?(?:correct|right|answer|best))",
]
_LEAK = re.compile("|".join(f"(?:{pattern})" for pattern in _PATTERNS), re.MULTILINE)

# Sentence pieces: everything up to and including end punctuation or a newline, plus
# trailing whitespace, so the pieces tile the text exactly.
_SENTENCE = re.compile(r"(?:[^。!?;\n.]|\.(?!\s))*(?:(?:[。!?;]+|\.(?=\s))[\"'”’」』)\]]*|\n|$)\s*")
# A leak that fills a whole bracket, as in "本题考查心衰(B对)。", goes with its brackets only.
_BRACKETED = re.compile(r"[(\[【]\s*([^()\[\]【】]{1,24}?)\s*[)\]】]")
_CLAUSE = re.compile(r"[^,、:]*(?:[,、:]\s*|$)")
_TERMINATOR = re.compile(r"[。!?;.]+[\"'”’」』)\]]*$")


@dataclass(frozen=True)
class Scrubbed:
    text: str
    leaks: list[str]  # the phrases found, in order

    @property
    def count(self) -> int:
        return len(self.leaks)


def find_leaks(text: str) -> list[str]:
    """Every answer-leaking phrase in `text`."""
    return [match.group(0).strip() for match in _LEAK.finditer(text)]


def scrub_leaks(text: str) -> Scrubbed:
    """Remove each clause that holds a leak; a sentence left empty goes entirely.

    Whole clauses go, not just the letter: "故选B" minus "B" still says 故选, and "B项正确"
    minus "B" reads as nonsense. Surrounding clauses and sentences keep their wording.
    """
    leaks: list[str] = []

    def drop_bracket(match: re.Match[str]) -> str:
        inner = _LEAK.fullmatch(match.group(1)) or _LEAK.fullmatch(match.group(0))
        if inner is None:
            return match.group(0)
        leaks.append(match.group(0).strip())
        return ""

    text = _BRACKETED.sub(drop_bracket, text)
    spans = [match.span() for match in _LEAK.finditer(text)]
    if not spans:
        return Scrubbed(text.strip() if leaks else text, leaks)
    leaks += [text[start:end].strip() for start, end in spans]
    pieces = []
    for sentence in _SENTENCE.finditer(text):
        if sentence.start() == sentence.end():
            continue
        pieces.append(_scrub_sentence(text, sentence.start(), sentence.end(), spans))
    cleaned = re.sub(r"[ \t]+\n", "\n", "".join(pieces)).strip()
    # Removing a clause can join two fragments into a new leak ("选" + "B"); scrub again.
    again = scrub_leaks(cleaned) if _LEAK.search(cleaned) else None
    return Scrubbed(again.text, leaks + again.leaks) if again else Scrubbed(cleaned, leaks)


def _scrub_sentence(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> str:
    sentence = text[start:end]
    body = sentence.rstrip()
    trailing = sentence[len(body) :]
    clauses = [m for m in _CLAUSE.finditer(body) if m.start() != m.end()]
    kept, last_dropped = [], False
    for clause in clauses:
        lo, hi = start + clause.start(), start + clause.end()
        hit = any(s < hi and e > lo for s, e in spans)
        if not hit:
            kept.append(clause.group(0))
        last_dropped = hit
    if len(kept) == len(clauses):
        return sentence
    rebuilt = "".join(kept).rstrip()
    if not rebuilt:
        return ""
    if last_dropped:
        terminator = _TERMINATOR.search(body)
        rebuilt = rebuilt.rstrip(",、: ") + (terminator.group(0) if terminator else "")
    return rebuilt + trailing
