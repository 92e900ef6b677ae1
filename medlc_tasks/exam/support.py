"""What a passage says about an item: does it back the key, another option, or copy the gold?

The builder uses these to pick distractors and `validate-exam` uses the very same functions
to check a built exam, so a book the builder accepts is a book the validator accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medlc_tasks.exam.schema import ExamItem
from medlc_tasks.exam.textnorm import char_ngrams, contains_key, contains_term, coverage, match_key

# Shorter option texts ("是", "5") turn up in almost any passage and prove nothing.
MIN_OPTION_KEY_CHARS = 2


@dataclass(frozen=True)
class SupportRules:
    """Thresholds for near-duplicates and for 'this passage speaks to the question'."""

    near_duplicate_jaccard: float = 0.5  # char 3-gram Jaccard with the gold passage
    near_duplicate_containment: float = 0.8  # share of the shorter passage's 3-grams in the other
    # Without anchors, a passage is about the question when it holds this share of the
    # question's character bigrams.
    question_overlap: float = 0.5


# ExamItem.meta key: extra terms per option letter that back that option as well as its
# text does, e.g. {"A": ["袢利尿剂"]} when option A is 呋塞米. A passage naming the class
# supports the option just as the drug name would.
OPTION_ALIASES = "option_aliases"
# ExamItem.meta key: statements that contradict a counterfactual key without naming another
# option, e.g. ["妊娠期禁用"] when the fictional rule prescribes an ACE inhibitor in pregnancy.
CONFLICT_TERMS = "conflict_terms"


@dataclass(frozen=True)
class ItemFacts:
    """The parts of an item the checks need, precomputed once per item."""

    question: str
    options: dict[str, str]
    answer: str
    anchors: tuple[str, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    conflict_terms: tuple[str, ...] = ()
    question_grams: frozenset[str] = field(default=frozenset(), compare=False)
    # Match keys, computed once: checking a pool of thousands of passages reuses them.
    anchor_keys: tuple[str, ...] = field(default=(), compare=False)
    option_keys: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    conflict_keys: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def of(
        cls,
        question: str,
        options: dict[str, str],
        answer: str,
        anchors: list[str] | tuple[str, ...],
        aliases: dict[str, list[str]] | None = None,
        conflict_terms: list[str] | None = None,
    ) -> ItemFacts:
        frozen = {letter: tuple(terms) for letter, terms in (aliases or {}).items()}
        conflicts = tuple(conflict_terms or ())
        option_keys = {
            letter: tuple(key for key in map(match_key, (text, *frozen.get(letter, ()))) if _long_enough(key))
            for letter, text in options.items()
        }
        return cls(
            question, dict(options), answer, tuple(anchors), frozen, conflicts, char_ngrams(question, 2),
            tuple(map(match_key, anchors)), option_keys, tuple(map(match_key, conflicts)),
        )  # fmt: skip

    @classmethod
    def of_item(cls, item: ExamItem) -> ItemFacts:
        return cls.of_parts(item.question, item.options, item.answer, item.anchors, item.meta)

    @classmethod
    def of_parts(
        cls, question: str, options: dict[str, str], answer: str, anchors: list[str], meta: dict[str, Any]
    ) -> ItemFacts:
        """From an item's fields and its meta (where option aliases and conflict terms live)."""
        return cls.of(question, options, answer, anchors, meta.get(OPTION_ALIASES), meta.get(CONFLICT_TERMS))


def _long_enough(key: str) -> bool:
    return len(key.replace("|", "")) >= MIN_OPTION_KEY_CHARS


def mentions_item(
    passage: str,
    facts: ItemFacts,
    rules: SupportRules,
    passage_key: str | None = None,
    passage_bigrams: frozenset[str] | None = None,
) -> bool:
    """Whether a passage speaks about what the item asks: an anchor, or the question itself.

    `passage_key` and `passage_bigrams` are the passage's `match_key` and `char_ngrams(.., 2)`
    when the caller already has them.
    """
    key = match_key(passage) if passage_key is None else passage_key
    if facts.anchor_keys:
        return any(contains_key(key, anchor) for anchor in facts.anchor_keys)
    bigrams = char_ngrams(passage, 2) if passage_bigrams is None else passage_bigrams
    return coverage(facts.question_grams, bigrams) >= rules.question_overlap


def other_option_supported(
    passage: str, facts: ItemFacts, rules: SupportRules, passage_key: str | None = None
) -> str | None:
    """The first non-key option letter a passage backs, or None.

    A passage backs an option when it speaks about the item (see `mentions_item`) and
    contains that option's text or one of its aliases. Such a distractor would put two
    answers in one book.
    """
    key = match_key(passage) if passage_key is None else passage_key
    candidates = [
        letter
        for letter in facts.options
        if letter not in facts.answer and any(contains_key(key, term) for term in facts.option_keys[letter])
    ]
    if not candidates or not mentions_item(passage, facts, rules, key):
        return None
    return candidates[0]


def distractor_conflict(
    passage: str, facts: ItemFacts, rules: SupportRules, passage_key: str | None = None
) -> str | None:
    """Why a passage must not be this item's distractor, or None.

    It backs another option (`other_option_supported`), or it speaks about the item and
    states one of the item's conflict terms.
    """
    key = match_key(passage) if passage_key is None else passage_key
    letter = other_option_supported(passage, facts, rules, key)
    if letter is not None:
        return f"backs option {letter} {facts.options[letter]!r}"
    stated = [
        term
        for term, term_key in zip(facts.conflict_terms, facts.conflict_keys, strict=True)
        if contains_key(key, term_key)
    ]
    if stated and mentions_item(passage, facts, rules, key):
        return f"states {stated[0]!r}, which contradicts the key"
    return None


def missing_key_options(passage: str, facts: ItemFacts, passage_key: str | None = None) -> list[str]:
    """Keyed letters the passage names neither by option text nor by a meta.option_aliases
    term (empty = supports the key). An alias is how an author says "this explanation names
    the key in other words", so a listed paraphrase counts as named."""
    key = match_key(passage) if passage_key is None else passage_key
    return [
        letter
        for letter in facts.answer
        if not contains_term(key, facts.options[letter])
        and not any(contains_term(key, alias) for alias in facts.aliases.get(letter, ()))
    ]


def is_near_duplicate(a: frozenset[str], b: frozenset[str], rules: SupportRules) -> bool:
    """Similar enough by Jaccard, or one mostly inside the other (a passage quoting the gold).

    Both arguments are char 3-gram sets (`char_ngrams(text, 3)`).
    """
    if not a or not b:
        return False
    shared = len(a & b)
    jaccard = shared / (len(a) + len(b) - shared)
    containment = shared / min(len(a), len(b))
    return jaccard >= rules.near_duplicate_jaccard or containment >= rules.near_duplicate_containment
