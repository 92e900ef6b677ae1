"""Model fingerprints: a content hash of a model as scored, naming its results folder.

The fingerprint hashes two things, as canonical JSON:

* identity -- what the weights are, by content, never by where they sit on disk, so
  shards on machines with different paths merge:
    - a GGUF file (bundled name, `gguf_file=` or a .gguf path): its sha256;
    - a local directory: the sha256 of each weight, config and tokenizer file in it
      (JSON files with path-valued keys such as `base_model_name_or_path` dropped);
    - a hub id: the id and `revision` (pin a commit for a fingerprint that cannot drift);
    - a peft adapter: its directory as above, next to the base model's identity;
    - a served model (`local-completions`): the name it is served under and its tokenizer
      (by content), which is all a URL says about it; pin the name to one set of weights.
* protocol -- every setting that can change a number: backend, model_args except
  execution-only ones (device, batch size, attention kernel, GPUs per model, a served
  model's URL), chat template, system instruction, few-shot count, generation kwargs,
  limit / sample_items (with the sampling rule) and seed.
* a model-free baseline (`kind: baseline`): identity is its rule, seed and the medlc
  version (plus bm25s for `retrieve`); protocol as above, backend `medlc-baseline`.

Hashing a 15 GB checkpoint takes a minute, so file digests are memoised under the medlc
cache by (path, size, mtime).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medlc.runner.sampling import SAMPLING_RULE
from medlc_core.provenance import sha256_file, sha256_text

# Keys that say how a model runs, not what it computes; two runs that differ only here
# are the same measurement and share results.
# How many GPUs share a model, and where a served model listens, are such keys: a 70B
# model split over 8 GPUs computes what it computes on 4 (up to float reassociation).
EXECUTION_ONLY_ARGS = frozenset(
    {
        "device",
        "batch_size",
        "max_batch_size",
        "attn_implementation",
        "parallelize",
        "max_memory_per_gpu",
        "max_cpu_memory",
        "offload_folder",
        "device_map",
        # vllm
        "tensor_parallel_size",
        "data_parallel_size",
        "gpu_memory_utilization",
        "max_num_seqs",
        "enforce_eager",
        # sglang
        "tp_size",
        "dp_size",
        "mem_fraction_static",
        "chunked_prefill_size",
        # local-completions (an already served model)
        "base_url",
        "num_concurrent",
        "max_retries",
        "timeout",
        "verify_certificate",
        "ca_cert_path",
        "auth_token",
        "header",
    }
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".model")
TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "merges.txt",
        "chat_template.jinja",
        "chat_template.json",
    }
)
MODEL_FILES = TOKENIZER_FILES | {
    "config.json",
    "generation_config.json",
    "adapter_config.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
}
# Path-valued keys: they differ between machines for the same weights.
PATH_KEYS = frozenset({"_name_or_path", "name_or_path", "base_model_name_or_path"})


def _memo_path() -> Path:
    from medlc_core.paths import cache_root

    return cache_root() / "file_sha256.json"


def file_digest(path: Path) -> str:
    """sha256 of a file, memoised by (absolute path, size, mtime) across runs."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_file = _memo_path()
    try:
        memo = json.loads(memo_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if key not in memo:
        memo[key] = sha256_file(path)
        from medlc_core.atomic import atomic_write

        atomic_write(memo_file, json.dumps(memo, indent=0, sort_keys=True))
    return memo[key]


def _json_digest(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in PATH_KEYS}
    return sha256_text(json.dumps(data, sort_keys=True, ensure_ascii=False))


def directory_identity(directory: Path) -> dict[str, Any]:
    """Content digests of the files in a model or adapter folder that shape its outputs."""
    files = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        if path.name in MODEL_FILES:
            files[path.name] = _json_digest(path) if path.suffix == ".json" else file_digest(path)
        elif path.suffix in WEIGHT_SUFFIXES:
            files[path.name] = file_digest(path)
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in files):
        raise FileNotFoundError(f"{directory}: no weight files (*.safetensors, *.bin, *.gguf)")
    return {"files": files}


def tokenizer_identity(tokenizer: str) -> dict[str, Any]:
    """A tokenizer by content (a local folder's tokenizer files) or by hub id."""
    directory = Path(tokenizer)
    if not directory.is_dir():
        return {"hub_id": tokenizer}
    files = {
        p.name: _json_digest(p) if p.suffix == ".json" else file_digest(p)
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name in TOKENIZER_FILES
    }
    if not files:
        raise FileNotFoundError(
            f"{directory}: no tokenizer files (tokenizer.json, tokenizer_config.json, ...)"
        )
    return {"files": files}


def gguf_identity(path: Path) -> dict[str, Any]:
    return {"gguf": path.name, "sha256": file_digest(path)}


def protocol(settings: Any, model_args: dict[str, Any], apply_chat_template: bool, backend: str) -> dict:
    """The scoring settings that can change a model's numbers (see module docstring)."""
    sampled = settings.sample_items
    return {
        "backend": backend,
        "model_args": {k: v for k, v in sorted(model_args.items()) if k not in EXECUTION_ONLY_ARGS},
        "apply_chat_template": apply_chat_template,
        "system_instruction": settings.system_instruction,
        "num_fewshot": settings.num_fewshot,
        "gen_kwargs": settings.gen_kwargs,
        "limit": settings.limit,
        # The rule is part of it: the same N drawn another way is another set of items.
        "sample_items": None if sampled is None else {"n": sampled, "rule": SAMPLING_RULE},
        "seed": settings.seed,
    }


def fingerprint(identity: dict[str, Any], scoring: dict[str, Any]) -> str:
    canonical = json.dumps({"identity": identity, "protocol": scoring}, sort_keys=True, default=str)
    return sha256_text(canonical)[:16]


def exam_data_hash(exam_dir: Path) -> str:
    """One hash over every file of a built exam (names and contents)."""
    if not exam_dir.is_dir():
        raise FileNotFoundError(f"exam directory {exam_dir} does not exist")
    entries = [
        f"{path.relative_to(exam_dir).as_posix()}\t{file_digest(path)}"
        for path in sorted(exam_dir.rglob("*"))
        if path.is_file()
    ]
    if not entries:
        raise FileNotFoundError(f"exam directory {exam_dir} is empty")
    return sha256_text("\n".join(entries))[:16]


def dataset_hash(task_config: dict[str, Any]) -> str:
    """For a stock lm-eval task: its dataset's address (a hub dataset has no local hash)."""
    keys = ("dataset_path", "dataset_name", "dataset_kwargs", "test_split", "validation_split")
    return (
        "ds-"
        + sha256_text(json.dumps({k: task_config.get(k) for k in keys}, sort_keys=True, default=str))[:13]
    )


def uses_exam(task_name: str) -> bool:
    return task_name.startswith("medlc_")
