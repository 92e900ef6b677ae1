"""The KV caches the scorer and generation share: made, forked, viewed, sliced, measured.

Every cache the backend makes keeps full-length keys and values in every layer, the
sliding-window layers included (`new_cache`: a `DynamicCache` built without the model's
config). The model's attention masks still apply each layer's window, so what it computes
is what it computes with its own cache; what full layers buy is that every prefix of a
cached sequence is itself a valid cache (`fork(cache, length)`). A later request that
shares only part of a cached sequence -- a letter prompt after the generative prompt of
the same item -- thus reuses exactly the part it shares.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


def cache_argument() -> str:
    """The name of the KV-cache argument and output field of this transformers' models.

    transformers 5.24 renamed `past_key_values` to `cache` (the old name goes in 5.40); the
    lower bound, 4.56, knows only the old one. Asked of the library's output class, not of
    a model's signature, which a wrapper's `**kwargs` would hide.
    """
    from transformers.modeling_outputs import CausalLMOutputWithPast

    fields = {f.name for f in dataclasses.fields(CausalLMOutputWithPast)}
    return "cache" if "cache" in fields else "past_key_values"


def accepts(model: torch.nn.Module, name: str) -> bool:
    """Whether the (unwrapped) model's forward takes argument `name`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return name in inspect.signature(base.forward).parameters


def new_cache() -> DynamicCache:
    """An empty cache whose layers all keep every position (see the module docstring)."""
    return DynamicCache()


def holds_keys(layer: object) -> bool:
    # transformers 4.56 leaves `keys` None until the first update; 5.x has `is_initialized`.
    keys = getattr(layer, "keys", None)
    return keys is not None and getattr(layer, "is_initialized", True) and keys.numel() > 0


def supports_shared_prefix(cache: object) -> bool:
    """Attention-only KV caches can be shared; recurrent/linear-attention state cannot."""
    return isinstance(cache, DynamicCache) and all(
        type(layer) is DynamicLayer or not holds_keys(layer) for layer in cache.layers
    )


def cached_length(cache: DynamicCache) -> int:
    return next((layer.keys.shape[-2] for layer in cache.layers if holds_keys(layer)), 0)


def fork(cache: DynamicCache, length: int) -> DynamicCache:
    """A cache holding the first `length` positions of `cache`, which its updates leave as
    they found it (a layer's update concatenates into new tensors)."""
    out = new_cache()
    for layer in cache.layers:
        layer_copy = copy.copy(layer)
        if holds_keys(layer):
            layer_copy.keys = layer.keys[..., :length, :]
            layer_copy.values = layer.values[..., :length, :]
        out.layers.append(layer_copy)
    return out


def row_slice(cache: DynamicCache, row: int, start: int, end: int) -> DynamicCache:
    """Positions `start:end` of one row of a batched cache, copied: the KV of that row's
    prompt once its left padding is cut off."""
    out = new_cache()
    for layer in cache.layers:
        layer_copy = copy.copy(layer)
        if holds_keys(layer):
            layer_copy.keys = layer.keys[row : row + 1, :, start:end].clone()
            layer_copy.values = layer.values[row : row + 1, :, start:end].clone()
        out.layers.append(layer_copy)
    return out


def left_padded(prefixes: list[DynamicCache], pads: list[int], length: int) -> DynamicCache:
    """One batched cache of `length` positions for a left-padded batch: row `r` holds the
    first `length - pads[r]` positions of the one-row cache `prefixes[r]` after `pads[r]`
    positions of zeros, which the batch's attention mask hides as it hides padding."""
    out = new_cache()
    for index, layer in enumerate(prefixes[0].layers):
        layer_copy = copy.copy(layer)
        if holds_keys(layer):
            rows = [prefix.layers[index] for prefix in prefixes]
            for name in ("keys", "values"):
                first = getattr(layer, name)
                batch = first.new_zeros((len(rows), first.shape[1], length, first.shape[3]))
                for row, (source, pad) in enumerate(zip(rows, pads, strict=True)):
                    batch[row, :, pad:] = getattr(source, name)[0, :, : length - pad]
                setattr(layer_copy, name, batch)
        out.layers.append(layer_copy)
    return out


def cache_bytes(cache: DynamicCache) -> int:
    return sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers if holds_keys(layer))


class SharedPrefixCache(DynamicCache):
    """A read-only view of a one-row prefix cache, shared by `rows` rows of one forward pass.

    The model sees a cache holding the prefix, but `update` never stores: it returns the
    prefix keys/values joined with the new ones for this pass only, so the prefix is
    materialised per row for one layer at a time, and the same prefix serves the next pass
    unchanged.
    """

    def __init__(self, prefix: DynamicCache, rows: int):
        super().__init__()
        self.layers = prefix.layers
        self._rows = rows

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        layer = self.layers[layer_idx]
        scratch = copy.copy(layer)  # carries lengths/offsets; the original stays untouched
        if holds_keys(layer):
            scratch.keys = layer.keys.expand(self._rows, -1, -1, -1)
            scratch.values = layer.values.expand(self._rows, -1, -1, -1)
        return scratch.update(key_states, value_states, *args, **kwargs)
