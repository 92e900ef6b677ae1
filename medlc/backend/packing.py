"""One forward pass over several token chains at once, each token seeing only its ancestors.

`plan.py` hands the scorer whole subtrees of short chains -- the end of a context and the
continuations that branch from it, or several short contexts -- hanging below a cached
prefix. `pack` lays them end to end in one sequence with their true positions and builds
the attention mask of the tree: a token attends to the cached prefix and to the tokens of
its own chain and the chains above it, never to a sibling branch. Layers with a sliding
window also see only the last `window` positions, as the model's own masks have them.

`behind_read` puts a short read in front of the pack below it: one pass that is causal
over the read and lets every packed token see all of it, so a short book and its options
cost one forward instead of two.

This needs an attention kernel that takes an explicit mask (`sdpa`, `eager`);
`packable` says whether the model's does. Otherwise the scorer runs each chain as a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medlc.backend.plan import Chain, Target

FULL, SLIDING = "full_attention", "sliding_attention"
_MASK_KERNELS = ("sdpa", "eager")


@dataclass(frozen=True)
class AttentionLayout:
    """What the model's layers attend to: the layer types present and the sliding window."""

    kernel: str
    layer_types: frozenset[str]
    window: int | None
    per_type: bool  # the model takes one mask per layer type (a dict), not one tensor

    @classmethod
    def of(cls, model: torch.nn.Module) -> AttentionLayout:
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        kernel = getattr(config, "_attn_implementation", None) or getattr(
            model.config, "_attn_implementation", "eager"
        )
        window = getattr(config, "sliding_window", None)
        types = getattr(config, "layer_types", None)
        if types:
            return cls(kernel, frozenset(types), window, per_type=True)
        windowed = window is not None and getattr(config, "use_sliding_window", True) is not False
        return cls(kernel, frozenset({SLIDING if windowed else FULL}), window, per_type=False)

    @property
    def packable(self) -> bool:
        return self.kernel in _MASK_KERNELS and self.layer_types <= {FULL, SLIDING}


@dataclass
class Pack:
    """The tensors of one packed pass and where its wanted logits land."""

    input_ids: torch.Tensor  # [1, q]
    position_ids: torch.Tensor  # [1, q]
    keep: torch.Tensor  # pack indices whose logits are scored
    targets: list[tuple[int, Target]]  # (row of the kept logits, (request, token))
    ancestors: torch.Tensor  # [q, q] bool: token i may attend to pack token j
    base_length: int

    def attention_mask(self, layout: AttentionLayout, dtype: torch.dtype, device: torch.device):
        """The mask(s) in the form the model's attention kernel takes."""
        masks = {kind: self._mask(layout, kind, dtype).to(device) for kind in layout.layer_types}
        return masks if layout.per_type else next(iter(masks.values()))

    def _mask(self, layout: AttentionLayout, kind: str, dtype: torch.dtype) -> torch.Tensor:
        q = self.ancestors.shape[0]
        allowed = torch.cat([torch.ones((q, self.base_length), dtype=torch.bool), self.ancestors], dim=1)
        if kind == SLIDING and layout.window is not None:
            key_positions = torch.cat([torch.arange(self.base_length), self.position_ids[0]])
            allowed &= self.position_ids[0][:, None] - key_positions[None, :] < layout.window
        if layout.kernel == "eager":  # an additive mask
            blocked = torch.full(allowed.shape, torch.finfo(dtype).min, dtype=dtype)
            return torch.where(allowed, torch.zeros((), dtype=dtype), blocked)[None, None]
        return allowed[None, None]


def pack(subtrees: list[Chain], base_length: int) -> Pack:
    """Lay `subtrees` (all hanging directly below a prefix of `base_length` tokens) out as one pass."""
    chains = [chain for subtree in subtrees for chain in subtree.subtree()]
    q = sum(len(chain.tokens) for chain in chains)
    ids, positions, keep, targets = [], [], [], []
    ancestors = torch.zeros((q, q), dtype=torch.bool)
    last_index: dict[int, int] = {}  # id(chain) -> pack index of its last token
    at = 0
    for chain in chains:
        n = len(chain.tokens)
        if chain.parent is not None and id(chain.parent) in last_index:
            ancestors[at : at + n] = ancestors[last_index[id(chain.parent)]]
        ancestors[at : at + n, at : at + n] = torch.ones((n, n), dtype=torch.bool).tril()
        ids.extend(chain.tokens)
        positions.extend(range(chain.start, chain.end))
        for position, wanted in sorted(chain.wants.items()):
            keep.append(at + position - chain.start)
            targets.extend((len(keep) - 1, target) for target in wanted)
        at += n
        last_index[id(chain)] = at - 1
    return Pack(
        input_ids=torch.tensor([ids], dtype=torch.long),
        position_ids=torch.tensor([positions], dtype=torch.long),
        keep=torch.tensor(keep, dtype=torch.long),
        targets=targets,
        ancestors=ancestors,
        base_length=base_length,
    )


def behind_read(tokens: list[int], begin: int, wants: dict[int, list[Target]], below: Pack) -> Pack:
    """One pass for a read of `tokens` (positions `begin ..`, scoring `wants`) followed by
    `below`, the pack that hangs from the read's end: causal over the read, and every
    packed token sees the whole read and its own ancestors in the pack."""
    r, q = len(tokens), below.ancestors.shape[0]
    if below.base_length != begin + r:
        raise ValueError(f"the pack hangs at {below.base_length}, the read ends at {begin + r}")
    ancestors = torch.zeros((r + q, r + q), dtype=torch.bool)
    ancestors[:r, :r] = torch.ones((r, r), dtype=torch.bool).tril()
    ancestors[r:, :r] = True
    ancestors[r:, r:] = below.ancestors
    keep, targets = [], []
    for position, wanted in sorted(wants.items()):
        keep.append(position - begin)
        targets.extend((len(keep) - 1, target) for target in wanted)
    targets.extend((row + len(keep), target) for row, target in below.targets)
    return Pack(
        input_ids=torch.cat([torch.tensor([tokens], dtype=torch.long), below.input_ids], dim=1),
        position_ids=torch.cat([torch.arange(begin, begin + r)[None], below.position_ids], dim=1),
        keep=torch.cat([torch.tensor(keep, dtype=torch.long), below.keep + r]),
        targets=targets,
        ancestors=ancestors,
        base_length=begin,
    )
