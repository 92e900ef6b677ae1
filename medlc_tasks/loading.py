"""From a built exam on disk to the documents an lm-eval task scores.

One call per task: read `openbook_<bucket>.v1.jsonl` (or the closed-book file), keep the
items the variant can score, apply the over-length policy for the model named in the task
metadata, and return a `datasets.DatasetDict` with one `test` split.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from medlc_core.provenance import sha256_file
from medlc_tasks.exam.fit import fit_record, prompt_budget, withhold_book
from medlc_tasks.exam.schema import MANIFEST_FILE, BuiltRecord
from medlc_tasks.exam.store import ExamDirError, read_manifest, read_records, record_file, require_bucket
from medlc_tasks.fitting import FITTER_FIELD, fitter_reference
from medlc_tasks.prompts import GEN_MAX_TOKENS, VARIANTS, continuations, render_prompt

logger = logging.getLogger("medlc_tasks")

# Tokens reserved beyond the prompt text for what the backend adds around it: a BOS token,
# and a chat template's role markers under --apply_chat_template. Override with
# --metadata '{"overlength_margin_tokens": N}'.
DEFAULT_MARGIN_TOKENS = 32
UNCHECKED = "unchecked"  # over-length action when no model was named in the metadata


class _FirstMetadataHintOnly(logging.Filter):
    """lm-eval warns "Custom kwargs can be passed to `--metadata`" once per task with a
    custom dataset; for the medlc tasks it is said once, then never again."""

    HINT = "Custom kwargs can be passed to `--metadata`"

    def __init__(self) -> None:
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if not (message.startswith("medlc_") and self.HINT in message):
            return True
        said, self.said = self.said, True
        return not said


def quiet_repeated_metadata_hint() -> None:
    """Install `_FirstMetadataHintOnly` on lm-eval's task logger (once per process)."""
    task_logger = logging.getLogger("lm_eval.api.task")
    if not any(isinstance(f, _FirstMetadataHintOnly) for f in task_logger.filters):
        task_logger.addFilter(_FirstMetadataHintOnly())


@dataclass(frozen=True)
class ModelWindow:
    """The context window of the model being scored, and how to count its tokens."""

    source: str  # where the tokenizer came from
    window: int  # tokens; what lm-eval's hf backend uses as max_length
    count_tokens: Callable[[str], int] = field(repr=False, compare=False)


@dataclass
class LoadReport:
    """What one task load read and did. The task records it in its results config
    (`dataset_kwargs.loaded`), so a score traces back to the exact exam file."""

    exam_file: str
    file_sha256: str
    manifest_sha256: str
    items_in_file: int = 0
    multi_answer_excluded: int = 0
    docs: int = 0
    overlength: Counter = field(default_factory=Counter)
    window_tokens: int | None = None  # None: no model named, policy not applied
    tokenizer: str | None = None
    margin_tokens: int = DEFAULT_MARGIN_TOKENS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"overlength": dict(sorted(self.overlength.items()))}

    def summary(self) -> str:
        actions = ", ".join(f"{k}={v}" for k, v in sorted(self.overlength.items()))
        return (
            f"{self.exam_file}: {self.docs} docs from {self.items_in_file} items "
            f"(multi-answer excluded: {self.multi_answer_excluded}; over-length: {actions})"
        )


def checked_records(exam_dir: Path, bucket: str) -> list[BuiltRecord]:
    """The bucket's records, refusing what would make scoring silently wrong: an empty
    file, a repeated id, or an answer_index that does not point at the keyed letter."""
    records = read_records(exam_dir, bucket)
    name = record_file(bucket)
    if not records:
        raise ExamDirError(f"{exam_dir / name}: the file holds no items")
    seen: set[str] = set()
    for line, record in enumerate(records, start=1):
        where = f"{name}, item {line} (id {record.id!r})"
        if record.id in seen:
            raise ExamDirError(f"{where}: duplicate item id")
        seen.add(record.id)
        if not record.multi_answer and not (
            0 <= record.answer_index < len(record.choices)
            and record.choices[record.answer_index] == record.answer
        ):
            raise ExamDirError(
                f"{where}: answer_index {record.answer_index} does not point at answer {record.answer!r} "
                f"among choices {record.choices}"
            )
    return records


@lru_cache(maxsize=8)
def _tokenizer_window(
    pretrained: str,
    gguf_file: str | None,
    tokenizer: str | None,
    max_length: int | None,
    revision: str | None,
    trust_remote_code: bool,
) -> ModelWindow:
    from lm_eval.models.utils import DEFAULT_MAX_LENGTH, resolve_max_length
    from transformers import AutoConfig, AutoTokenizer

    from medlc_core.models import resolve_pretrained

    local = resolve_pretrained(pretrained, gguf_file)
    hub: dict[str, Any] = {"trust_remote_code": trust_remote_code} | (
        {"revision": revision} if revision else {}
    )
    tok = AutoTokenizer.from_pretrained(tokenizer or local, **hub)
    if max_length:
        window = int(max_length)
    else:
        # The same resolution lm-eval's hf backend applies, so both sides agree on the window.
        config = AutoConfig.from_pretrained(local, **hub)
        window = resolve_max_length(config, tok, default=DEFAULT_MAX_LENGTH)

    def count_tokens(text: str) -> int:
        return len(tok(text, add_special_tokens=False, verbose=False)["input_ids"])

    return ModelWindow(source=tokenizer or local, window=window, count_tokens=count_tokens)


def model_window(metadata: Mapping[str, Any]) -> ModelWindow | None:
    """The scored model's window from the task metadata (lm-eval merges --model_args into
    it): `pretrained` (a PEFT adapter folder counts as its base), optional `gguf_file`,
    `tokenizer`, `max_length`, `revision`, `trust_remote_code`. None when no model is
    named by path or hub id."""
    from medlc_core.models import adapter_tokenizer, split_adapter

    pretrained = metadata.get("pretrained")
    if not isinstance(pretrained, str) or not pretrained:
        return None
    adapter = metadata.get("peft")
    if not adapter:
        pretrained, adapter = split_adapter(pretrained)
    max_length = metadata.get("max_length")
    tokenizer = metadata.get("tokenizer")
    revision = metadata.get("revision")
    return _tokenizer_window(
        pretrained,
        metadata.get("gguf_file") or None,
        tokenizer if isinstance(tokenizer, str) else adapter_tokenizer(adapter),
        int(max_length) if max_length else None,
        str(revision) if revision else None,
        bool(metadata.get("trust_remote_code", False)),
    )


def continuation_tokens(record: BuiltRecord, variant: str, window: ModelWindow, max_gen_toks: int) -> int:
    if variant == "gen":
        return max_gen_toks
    return max(window.count_tokens(text) for text in continuations(record, variant))


def _warn_if_letters_are_not_single_tokens(record: BuiltRecord, window: ModelWindow) -> None:
    # The letter variant compares one-token continuations; a tokenizer that splits " A"
    # makes the comparison depend on how the extra tokens are scored.
    lengths = {text: window.count_tokens(text) for text in continuations(record, "letter")}
    if max(lengths.values()) > 1:
        logger.warning("medlc: option letters are not single tokens for %s: %s", window.source, lengths)


def build_docs(
    exam_dir: Path,
    bucket: str,
    variant: str,
    window: ModelWindow | None,
    margin_tokens: int = DEFAULT_MARGIN_TOKENS,
    max_gen_toks: int = GEN_MAX_TOKENS,
) -> tuple[list[dict[str, Any]], LoadReport]:
    """The task documents for one bucket and variant, fitted to `window` when given."""
    exam_dir = Path(exam_dir)
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; expected one of {VARIANTS}")
    manifest = read_manifest(exam_dir)  # refuses a directory that is not a built exam
    require_bucket(exam_dir, manifest, bucket)
    records = checked_records(exam_dir, bucket)
    path = exam_dir / record_file(bucket)
    report = LoadReport(
        str(path),
        sha256_file(path),
        sha256_file(exam_dir / MANIFEST_FILE),
        items_in_file=len(records),
        window_tokens=None if window is None else window.window,
        tokenizer=None if window is None else window.source,
        margin_tokens=margin_tokens,
    )
    docs = []
    if window is not None and variant == "letter":
        _warn_if_letters_are_not_single_tokens(records[0], window)
    for record in records:
        if record.multi_answer and variant != "gen":
            # Log-likelihood scoring picks one option; multi-answer items are scored only
            # by the generative variants (exact set match).
            report.multi_answer_excluded += 1
            continue
        action, prompt_tokens, dropped = UNCHECKED, None, 0
        if window is not None:
            budget = prompt_budget(
                window.window, continuation_tokens(record, variant, window, max_gen_toks), margin_tokens
            )
            fit = fit_record(record, lambda r: render_prompt(r, variant), window.count_tokens, budget)
            action, prompt_tokens, dropped = fit.action, fit.prompt_tokens, fit.passages_dropped
            record = withhold_book(fit.record) if fit.action == "flagged" else fit.record
        report.overlength[action] += 1
        docs.append(
            asdict(record)
            | {
                "overlength_action": action,
                "prompt_tokens": prompt_tokens,
                "passages_dropped": dropped,
                # How a scoring backend re-applies the policy to the prompt it will send.
                FITTER_FIELD: fitter_reference(variant),
            }
        )
    report.docs = len(docs)
    if not docs:
        raise ExamDirError(
            f"{path}: no item can be scored by the {variant!r} variant "
            f"({report.multi_answer_excluded} multi-answer items are scored only by the _gen tasks)"
        )
    return docs, report
