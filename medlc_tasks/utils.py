"""The `!function` hooks the medlc task YAMLs name. Logic lives in importable modules
(`medlc_tasks.loading`, `.prompts`, `.metrics`) so the scorer backend and tests share it."""

from __future__ import annotations

import logging
from typing import Any

import datasets
from lm_eval.api.samplers import ContextSampler

from medlc_tasks import metrics, prompts
from medlc_tasks.exam.bundled import resolve_exam_dir
from medlc_tasks.loading import DEFAULT_MARGIN_TOKENS, build_docs, model_window, quiet_repeated_metadata_hint

logger = logging.getLogger("medlc_tasks")
# lm-eval imports this file when it reads the task YAMLs, before it builds any task.
quiet_repeated_metadata_hint()


def load_exam(
    exam_bucket: str,
    prompt_variant: str,
    exam_dir: str | None = None,
    overlength_margin_tokens: int = DEFAULT_MARGIN_TOKENS,
    max_gen_toks: int = prompts.GEN_MAX_TOKENS,
    loaded: dict | None = None,
    **metadata: Any,
) -> datasets.DatasetDict:
    """`custom_dataset` for every medlc task.

    lm-eval calls it with the task's `dataset_kwargs` (`exam_bucket`, `prompt_variant`,
    `loaded`) and its metadata: `--metadata` JSON merged with the parsed `--model_args`.
    The exam is `exam_dir`, else $MEDLC_EXAM_DIR, else the bundled exam.

    `loaded` is the task config's own (empty) dict: filling it puts the exam file, its
    sha256 and what the loader did into the results JSON under the task's config.
    """
    directory = resolve_exam_dir(exam_dir)
    window = model_window(metadata)
    if window is None:
        logger.warning(
            "medlc %s/%s: no model in the task metadata (--model_args pretrained=...), so the "
            "dataset cannot apply the over-length policy; docs are counted as "
            "overlength_unchecked. The medlc-hf backend applies the policy at scoring time; "
            "lm-eval's hf backend would cut an over-long prompt from the left.",
            exam_bucket,
            prompt_variant,
        )
    docs, report = build_docs(
        directory,
        exam_bucket,
        prompt_variant,
        window,
        margin_tokens=int(overlength_margin_tokens),
        max_gen_toks=int(max_gen_toks),
    )
    logger.info(
        "medlc %s/%s: %s; exam sha256 %s; window %s",
        exam_bucket,
        prompt_variant,
        report.summary(),
        report.file_sha256,
        "unchecked" if window is None else f"{window.window} tokens ({window.source})",
    )
    if report.multi_answer_excluded:
        logger.warning(
            "medlc %s/%s: %d multi-answer items excluded from log-likelihood scoring "
            "(the _gen tasks score them by exact set match)",
            exam_bucket,
            prompt_variant,
            report.multi_answer_excluded,
        )
    if loaded is not None:
        loaded.clear()
        loaded.update(report.as_dict())
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def doc_to_text_letter(doc: dict) -> str:
    return prompts.render_prompt(doc, "letter")


def doc_to_text_cloze(doc: dict) -> str:
    return prompts.render_prompt(doc, "cloze")


def doc_to_text_gen(doc: dict) -> str:
    return prompts.render_prompt(doc, "gen")


def doc_to_choice_letter(doc: dict) -> list[str]:
    return prompts.choices_for(doc, "letter")


def doc_to_choice_cloze(doc: dict) -> list[str]:
    return prompts.choices_for(doc, "cloze")


process_results_letter = metrics.score_letter
process_results_cloze = metrics.score_cloze
process_results_gen = metrics.score_gen
total = metrics.total


class ZeroShotSampler(ContextSampler):
    """`fewshot_config.sampler` of every medlc task: asked for any shot (lm_eval's
    `--num_fewshot`, `simple_evaluate(num_fewshot=...)`), it refuses with the reason."""

    def sample(self, n: int, eval_doc: Any = None, df: Any = None, **kwargs: Any) -> list:
        prompts.refuse_fewshot(n, "num_fewshot")
        return []
