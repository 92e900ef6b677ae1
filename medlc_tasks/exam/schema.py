"""The types that flow through the exam builder, and the on-disk format of a built exam.

A built exam is a directory:

    manifest.json                 provenance, counts, drops, leaks, per-bucket char stats
    closedbook.v1.jsonl           one BuiltRecord per item, book == ""
    openbook_1k.v1.jsonl          one BuiltRecord per item, book of ~1,000 characters
    ...                           one file per bucket in manifest["buckets"]

Every line of every file is `BuiltRecord.to_json()`; keys are sorted so files are
byte-identical for the same inputs and seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1
LETTERS = "ABCDEFGH"
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Bucket name -> target book length in characters.
DEFAULT_BUCKETS: dict[str, int] = {
    "1k": 1_000,
    "2k": 2_000,
    "4k": 4_000,
    "8k": 8_000,
    "16k": 16_000,
    "32k": 32_000,
}
PASSAGE_SEPARATOR = "\n\n"


def bucket_file(bucket: str) -> str:
    return f"openbook_{bucket}.v{FORMAT_VERSION}.jsonl"


CLOSEDBOOK_FILE = f"closedbook.v{FORMAT_VERSION}.jsonl"
MANIFEST_FILE = "manifest.json"


@dataclass
class ExamItem:
    """One normalised exam question, as every loader produces it."""

    id: str
    question: str
    # letter -> option text, in source order; a slot the source left empty is absent and
    # the others keep their letters (usually A, B, C ...; a middle gap stays a gap)
    options: dict[str, str]
    answer: str  # keyed letters, sorted, e.g. "B" or "ACE"
    evidence: str  # the gold passage (explanation, analysis or reference passage)
    department: str = ""
    difficulty: str = ""
    counterfactual: bool = False
    # True where the counterfactual key contradicts what a clinician would answer from
    # memory; `common_knowledge_answer` then says what memory would pick.
    contradicts_common_knowledge: bool = False
    common_knowledge_answer: str = ""
    # Terms that say what the question is about (a drug, a disease, a rule). A passage that
    # mentions an anchor and a non-key option speaks to this question with another answer.
    anchors: list[str] = field(default_factory=list)
    source: str = ""  # file name the item came from
    source_row: int = -1  # 1-based row/line in that file
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_multi_answer(self) -> bool:
        return len(self.answer) > 1


@dataclass
class PreparedItem:
    """An item whose evidence is final, with what happened to it on the way to its books.

    The builder fills it stage by stage and the manifest reports it; it lives here, with the
    other types that flow between stages, so both import it from one place.
    """

    item: ExamItem
    leaks: list[str]
    evidence_from: str  # "explanation" or the reference passage ("ref:<file>#<n>")
    # Passages refused as this item's distractors while ranking (filled in by ranking).
    refused_conflicting: int = 0
    refused_near_duplicates: int = 0
    refused_unbalancing: int = 0  # would have named one option more often than the others (balance.py)
    siblings: list[str] = field(default_factory=list)  # ids of items sharing a stem or option set
    sibling_passages_excluded: int = 0
    decoys: list[dict[str, Any]] = field(default_factory=list)  # letters, source, chars per decoy
    decoys_unavailable: list[str] = field(default_factory=list)  # non-key letters no usable passage names
    decoys_missing: dict[str, list[str]] = field(default_factory=dict)  # bucket -> letters its book lacks


@dataclass
class BuiltRecord:
    """One line of a built exam file: an item plus the book it is asked with."""

    id: str
    question: str
    choices: list[str]  # option letters, in order, e.g. ["A", "B", "C", "D", "E"]
    options: list[str]  # option texts, aligned with `choices`
    answer: str  # keyed letters, sorted
    answer_index: int  # index into choices of the key; -1 for multi-answer items
    multi_answer: bool
    department: str
    difficulty: str
    counterfactual: bool
    contradicts_common_knowledge: bool
    bucket: str  # "closed" or a bucket name such as "4k"
    target_chars: int  # 0 for closed book
    depth: float  # requested gold depth in [0, 1]; -1.0 for closed book
    passages: list[str]  # the book's passages in order; joined by PASSAGE_SEPARATOR
    gold_index: int  # index of the gold passage in `passages`; -1 for closed book
    book: str  # PASSAGE_SEPARATOR.join(passages)
    book_chars: int
    gold_char_offset: int  # where the gold passage starts in `book`; -1 for closed book
    passage_sources: list[str] = field(default_factory=list)  # item id or "ref:<file>#<n>"
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuiltRecord:
        return cls(**data)
