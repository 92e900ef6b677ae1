"""What a passage says about an item: does it back the key, another option, or copy the gold?

The builder uses these to pick distractors and `validate-exam` uses the very same functions
to check a built exam, so a book the builder accepts is a book the validator accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medlc_tasks.exam.schema import ExamItem
from medlc_tasks.exam.textnorm import char_ngrams, containment, contains_term, coverage, jaccard, match_key

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


@dataclass(frozen=True)
class ItemFacts:
    """The parts of an item the checks need, precomputed once per item."""

    question: str
    options: dict[str, str]
    answer: str
    anchors: tuple[str, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    question_grams: frozenset[str] = field(default=frozenset(), compare=False)

    @classmethod
    def of(
        cls,
        question: str,
        options: dict[str, str],
        answer: str,
        anchors: list[str] | tuple[str, ...],
        aliases: dict[str, list[str]] | None = None,
    ) -> ItemFacts:
        frozen = {letter: tuple(terms) for letter, terms in (aliases or {}).items()}
        return cls(question, dict(options), answer, tuple(anchors), frozen, char_ngrams(question, 2))

    def terms(self, letter: str) -> list[str]:
        """The option's text and its aliases, less those too short to prove anything."""
        found = [self.options[letter], *self.aliases.get(letter, ())]
        return [term for term in found if len(match_key(term).replace("|", "")) >= MIN_OPTION_KEY_CHARS]


def mentions_item(
    passage: str, facts: ItemFacts, rules: SupportRules, passage_key: str | None = None
) -> bool:
    """Whether a passage speaks about what the item asks: an anchor, or the question itself."""
    key = match_key(passage) if passage_key is None else passage_key
    if facts.anchors:
        return any(contains_term(key, anchor) for anchor in facts.anchors)
    return coverage(facts.question_grams, char_ngrams(passage, 2)) >= rules.question_overlap


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
        if letter not in facts.answer and any(contains_term(key, term) for term in facts.terms(letter))
    ]
    if not candidates or not mentions_item(passage, facts, rules, key):
        return None
    return candidates[0]


def missing_key_options(passage: str, facts: ItemFacts) -> list[str]:
    """Keyed letters whose option text the passage does not contain (empty = supports the key)."""
    key = match_key(passage)
    return [letter for letter in facts.answer if not contains_term(key, facts.options[letter])]


def facts_of(item: ExamItem) -> ItemFacts:
    return ItemFacts.of(item.question, item.options, item.answer, item.anchors, item.meta.get(OPTION_ALIASES))


def is_near_duplicate(a: frozenset[str], b: frozenset[str], rules: SupportRules) -> bool:
    """Both arguments are char 3-gram sets (`char_ngrams(text, 3)`)."""
    return (
        jaccard(a, b) >= rules.near_duplicate_jaccard or containment(a, b) >= rules.near_duplicate_containment
    )
