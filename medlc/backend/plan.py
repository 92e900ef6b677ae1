"""Which tokens the scorer runs through the model, and how: a radix tree over the requests.

A log-likelihood request (context, continuation) needs the model's next-token
distribution at the last context position and at every continuation position but the
last, i.e. at the last `len(continuation)` positions of `context + continuation[:-1]`.
The requests of one evaluation share long stretches of those sequences: the options of
a question share its context, and prompt variants of one document that put what they
share first (a long passage, the question) share that whole prefix. So the sequences
are merged into a radix tree -- a trie whose single-child chains are joined -- and every
shared stretch is one `Chain`, run once.

`mark_reads` then cuts the tree in two:

* a chain that is long, or that heads more tokens than one pass may hold, is *read*: one
  causal forward on top of its parent's KV cache, whose cache its children start from
  (and which the prefix store keeps for later calls);
* everything else hangs below a read chain (or the root) and is *packed*: whole
  subtrees -- the rest of a context and every continuation -- go through the model as
  one sequence, each token attending to its ancestors only. A short context and its
  options thus cost one pass instead of two.

Pure Python on token ids: nothing here knows the model or the exam.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

Target = tuple[int, int]  # (request index, the token whose log-probability is wanted)


@dataclass(eq=False)
class Chain:
    """A run of tokens at absolute positions `start ..`, shared by every request below it."""

    tokens: list[int]
    start: int
    parent: Chain | None = None
    children: dict[int, Chain] = field(default_factory=dict)  # by first token
    wants: dict[int, list[Target]] = field(default_factory=dict)  # absolute position -> targets
    read: bool = False  # set by mark_reads

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

    def prefix(self) -> list[int]:
        """Every token from position 0 to the end of this chain."""
        parts, node = [], self
        while node is not None:
            parts.append(node.tokens)
            node = node.parent
        return [token for part in reversed(parts) for token in part]

    def subtree(self) -> Iterator[Chain]:
        """This chain and every chain below it, parents before children."""
        yield self
        for child in self.children.values():
            yield from child.subtree()

    def subtree_tokens(self) -> int:
        return sum(len(chain.tokens) for chain in self.subtree())

    def _split(self, offset: int) -> None:
        """Keep tokens[:offset] here; move the rest, its wants and children to a new child."""
        tail = Chain(self.tokens[offset:], self.start + offset, self, self.children)
        for child in tail.children.values():
            child.parent = tail
        cut = self.start + offset
        tail.wants = {p: t for p, t in self.wants.items() if p >= cut}
        self.wants = {p: t for p, t in self.wants.items() if p < cut}
        self.tokens = self.tokens[:offset]
        self.children = {tail.tokens[0]: tail}


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share (binary search over C-level slice compares)."""
    low, high = 0, min(len(a), len(b))
    if list(a[:high]) == list(b[:high]):
        return high
    while low < high:  # invariant: a[:low] == b[:low] and a[:high] != b[:high]
        mid = (low + high + 1) // 2
        if list(a[:mid]) == list(b[:mid]):
            low = mid
        else:
            high = mid - 1
    return low


def build_tree(requests: Sequence[tuple[Sequence[int], Sequence[int]]]) -> Chain:
    """The radix tree of every request's `context + continuation[:-1]`, with its targets."""
    root = Chain([], 0)
    for index, (context, continuation) in enumerate(requests):
        if not context or not continuation:
            raise ValueError(f"request {index}: context and continuation must be non-empty")
        sequence = [*context, *continuation[:-1]]
        first = len(context) - 1
        targets = {first + j: (index, token) for j, token in enumerate(continuation)}
        for chain in _insert(root, sequence):
            for position in range(chain.start, chain.end):
                if position in targets:
                    chain.wants.setdefault(position, []).append(targets[position])
    return root


def _insert(root: Chain, sequence: list[int]) -> list[Chain]:
    """Add `sequence` to the tree; the chains that hold it, root first."""
    node, at, path = root, 0, [root]
    while at < len(sequence):
        child = node.children.get(sequence[at])
        if child is None:
            child = Chain(sequence[at:], at, node)
            node.children[sequence[at]] = child
            path.append(child)
            return path
        shared = common_prefix_length(child.tokens, sequence[at : at + len(child.tokens)])
        if shared < len(child.tokens):
            child._split(shared)
        node, at = child, at + shared
        path.append(child)
    return path


@dataclass(frozen=True)
class Limits:
    """How the tree is cut.

    A subtree is packed when none of its chains is longer than `one_pass_tokens` and it
    fits one pass: `pack_tokens` below a shared prefix at least `one_pass_tokens` long
    (the ends of one item's prompts and their options, below its book), but only
    `context_tokens` where it shares little with anything (several short contexts below
    a common instruction: packing those saves no reading, so a pass holds what
    `batch_size` contexts would). With `pack_inner` False only chains without children
    are packed (for attention kernels that take no custom mask, packs run as rows).
    """

    one_pass_tokens: int
    pack_tokens: int
    context_tokens: int
    pack_inner: bool = True

    def budget(self, point: Chain) -> int:
        """The most tokens one packed pass below `point` may hold."""
        return self.pack_tokens if point.end >= self.one_pass_tokens else self.context_tokens


def mark_reads(root: Chain, limits: Limits) -> list[Chain]:
    """Set `read` on every chain to be read causally; returns them, parents first.

    A child of the root or of a read chain is packed, whole subtree, when `Limits` allows;
    otherwise it is read and its children are asked the same.
    """
    reads: list[Chain] = []

    def visit(point: Chain) -> None:
        budget = limits.budget(point)
        for child in point.children.values():
            if not _packable(child, limits, budget):
                child.read = True
                reads.append(child)
                visit(child)

    visit(root)
    return reads


def _packable(subtree: Chain, limits: Limits, budget: int) -> bool:
    if subtree.children and not limits.pack_inner:
        return False
    if subtree.subtree_tokens() > budget:
        return False
    return all(len(chain.tokens) <= limits.one_pass_tokens for chain in subtree.subtree())


def packed_subtrees(point: Chain) -> list[Chain]:
    """The children of a read chain (or the root) that are not read: each is packed whole."""
    return [child for child in point.children.values() if not child.read]
