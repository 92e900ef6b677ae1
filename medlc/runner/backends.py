"""The lm-eval backends a roster may name, and the little medlc must know about each.

Every pair is scored by one of lm-eval's own LMs, so a 70B comparison model runs where
the user already runs it: `vllm` (`tensor_parallel_size`), `sglang` (`tp_size`), `hf` with
`parallelize: true`, or `local-completions` against a model already served behind an
OpenAI-compatible `/v1/completions`. What differs between backends is only

* where the weights come from: loaded in-process from a folder or hub id (`local`), behind
  a URL someone else started (`served`), or nowhere (`none`, the model-free baselines);
* which model_args name the tokenizer and the context window. The task loader fits every
  book to the scored model's window with that model's tokenizer (the over-length policy,
  counted in every result), so `loader_metadata` restates them in the loader's words
  (`pretrained`, `tokenizer`, `max_length`) whatever the backend calls them;
* how an adapter folder is handed over (`peft=` for hf, `lora_local_path=` for vllm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from medlc_core.config import ConfigError


@dataclass(frozen=True)
class Backend:
    name: str
    weights: Literal["local", "served", "none"]
    adapter_arg: str | None  # the model_args key an adapter folder goes in; None: no adapters
    window_args: tuple[str, ...]  # model_args keys that set the context window, in lm-eval's order
    tokenizer_arg: str = "tokenizer"
    # The window lm-eval assumes when no window argument is given and it cannot ask the model
    # (an API backend never reads the served model's config).
    default_window: int | None = None
    requires: tuple[str, ...] = ()  # Python packages it needs beyond medlc's own


BACKENDS: dict[str, Backend] = {
    "medlc-hf": Backend("medlc-hf", "local", "peft", ("max_length",)),
    "hf": Backend("hf", "local", "peft", ("max_length",)),
    "vllm": Backend("vllm", "local", "lora_local_path", ("max_length", "max_model_len"), requires=("vllm",)),
    "sglang": Backend(
        "sglang", "local", None, ("max_model_len", "context_length"), "tokenizer_path", requires=("sglang",)
    ),
    # lm-eval's TemplateAPI default for max_length; it sends requests as token ids, so it
    # needs the served model's tokenizer (`tokenizer=`), as the over-length policy does.
    "local-completions": Backend(
        "local-completions", "served", None, ("max_length",), default_window=2048, requires=("tenacity",)
    ),
    "medlc-baseline": Backend("medlc-baseline", "none", None, ()),
}
BackendName = Literal["medlc-hf", "hf", "vllm", "sglang", "local-completions", "medlc-baseline"]


def backend(name: str) -> Backend:
    return BACKENDS[name]


def missing_packages(name: str) -> list[str]:
    """The packages backend `name` needs that are not installed."""
    from importlib.util import find_spec

    return [package for package in BACKENDS[name].requires if find_spec(package) is None]


def check_spec(name: str, pretrained: str | None, peft: str | None, model_args: dict[str, Any], where: str):
    """What a roster entry must say for its backend; raises ConfigError naming the key."""
    b = BACKENDS[name]
    if b.weights == "none":
        if pretrained or peft:
            raise ConfigError(f"{where}.pretrained: expected none for backend {name} (it loads no model)")
        return
    if not pretrained:
        what = (
            "the served model's name" if b.weights == "served" else "a model (hub id, folder, bundled name)"
        )
        raise ConfigError(f"{where}.pretrained: expected {what} for backend {name}")
    if peft and b.adapter_arg is None and b.weights == "local":
        raise ConfigError(
            f"{where}.peft: backend {name} takes no adapter through lm-eval; merge it "
            "(finetune adapter.save_merged) or score it with hf, medlc-hf or vllm"
        )
    if b.weights == "served":
        if peft:
            raise ConfigError(
                f"{where}.peft: a served model's adapter is the server's business; serve it merged"
            )
        for key in ("base_url", "tokenizer"):
            if not model_args.get(key):
                why = (
                    "the URL of the served /v1/completions"
                    if key == "base_url"
                    else "the served model's tokenizer (a folder or hub id): lm-eval sends token ids "
                    "and the over-length policy counts tokens with it"
                )
                raise ConfigError(f"{where}.model_args.{key}: expected {why}")
        if "model" in model_args:
            raise ConfigError(f"{where}.model_args.model: name the served model as `pretrained`")


def model_args_for(
    name: str, pretrained: str | None, peft: str | None, args: dict[str, Any]
) -> dict[str, Any]:
    """The model_args lm-eval's `name` LM is built with (`pretrained` already resolved)."""
    b = BACKENDS[name]
    out = dict(args)
    if b.weights == "local":
        out["pretrained"] = pretrained
        if peft:
            out[b.adapter_arg] = peft
    elif b.weights == "served":
        out["model"] = pretrained
    return out


def loader_metadata(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The scored model as the medlc task loader reads it from lm-eval's metadata.

    Everything of `args` is kept (lm-eval merges model_args into task metadata the same
    way); the keys the loader reads are restated in its vocabulary. A baseline names no
    model, so its items are counted `overlength_unchecked` (it reads every character).
    """
    b = BACKENDS[name]
    meta = dict(args)
    if b.weights == "none":
        return meta
    window = next((args[k] for k in b.window_args if args.get(k)), None) or b.default_window
    if window:
        meta["max_length"] = int(window)
    if args.get(b.tokenizer_arg):
        meta["tokenizer"] = args[b.tokenizer_arg]
    if b.weights == "served":
        meta["pretrained"] = args[b.tokenizer_arg]  # the loader's only way to the tokenizer
    elif b.adapter_arg and args.get(b.adapter_arg):
        meta["peft"] = args[b.adapter_arg]
    return meta
