"""`medlc-hf`: lm-eval's `hf` backend with a scorer that reads each book once.

Loading, tokenisation, chat templates, generation and data-parallel runs under
`accelerate launch` are stock `HFLM`, so prompts are tokenised exactly as `hf` tokenises
them. What changes:

* log-likelihood requests go through `PrefixScorer`: every token shared by several
  requests -- a book shared by the letter and cloze prompts of an item, a context shared
  by its options -- runs once, and logits are taken only where they are scored;
* a bounded store of recent prefix caches (`PrefixStore`) outlives each call, so a
  generation starts from the book its item's log-likelihood requests read, and the other
  way round;
* every prompt passes the over-length guard (`length.py`) instead of being cut silently;
* batches shrink on out-of-memory instead of crashing (`batching.py`);
* `pretrained` also takes the bundled names (`gemma3-270m`, `smollm2-135m-instruct`) and
  GGUF files, which are converted once and cached (`medlc_core.models.resolve_pretrained`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lm_eval.api.instance import Instance
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import normalize_gen_kwargs
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from medlc.backend.batching import BatchLimit
from medlc.backend.generate import cache_from_store, generate_in_batches, keep_prompt_caches
from medlc.backend.kv import cache_argument
from medlc.backend.length import LengthGuard, replace_context
from medlc.backend.prefix import (
    DEFAULT_FUSE_READ_TOKENS,
    DEFAULT_ONE_PASS_TOKENS,
    MIN_BRANCHES_PER_PASS,
    PrefixScorer,
    ScoringCounts,
)
from medlc.backend.store import PrefixStore
from medlc_core.models import DEFAULT_MODEL_NAME, adapter_tokenizer, resolve_pretrained, split_adapter

# Memory for prefix caches kept between calls (`prefix_cache_gib`). One token of Gemma 3
# 270M costs 36 KiB in float32 (18 in bfloat16), so 4 GiB hold about 28 books at 4k.
DEFAULT_PREFIX_CACHE_GIB = 4.0


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@register_model("medlc-hf")
class MedlcLM(HFLM):
    """An lm-eval LM; see the module docstring. Arguments beyond HFLM's:

    pretrained: also a PEFT adapter folder (holding adapter_config.json): its base model is
        loaded with the adapter, as `pretrained=<base>,peft=<folder>` would.
    gguf_file: a GGUF file inside `pretrained` (a directory); converted once, cached.
    attn_implementation: "sdpa", "eager" or "flash_attention_2" (which takes no tree mask,
        so packed passes run as padded rows).
    batch_size: an int, or "auto" = start at `max_batch_size` and halve on out-of-memory:
        how many short contexts share one packed pass, and prompts one generation batch.
    over_length: "fit" (exam policy), "truncate" (left cut, counted) or "error".
    prefix_cache_gib: memory for the KV caches of recent prefixes kept between the
        log-likelihood and generation calls of one evaluation (0 = keep none; every
        prefix shared within one call is still read once).
    one_pass_tokens: a context (or the rest of one after a shared prefix) of at most this
        many tokens is scored together with its continuations in one packed pass.
    fuse_read_tokens: a read of at most this many tokens runs in one forward with the
        packed pass below it, when that pass holds all of it (0 = never).
    """

    def __init__(
        self,
        pretrained: Any = DEFAULT_MODEL_NAME,
        gguf_file: str | None = None,
        device: str | None = None,
        dtype: str | torch.dtype | None = "auto",
        attn_implementation: str | None = None,
        batch_size: int | str | None = 1,
        max_batch_size: int | None = 64,
        over_length: str = "fit",
        prefix_cache_gib: float = DEFAULT_PREFIX_CACHE_GIB,
        one_pass_tokens: int = DEFAULT_ONE_PASS_TOKENS,
        fuse_read_tokens: int = DEFAULT_FUSE_READ_TOKENS,
        **kwargs: Any,
    ) -> None:
        name = pretrained if isinstance(pretrained, str) else type(pretrained).__name__
        self.requested: dict[str, str] = {"pretrained": name}
        if gguf_file:
            self.requested["gguf_file"] = gguf_file
        if isinstance(pretrained, str) and not kwargs.get("peft"):
            pretrained, adapter = split_adapter(pretrained)
            if adapter:
                kwargs["peft"] = self.requested["adapter"] = adapter
                kwargs.setdefault("tokenizer", adapter_tokenizer(adapter))
        if isinstance(pretrained, str):
            pretrained = resolve_pretrained(pretrained, gguf_file)
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        auto = batch_size is None or str(batch_size).startswith("auto")
        max_batch_size = int(max_batch_size or 64)
        rows = max_batch_size if auto else int(batch_size)
        # HFLM only ever sees an int batch size: its own `auto` probe runs a full-window
        # forward at `max_batch_size`, which is what the back-off here replaces.
        super().__init__(
            pretrained=pretrained,
            device=device or default_device(),
            dtype=dtype,
            batch_size=rows,
            max_batch_size=max_batch_size,
            **kwargs,
        )
        if self.backend != "causal":
            raise ValueError("medlc-hf scores decoder-only (causal) models; use `hf` for seq2seq")
        self.auto_batch = auto
        self.context_limit = BatchLimit(rows)
        self.branch_limit = BatchLimit(max(rows, MIN_BRANCHES_PER_PASS))
        self.generation_limit = BatchLimit(rows)
        self.counts = ScoringCounts()
        self._pairs: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        self.guard = LengthGuard(over_length, self.max_length)
        self.store = PrefixStore(int(float(prefix_cache_gib) * 2**30), min_tokens=int(one_pass_tokens))
        self._cache_name = cache_argument()
        self.scorer = PrefixScorer(
            self.model,
            self.device,
            pad_token_id=self.tokenizer.pad_token_id,
            context_limit=self.context_limit,
            branch_limit=self.branch_limit,
            store=self.store,
            one_pass_tokens=int(one_pass_tokens),
            counts=self.counts,
            fuse_read_tokens=int(fuse_read_tokens),
        )

    # ----- log-likelihood -------------------------------------------------------------

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        try:
            fitted = self._fit_to_window(requests)
            return super().loglikelihood(fitted, disable_tqdm=disable_tqdm)
        finally:
            self._pairs.clear()

    def _fit_to_window(self, requests: list[Instance]) -> list[Instance]:
        """The requests as they will be scored: over-long contexts handled by the guard.

        Requests are grouped per task, so each task's counts are its own even when two
        tasks send the same context (the scorer still reads that context once).
        """
        by_context: dict[tuple[str | None, str], list[Instance]] = {}
        for instance in requests:
            by_context.setdefault((instance.task_name, instance.args[0]), []).append(instance)
        fitted: dict[int, Instance] = {}
        for (_, context), group in by_context.items():
            lengths = [self._pair_lengths(context, inst.args[1]) for inst in group]
            longest_continuation = max(cont for _, cont in lengths)
            new_context = self.guard.fit(
                group,
                context,
                count_tokens=self._context_tokens,
                needed=lengths[0][0] + longest_continuation - 1,
                budget=self.max_length - longest_continuation + 1,
            )
            for inst in group:
                fitted[id(inst)] = replaced = replace_context(inst, new_context)
                context_tokens, continuation_tokens = self._pair_lengths(new_context, inst.args[1])
                if context_tokens + continuation_tokens - 1 > self.max_length:
                    # _loglikelihood_tokens will cut it exactly as stock `hf` does.
                    self.guard.note_left_cut(replaced)
        return [fitted[id(inst)] for inst in requests]

    def _context_tokens(self, context: str) -> int:
        return len(self.tok_encode(context.rstrip())) if context.rstrip() else 1

    def _pair_lengths(self, context: str, continuation: str) -> tuple[int, int]:
        """Context and continuation token counts exactly as TemplateLM.loglikelihood splits them."""
        if context == "":
            return 1, len(self.tok_encode(continuation, add_special_tokens=False))
        context_enc, continuation_enc = self._encode_pair(context, continuation)
        return len(context_enc), len(continuation_enc)

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        # The length check and TemplateLM.loglikelihood both need every pair's tokens; a
        # long book is tokenised once per option instead of twice.
        key = (context, continuation)
        if key not in self._pairs:
            self._pairs[key] = super()._encode_pair(context, continuation)
        return self._pairs[key]

    def _loglikelihood_tokens(
        self,
        requests: list[tuple[tuple[str, str] | None, list[int], list[int]]],
        disable_tqdm: bool = False,
        override_bs: int | None = None,
    ) -> list[tuple[float, bool]]:
        pairs = []
        for _, context, continuation in requests:
            if len(continuation) > self.max_length:
                raise ValueError(
                    f"a continuation of {len(continuation)} tokens exceeds the model window {self.max_length}"
                )
            excess = len(context) + len(continuation) - 1 - self.max_length
            if excess > 0:
                # Only prompts the length guard already booked get here (policy truncate,
                # or a fit that could not shorten); stock `hf` cuts the same way.
                context = context[excess:]
            pairs.append((context, continuation))
        with self._progress("log-likelihood tokens", disable_tqdm) as advance:
            results = self.scorer.score(pairs, progress=advance)
        for (request_str, _, _), answer in zip(requests, results, strict=True):
            if request_str is not None:
                self.cache_hook.add_partial("loglikelihood", request_str, answer)
        return results

    # ----- generation -----------------------------------------------------------------

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        fitted = []
        for instance in requests:
            context, gen_kwargs = instance.args
            max_gen_toks = normalize_gen_kwargs(gen_kwargs, self.max_gen_toks)["max_gen_toks"]
            budget = self.max_length - max_gen_toks
            new_context = self.guard.fit(
                [instance],
                context,
                count_tokens=self._prompt_tokens,
                needed=self._prompt_tokens(context) + max_gen_toks,
                budget=budget,
            )
            fitted.append(replace_context(instance, new_context))
            if self._prompt_tokens(new_context) > budget:
                # HFLM.generate_until keeps the last max_length - max_gen_toks tokens.
                self.guard.note_left_cut(fitted[-1])
        with self._progress("generations", disable_tqdm) as advance:
            return generate_in_batches(
                fitted,
                self.generation_limit,
                generate_batch=self._generate_batch,
                count_tokens=self._prompt_tokens,
                on_done=advance(len(fitted)),
                from_store=self._starts_from_store,
            )

    def _starts_from_store(self, instance: Instance) -> bool:
        tokens = self.tok_encode(instance.args[0])[-(self.max_length - 1) :]
        return self.store.covered(tokens) >= self.store.min_tokens

    def _prompt_tokens(self, context: str) -> int:
        return len(self.tok_encode(context))

    def _generate_batch(self, batch: list[Instance]) -> list[str]:
        """Stock HFLM generation for one batch of requests sharing gen_kwargs."""
        saved = self.batch_size_per_gpu
        self.batch_size_per_gpu = len(batch)
        try:
            return HFLM.generate_until(self, batch, disable_tqdm=True)
        finally:
            self.batch_size_per_gpu = saved

    def _model_generate(self, context: torch.Tensor, max_length: int, stop: list[str], **generation_kwargs):
        """Stock generation, from each row's longest stored prefix, or from each row's
        prompt read alone (`cache_from_store`); each prompt's KV cache is kept in the store
        afterwards."""
        mask = generation_kwargs.get("attention_mask")
        cache = cache_from_store(self.store, context, mask, read=self.scorer.extend)
        generation_kwargs[self._cache_name] = cache
        out = super()._model_generate(context, max_length, stop, **generation_kwargs)
        keep_prompt_caches(self.store, cache, context, mask)
        return out

    # ----- reporting ------------------------------------------------------------------

    def medlc_report(self) -> dict[str, Any]:
        """What this backend did since the last reset: over-length outcomes per task,
        forward passes, batch back-offs. lm-eval writes it into the results JSON as
        `config.medlc_report` (see `get_model_info`)."""
        limits = {
            "contexts": self.context_limit,
            "branches": self.branch_limit,
            "generation": self.generation_limit,
        }
        resolved = str(self.pretrained) if isinstance(self.pretrained, str) else None
        return {
            "backend": "medlc-hf",
            "model": self.requested | {"resolved": resolved},
            "over_length": self.guard.report(),
            "scoring": self.counts.as_dict(),
            "prefix_cache": self.store.report(),
            "batching": {
                "auto": self.auto_batch,
                "rows_now": {name: limit.rows for name, limit in limits.items()},
                "max_pack_tokens": self.context_limit.max_tokens,
                "out_of_memory_backoffs": sum(limit.backoffs for limit in limits.values()),
            },
        }

    def pop_medlc_report(self) -> dict[str, Any]:
        """`medlc_report()`, then start afresh: counts reset, prefix caches dropped (one
        call per evaluation, so no cache outlives the evaluation that read it)."""
        report = self.medlc_report()
        self.guard.reset()
        self.counts = self.scorer.counts = ScoringCounts()
        self.store.clear()
        self.store.reset_counts()
        return report

    def get_model_info(self) -> dict[str, Any]:
        if isinstance(self.pretrained, str) and not Path(self.pretrained).exists():
            info = super().get_model_info()
        else:
            # HFLM asks the hub for a commit sha; a local directory has none.
            info = {
                "model_num_parameters": self._model.num_parameters(),
                "model_dtype": str(self._model.dtype),
                "model_revision": self.revision,
                "model_sha": "",
            }
        source = Path(str(self.pretrained)) / "medlc_source.txt"
        if source.is_file():
            info["gguf_source"] = source.read_text(encoding="utf-8").strip()
        # lm-eval asks for this once, after the evaluation, and writes it under `config`:
        # so every results file, `medlc lm-eval`'s and `medlc run`'s alike, carries the
        # over-length counts of the tasks it scored.
        report = self.medlc_report()
        return info | {"medlc_backend": "medlc-hf", "requested": self.requested, "medlc_report": report}

    def _progress(self, what: str, disable: bool) -> _Bar:
        return _Bar(what, disable or self.rank != 0)


class _Bar:
    """A rich progress bar; `advance(total)` sets the total and returns the step callback."""

    def __init__(self, what: str, disable: bool):
        self.what = what
        columns = (TextColumn(f"medlc-hf {what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self.progress = None if disable else Progress(*columns, transient=True)

    def __enter__(self) -> Callable[[int], Callable[[int], None]]:
        if self.progress is None:
            return lambda total: lambda n: None
        self.progress.start()

        def advance(total: int) -> Callable[[int], None]:
            task = self.progress.add_task(self.what, total=total)
            return lambda n: self.progress.advance(task, n)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
