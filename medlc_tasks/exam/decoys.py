"""Decoys: for every non-key option, a passage that names it without making it the answer.

A book in which only the gold names an option's text gives the answer away to a string
matcher (see balance.py). So each item's book also holds, for every non-key option L, a
*decoy*: a passage that names L in some other context. A pool passage (another item's
evidence, or a reference passage) is a usable decoy for (item, L) when it

1. names L's option text, or one of `meta.option_aliases[L]`, as a whole term
   (`textnorm.contains_key` on match keys; option texts under 2 characters never count);
2. is not the item's own evidence and not a sibling's passage (siblings.py);
3. is not a near-duplicate of the gold (`support.is_near_duplicate`);
4. passes `support.distractor_conflict`: it does not speak about the item (no anchor, or
   under the question-overlap threshold) while naming a non-key option, and states none of
   the item's `meta.conflict_terms`.

The decoy placed in the book is that passage whole, or cut at sentence ends to the
sentence(s) naming L (at least `min_chars` characters); a cut is checked again against the
gold for near-duplication. Cuts of one passage that do not overlap may serve different
letters; a passage serving as a decoy is never also a distractor in the same book. A decoy
never names the key's text, so it adds to L's count and not to the key's. Choice, per item
and once for all buckets, seeded:

- letters are served in a seeded order; a decoy naming several non-key letters serves them all;
- preferred are: decoys naming L by its text over those naming it only through an alias
  (only texts count for the count rule), those naming no option twice, those within an
  equal share of the smallest bucket's room over longer ones, whole passages over cuts,
  then a seeded draw;
- where the gold names the key k times, extra decoys follow until every non-key option is
  named k times as far as the pool allows (the first extra restores "key never named more
  often than the most-named other option").

Each bucket takes these decoys in that order while they fit (see book.assemble_book), so a
longer book holds every decoy a shorter one does.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from medlc_tasks.exam.book import PassagePool
from medlc_tasks.exam.schema import ExamItem
from medlc_tasks.exam.shortcuts import option_counts
from medlc_tasks.exam.support import ItemFacts, SupportRules, distractor_conflict, is_near_duplicate
from medlc_tasks.exam.textnorm import char_ngrams, contains_key, match_key, sentence_spans


@dataclass(frozen=True)
class Decoy:
    """A passage (or a cut of one) placed in an item's books for the letters it names."""

    text: str
    source: str  # the pool passage's source: an item id or "ref:<file>#<n>"
    letters: tuple[str, ...]  # the non-key letters it names, by text or alias
    pool_index: int


@dataclass
class DecoyPlan:
    """An item's decoys in the order buckets take them, and the letters no passage can serve."""

    decoys: list[Decoy]
    unavailable: list[str]


@dataclass(frozen=True)
class _Piece:
    decoy: Decoy
    text_counts: dict[str, int]  # non-key letter -> times its option text is named
    span: tuple[int, int]  # where in the pool passage the piece lies
    is_cut: bool
    draw: float

    def overlaps(self, other: _Piece) -> bool:
        same = self.decoy.pool_index == other.decoy.pool_index
        return same and self.span[0] < other.span[1] and other.span[0] < self.span[1]


def plan_decoys(
    item: ExamItem,
    pool: PassagePool,
    indices: Sequence[int],
    rules: SupportRules,
    excluded_sources: Collection[str],
    room: int,
    rng: random.Random,
    min_chars: int = 20,
) -> DecoyPlan:
    """Choose an item's decoys from the pool passages at `indices` (see the module docstring).

    `room` is the smallest bucket's characters left beside the gold; each non-key option's
    decoy is preferably within an equal share of it.
    """
    facts = ItemFacts.of_item(item)
    letters = [letter for letter in item.options if letter not in item.answer]
    pieces = _usable_pieces(item, facts, pool, indices, rules, set(excluded_sources), letters, rng, min_chars)
    share = room / max(1, len(letters))
    order = list(letters)
    rng.shuffle(order)
    chosen: list[Decoy] = []
    used: list[_Piece] = []
    covered: set[str] = set()
    # Option-text counts so far: the gold's own mentions of other options count too.
    counts = dict(
        zip(letters, option_counts(item.evidence, [item.options[letter] for letter in letters]), strict=True)
    )

    def take(letter: str, by_text_only: bool) -> bool:
        best = _best_piece(pieces, letter, used, share, by_text_only)
        if best is None:
            return False
        chosen.append(best.decoy)
        used.append(best)
        covered.update(best.decoy.letters)
        for named, times in best.text_counts.items():
            counts[named] += times
        return True

    for letter in order:
        if letter not in covered:
            take(letter, by_text_only=False)
    if not item.is_multi_answer:
        key_times = option_counts(item.evidence, [item.options[item.answer]])[0]
        exhausted: set[str] = set()
        while True:
            short = [letter for letter in order if counts[letter] < key_times and letter not in exhausted]
            if not short:
                break
            neediest = min(short, key=lambda letter: counts[letter])
            if not take(neediest, by_text_only=True):
                exhausted.add(neediest)
    return DecoyPlan(chosen, [letter for letter in letters if letter not in covered])


def _usable_pieces(
    item: ExamItem,
    facts: ItemFacts,
    pool: PassagePool,
    indices: Sequence[int],
    rules: SupportRules,
    excluded: set[str],
    letters: list[str],
    rng: random.Random,
    min_chars: int,
) -> list[_Piece]:
    """Every usable decoy piece: whole passages and sentence cuts that name a non-key letter."""
    gold_trigrams = char_ngrams(item.evidence, 3)
    key_text = [item.options[letter] for letter in item.answer]
    texts = [item.options[letter] for letter in letters]
    pieces = []
    for index in sorted(indices):
        passage, key = pool.passages[index], pool.keys[index]
        if passage.source in excluded or passage.source == item.id:
            continue
        if not _names(key, facts, letters):
            continue
        if is_near_duplicate(gold_trigrams, pool.trigrams[index], rules):
            continue
        if distractor_conflict(passage.text, facts, rules, key) is not None:
            continue
        for start, end in _cuts(passage.text, facts, letters, min_chars):
            text, is_cut = passage.text[start:end], (start, end) != (0, len(passage.text))
            if any(option_counts(text, key_text)):
                continue
            if is_cut and is_near_duplicate(gold_trigrams, char_ngrams(text, 3), rules):
                continue
            named = tuple(_names(match_key(text), facts, letters))
            counts = dict(zip(letters, option_counts(text, texts), strict=True))
            decoy = Decoy(text, passage.source, named, index)
            named_times = {k: v for k, v in counts.items() if v}
            pieces.append(_Piece(decoy, named_times, (start, end), is_cut, rng.random()))
    return pieces


def _names(key: str, facts: ItemFacts, letters: list[str]) -> list[str]:
    """The letters whose option text or alias the match key holds as a whole term."""
    return [
        letter for letter in letters if any(contains_key(key, term) for term in facts.option_keys[letter])
    ]


def _cuts(text: str, facts: ItemFacts, letters: list[str], min_chars: int) -> list[tuple[int, int]]:
    """The passage whole, then each run of sentences from one naming a letter, at least min_chars long."""
    cuts = [(0, len(text))]
    spans = sentence_spans(text)
    for number, (start, end) in enumerate(spans):
        if not _names(match_key(text[start:end]), facts, letters):
            continue
        stop = number
        while end - start < min_chars and stop + 1 < len(spans):
            stop += 1
            end = spans[stop][1]
        if (start, end) not in cuts and text[start:end] != text:
            cuts.append((start, end))
    return cuts


def _best_piece(
    pieces: list[_Piece], letter: str, used: list[_Piece], share: float, by_text_only: bool
) -> _Piece | None:
    candidates = [
        piece
        for piece in pieces
        if not any(piece.overlaps(taken) for taken in used)
        and letter in piece.decoy.letters
        and (letter in piece.text_counts or not by_text_only)
    ]
    if not candidates:
        return None

    def preference(piece: _Piece) -> tuple:
        too_long = len(piece.decoy.text) > share
        return (
            letter not in piece.text_counts,
            max(piece.text_counts.values(), default=0) > 1,  # naming an option twice unbalances the counts
            too_long,
            len(piece.decoy.text) if too_long else 0,
            piece.is_cut,
            piece.draw,
        )

    return min(candidates, key=preference)
