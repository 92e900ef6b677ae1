"""Sibling questions: items whose explanations must stay out of each other's books.

Real exams group questions: several ask about one case stem ("患者，女，45岁。……" then
"最可能的诊断是" / "首选的检查是"), and matching-type questions share one option list. A
sibling's explanation often names this item's answer in words the literal conflict check
cannot see ("本例即为……"), so a sibling's passage is never a distractor or a decoy.

Two items are siblings when

- their questions share a prefix of at least `stem_chars` characters that ends at a
  sentence end (。!?;); a common preface that stops mid-sentence ("按《……规程》，") is not a
  case stem, or
- they have the same option texts (compared as a set of match keys, so order and
  punctuation do not matter), at least `MIN_SHARED_OPTIONS` of them, so two yes/no items
  are not siblings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable

from medlc_tasks.exam.schema import ExamItem
from medlc_tasks.exam.textnorm import match_key

STEM_ENDS = "。!?;"
MIN_SHARED_OPTIONS = 3


def find_siblings(items: Iterable[ExamItem], stem_chars: int) -> dict[str, list[str]]:
    """Each item id with a sibling -> its siblings' ids, in item order."""
    items = list(items)
    groups: dict[Hashable, list[str]] = defaultdict(list)
    for item in items:
        for key in _group_keys(item, stem_chars):
            groups[key].append(item.id)
    order = {item.id: position for position, item in enumerate(items)}
    siblings: dict[str, set[str]] = defaultdict(set)
    for members in groups.values():
        for member in members:
            siblings[member].update(other for other in members if other != member)
    return {
        item_id: sorted(found, key=order.__getitem__)
        for item_id, found in sorted(siblings.items(), key=lambda pair: order[pair[0]])
        if found
    }


def _group_keys(item: ExamItem, stem_chars: int) -> list[Hashable]:
    """Every stem prefix ending at a sentence end, and the option set, as grouping keys."""
    question = item.question
    keys: list[Hashable] = [
        ("stem", question[:end])
        for end in range(stem_chars, len(question) + 1)
        if question[end - 1] in STEM_ENDS
    ]
    option_keys = frozenset(key for key in map(match_key, item.options.values()) if key)
    if len(option_keys) >= MIN_SHARED_OPTIONS:
        keys.append(("options", option_keys))
    return keys
