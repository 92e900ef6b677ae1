"""Which `model_args` an lm-eval LM accepts, checked before any model loads.

An unknown key is otherwise found only once the weights are loading, as a TypeError from
deep inside transformers, and a `medlc run` would already have written its model folder.
What a backend accepts is read from the LM class itself: the named parameters of its
`__init__` and of every parent it hands `**kwargs` on to. The Hugging Face LMs (`hf`,
`medlc-hf`) hand the rest to transformers' `from_pretrained`, which accepts its own
named parameters, the keyword arguments it documents (FROM_PRETRAINED_KWARGS, an
allow-list kept here), and any attribute of the model's config (read from a local
model folder's config.json; for a hub id or GGUF file only the attributes every config has).
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medlc_core.errors import UserError

# Keyword arguments transformers' `from_pretrained` (4.56 to 5.x) takes through **kwargs,
# plus the bitsandbytes switches lm-eval's HFLM forwards to it.
FROM_PRETRAINED_KWARGS = frozenset(
    {
        "adapter_kwargs",
        "adapter_name",
        "attn_implementation",
        "bnb_4bit_compute_dtype",
        "device_map",
        "distributed_config",
        "dtype",
        "experts_implementation",
        "generation_config",
        "key_mapping",
        "kernel_config",
        "load_in_4bit",
        "load_in_8bit",
        "low_cpu_mem_usage",
        "max_memory",
        "offload_buffers",
        "offload_state_dict",
        "output_loading_info",
        "proxies",
        "quantization_config",
        "state_dict",
        "tp_size",
        "torch_dtype",
        "use_kernels",
        "variant",
    }
)
# Keys users put in model_args that belong elsewhere, and where.
ELSEWHERE = {
    "exam_dir": "the exam is task metadata: settings.exam_dir in a harness config, "
    "--metadata '{\"exam_dir\": ...}' or $MEDLC_EXAM_DIR for lm-eval",
}


class ModelArgsError(UserError, ValueError):
    """A model_args key the backend's LM class would refuse once loading."""


def _named(init: Any) -> tuple[set[str], bool]:
    """(keyword parameter names, whether it also takes **kwargs) of one __init__."""
    params = inspect.signature(init).parameters.values()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def _config_keys(pretrained: str | None) -> set[str]:
    """Config attributes from_pretrained may be given: every config's, and for a local
    model folder those its config.json and its config class name."""
    from transformers import CONFIG_MAPPING, PretrainedConfig

    keys = set(PretrainedConfig().to_dict())
    path = Path(pretrained) / "config.json" if pretrained else None
    if path is None or not path.is_file():
        return keys
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return keys  # the loader will say what is wrong with the folder
    keys |= set(config)
    if config.get("model_type") in CONFIG_MAPPING:
        keys |= _named(CONFIG_MAPPING[config["model_type"]].__init__)[0]
    return keys


def accepted(backend: str, pretrained: str | None = None) -> set[str] | None:
    """Every model_args key `backend` accepts; None when its LM takes **kwargs that go
    somewhere this cannot follow (then nothing is refused)."""
    import lm_eval.api.registry
    from lm_eval.models.huggingface import HFLM
    from transformers import PreTrainedModel

    from medlc import scoring

    scoring.register_models()
    try:
        lm_class = lm_eval.api.registry.get_model(backend)
    except (ValueError, ImportError):
        return None  # not a backend here; lm-eval says so when it builds it
    names: set[str] = set()
    for klass in lm_class.__mro__:
        if "__init__" not in klass.__dict__:
            continue
        own, passes_on = _named(klass.__init__)
        names |= own
        if not passes_on:
            return names
        if klass is HFLM:  # the rest goes to from_pretrained
            loader, _ = _named(PreTrainedModel.from_pretrained.__func__)
            return names | loader | FROM_PRETRAINED_KWARGS | _config_keys(pretrained)
    return None


def unknown_keys(backend: str, model_args: Mapping[str, Any], pretrained: str | None = None) -> list[str]:
    """The keys of `model_args` that `backend` would refuse, in the order given."""
    known = accepted(backend, pretrained)
    if known is None:
        return []
    return [key for key in model_args if key not in known]


def check_model_args(
    backend: str, model_args: Mapping[str, Any], where: str, pretrained: str | None = None
) -> None:
    """Raise ModelArgsError naming `where` + the first key `backend` would refuse."""
    unknown = unknown_keys(backend, model_args, pretrained)
    if not unknown:
        return
    key = unknown[0]
    if key in ELSEWHERE:
        hint = ELSEWHERE[key]
    else:
        close = difflib.get_close_matches(key, sorted(accepted(backend, pretrained) or ()), n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else "see the backend's documentation"
    raise ModelArgsError(
        f"{where}.{key}: expected an argument the {backend} backend accepts (its own, or "
        f"transformers' from_pretrained and the model config's), got {key!r}; {hint}"
    )
