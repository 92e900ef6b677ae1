"""Books: the gold passage among decoys and ranked distractors, at a character budget and depth.

For each item the pool is ranked once (hard negatives first: same department, then
character-bigram overlap with the question and options) and filtered once (no near-copy of
the gold, nothing that backs another option, no sibling's passage, nothing that tips the
option counts toward the key). Every bucket takes the item's decoys (decoys.py) and a prefix
of that ranked list, so a 4k book holds the 2k book's passages plus more: longer books only
add reading.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from medlc_core.errors import UserError
from medlc_tasks.exam.balance import NamingBalance
from medlc_tasks.exam.schema import PASSAGE_SEPARATOR, ExamItem
from medlc_tasks.exam.support import ItemFacts, SupportRules, distractor_conflict, is_near_duplicate
from medlc_tasks.exam.textnorm import char_ngrams, coverage, match_key, sentence_spans

SEP = len(PASSAGE_SEPARATOR)


class BookError(UserError, ValueError):
    """A book cannot be assembled as asked (for example the pool is too small)."""


@dataclass(frozen=True)
class Passage:
    text: str
    source: str  # the item id whose evidence this is, or "ref:<file>#<n>"
    department: str = ""


@dataclass(frozen=True)
class Book:
    passages: list[str]
    sources: list[str]
    gold_index: int
    gold_char_offset: int

    @property
    def text(self) -> str:
        return PASSAGE_SEPARATOR.join(self.passages)


def chunk_reference(text: str, name: str, min_chars: int = 100, max_chars: int = 300) -> list[Passage]:
    """Cut a reference text into passages of about min..max characters at sentence ends.

    A long paragraph is cut between sentences into pieces of at most max_chars (a short
    last piece joins the one before it). Pieces are then packed in order: a passage that has
    min_chars ends at the next paragraph break, short paragraphs such as headings join what
    follows, and nothing else is packed past max_chars. A single sentence longer than max_chars
    stays whole rather than being cut mid-sentence.
    """
    chunks: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in text.split("\n\n")):
        for number, piece in enumerate(_paragraph_pieces(paragraph, min_chars, max_chars)):
            starts_paragraph = number == 0
            too_long = len(current) + 1 + len(piece) > max_chars
            if len(current) >= min_chars and (too_long or starts_paragraph):
                chunks.append(current)
                current = ""
            current = f"{current}\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return [Passage(chunk, f"ref:{name}#{n}") for n, chunk in enumerate(chunks, start=1)]


def _paragraph_pieces(paragraph: str, min_chars: int, max_chars: int) -> list[str]:
    spans = sentence_spans(paragraph)
    if not spans:
        return []
    bounds, start, end = [], spans[0][0], spans[0][1]
    for sentence_start, sentence_end in spans[1:]:
        if sentence_end - start > max_chars:
            bounds.append((start, end))
            start = sentence_start
        end = sentence_end
    bounds.append((start, end))
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_chars:
        bounds[-2:] = [(bounds[-2][0], bounds[-1][1])]
    return [paragraph[lo:hi] for lo, hi in bounds]


class PassagePool:
    """Passages with their n-grams computed once; exact repeats are kept only once."""

    def __init__(self, passages: list[Passage]):
        seen: set[str] = set()
        self.passages: list[Passage] = []
        for passage in passages:
            if passage.text not in seen:
                seen.add(passage.text)
                self.passages.append(passage)
        self.repeats_removed = len(passages) - len(self.passages)
        self.keys = [match_key(p.text) for p in self.passages]
        self.bigrams = [char_ngrams(p.text, 2) for p in self.passages]
        self.trigrams = [char_ngrams(p.text, 3) for p in self.passages]

    def __len__(self) -> int:
        return len(self.passages)


@dataclass
class Candidates:
    """An item's usable distractors, best first, and why the others were refused."""

    order: list[int]  # indices into the pool
    eligible_chars: int
    near_duplicates: int = 0
    conflicting: int = 0
    siblings: int = 0  # passages of sibling items, never used
    unbalancing: int = 0  # passages that would name the key more often than another option
    option_counts: list[list[int]] = field(default_factory=list)  # per passage in `order`


def sample_indices(pool: PassagePool, rng: random.Random, max_ranked: int) -> list[int]:
    """The pool indices an item's ranking and decoy search look at: all, or a sample of max_ranked.

    Pools beyond max_ranked passages (a whole CMExam) are sampled, so the work per item stays
    bounded and building stays linear in the number of items.
    """
    indices = list(range(len(pool)))
    return rng.sample(indices, max_ranked) if len(indices) > max_ranked else indices


def rank_candidates(
    item: ExamItem,
    pool: PassagePool,
    rules: SupportRules,
    rng: random.Random,
    chars_needed: int,
    indices: Sequence[int],
    balance: NamingBalance,
    excluded_sources: Collection[str] = (),
    taken: Collection[int] = (),
) -> Candidates:
    """Rank pool passages for one item and keep eligible ones until twice chars_needed is covered.

    The second half is headroom: when the best passages overshoot a budget, the filler that
    closes the gap is cut from a later one, so there must be later ones to choose from.
    `balance` starts from the gold and decoys and refuses passages that would tip the option
    counts toward the key; `excluded_sources` are siblings' passages; `taken` are pool
    indices already in the book (the decoys' passages).
    """
    facts = ItemFacts.of_item(item)
    gold_trigrams = char_ngrams(item.evidence, 3)
    probe = char_ngrams(item.question + "".join(item.options.values()), 2)
    result = Candidates(order=[], eligible_chars=0)
    scored = []
    for index in indices:
        passage = pool.passages[index]
        if passage.source == item.id or index in taken:
            continue
        if passage.source in excluded_sources:
            result.siblings += 1
            continue
        same_department = bool(item.department) and passage.department == item.department
        score = 0.5 * same_department + coverage(probe, pool.bigrams[index])
        scored.append((-score, rng.random(), index))
    scored.sort()
    for _, _, index in scored:
        if result.eligible_chars >= 2 * chars_needed:
            break
        text = pool.passages[index].text
        if is_near_duplicate(gold_trigrams, pool.trigrams[index], rules):
            result.near_duplicates += 1
            continue
        if distractor_conflict(text, facts, rules, pool.keys[index]) is not None:
            result.conflicting += 1
            continue
        added = balance.counts_of(text, pool.keys[index])
        if not balance.allows(added):
            result.unbalancing += 1
            continue
        balance.add(added)
        result.option_counts.append(added)
        result.order.append(index)
        result.eligible_chars += len(text) + SEP
    return result


def assemble_book(
    item: ExamItem,
    pool: PassagePool,
    candidates: Candidates,
    decoys: Sequence[Passage],
    target_chars: int,
    depth: float,
    tolerance: float,
    rng: random.Random,
) -> Book:
    """Fill to target_chars (+-tolerance): decoys first, then the best candidates; gold at depth.

    Decoys are taken in order while they fit the upper bound (so a longer book holds every
    decoy a shorter one does); whole ranked passages follow while they fit under the target;
    one more piece (a later passage, whole or cut at a sentence end) then closes the gap.
    Decoys are spread over the book (`_spread`); the gold is placed last, at its depth.
    """
    low, high = target_chars * (1 - tolerance), target_chars * (1 + tolerance)
    gold = item.evidence
    total = len(gold)
    placed: list[tuple[str, str]] = []
    for decoy in decoys:
        if total + SEP + len(decoy.text) > high:
            break
        placed.append((decoy.text, decoy.source))
        total += SEP + len(decoy.text)
    answer_index = -1 if item.is_multi_answer else list(item.options).index(item.answer)
    balance = NamingBalance(list(item.options.values()), answer_index, [gold, *(t for t, _ in placed)])
    chosen: list[tuple[str, str]] = []
    position = 0
    order = candidates.order
    while position < len(order):
        passage = pool.passages[order[position]]
        if total + SEP + len(passage.text) > target_chars:
            break
        chosen.append((passage.text, passage.source))
        balance.add(candidates.option_counts[position])
        total += SEP + len(passage.text)
        position += 1
    # Closing the gap is worth a piece only when it lands nearer the target than we are now.
    gap = target_chars - total if total >= low else float("inf")
    filler = _filler(
        pool,
        order[position:],
        low - total - SEP,
        high - total - SEP,
        target_chars - total - SEP,
        gap,
        balance,
    )
    if filler is not None:
        chosen.append(filler)
        total += SEP + len(filler[0])
    if total < low:
        raise BookError(
            f"item {item.id!r}: cannot fill a {target_chars}-character book within "
            f"+-{tolerance:.0%} from {len(order)} eligible passages; add reference files or drop the bucket"
        )
    ordered = _spread(placed, chosen, rng)
    gold_index = _gold_index([len(text) for text, _ in ordered], len(gold), total, depth)
    ordered.insert(gold_index, (gold, item.id))
    offset = sum(len(text) + SEP for text, _ in ordered[:gold_index])
    return Book([t for t, _ in ordered], [s for _, s in ordered], gold_index, offset)


def _spread(
    decoys: list[tuple[str, str]], others: list[tuple[str, str]], rng: random.Random
) -> list[tuple[str, str]]:
    """Decoys at stratified random slots (one per equal block of the book), others around them.

    With d decoys among m passages, slot block j is [j*m//d, (j+1)*m//d) and decoy j takes a
    seeded slot inside it, so decoys are spread over the book without a fixed pattern.
    """
    decoys, others = list(decoys), list(others)
    rng.shuffle(decoys)
    rng.shuffle(others)
    slots = len(decoys) + len(others)
    count = len(decoys)
    at = {rng.randrange(j * slots // count, (j + 1) * slots // count): j for j in range(count)}
    rest = iter(others)
    return [decoys[at[slot]] if slot in at else next(rest) for slot in range(slots)]


def _filler(
    pool: PassagePool,
    remaining: list[int],
    need_low: float,
    need_high: float,
    aim: float,
    current_gap: float,
    balance: NamingBalance,
    max_tries: int = 64,
) -> tuple[str, str] | None:
    """The passage, whole or cut after a sentence, that brings the book nearest its target.

    Only lengths inside [need_low, need_high] that miss `aim` by less than `current_gap`
    count, a piece has at least one whole sentence, and it must keep the naming balance.
    The search stops at the first piece within a few characters of `aim`.
    """
    best: tuple[str, str] | None = None
    best_miss = current_gap
    for index in remaining[:max_tries]:
        passage = pool.passages[index]
        for _, end in sentence_spans(passage.text):
            if end > need_high:
                break
            if (
                end >= need_low
                and abs(end - aim) < best_miss
                and balance.allows(balance.counts_of(passage.text[:end]))
            ):
                best, best_miss = (passage.text[:end], passage.source), abs(end - aim)
        if best_miss <= 5:
            break
    return best


def _gold_index(lengths: list[int], gold_chars: int, total: int, depth: float) -> int:
    """The slot whose start offset is nearest depth * (book length - gold length)."""
    ideal = depth * (total - gold_chars)
    best_index, best_gap, offset = 0, abs(ideal), 0
    for index, length in enumerate(lengths, start=1):
        offset += length + SEP
        gap = abs(offset - ideal)
        if gap < best_gap:
            best_index, best_gap = index, gap
    return best_index


def depth_tolerance(passages: list[str], gold_index: int) -> int:
    """How far the gold may sit from its ideal offset: the passages beside it, plus separators."""
    neighbours = [len(passages[i]) for i in (gold_index - 1, gold_index + 1) if 0 <= i < len(passages)]
    return max(neighbours, default=0) + SEP
