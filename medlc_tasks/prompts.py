"""How an exam item becomes a prompt, one function for every scoring variant.

The over-length policy measures the exact prompt the task sends, so the dataset loader,
the task's `doc_to_text` and the scorer backend all render through `render_prompt`.
A record without a book (closed-book, or a flagged item whose book was withheld) is asked
with the closed-book wording.

Layout (task version 2.0): what every variant shares comes first, what tells them apart
comes last, so the letter, cloze and generative prompts of one item share one prefix
holding the instruction, the whole book and the question. A backend that reuses a read
prefix therefore reads each book once across the variants.

    <shared instruction>            one per open/closed book, the same for every variant

    参考资料：                        open book only
    <book>

    问题：<question>
    <variant tail>                  letter: options, 答案：
                                    cloze:  答案：
                                    gen:    options, blank line, the letters-only
                                            instruction, 答案：
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from medlc_core.errors import UserError

Variant = Literal["letter", "cloze", "gen"]
VARIANTS: tuple[str, ...] = ("letter", "cloze", "gen")

# The letter continuation is " A" after "答案：", as in lm-eval's cmmlu/ceval tasks; Chinese
# option texts follow "答案：" directly.
LETTER_DELIMITER = " "
CLOZE_DELIMITER = ""
# Generation budget; _gen_template_yaml's generation_kwargs.max_gen_toks must equal it
# (tests check), because the over-length policy reserves exactly this much room.
GEN_MAX_TOKENS = 32
# A model that has answered and goes on writes a blank line or a new "问题：". The prompt
# itself holds both (between its parts), but generation only sees what follows "答案：".
GEN_STOP = ["\n\n", "问题："]

ANSWER_CUE = "答案："
_SHARED_INSTRUCTION = {
    True: "以下是一道医学考试题，并附有参考资料。请根据参考资料回答问题。",
    False: "以下是一道医学考试题。请回答问题。",
}
_GEN_INSTRUCTION = {
    False: "本题为单选题。只写出正确选项的字母，不要解释。",
    True: "本题为多选题。只写出全部正确选项的字母（如 ACD），不要解释。",
}


class FewShotError(UserError, ValueError):
    """Few-shot examples asked of a medlc task, which is zero-shot by design."""


def refuse_fewshot(num_fewshot: int, where: str) -> None:
    """Raise FewShotError unless `num_fewshot` asks for no examples (0 or None).

    medlc tasks have only a test split, so lm-eval would draw the shots from it: other
    exam items, with their answers (counterfactual keys included) and their books, would
    sit in the prompt, leaking answers and making it several times longer.
    """
    if num_fewshot:
        raise FewShotError(
            f"{where}: medlc tasks are zero-shot, got num_fewshot={num_fewshot}; shots would come "
            "from the test split, putting other exam items, their answers and their books in the "
            "prompt; use 0 (or leave it unset) for medlc tasks"
        )


def _get(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def options_block(record: Any) -> str:
    """The options as the letter and gen variants list them: one "A. text" line each."""
    pairs = zip(_get(record, "choices"), _get(record, "options"), strict=True)
    return "\n".join(f"{letter}. {text}" for letter, text in pairs)


def shared_prefix(record: Any) -> str:
    """Instruction, book and question: the start every variant's prompt has in common."""
    book = _get(record, "book")
    parts = [_SHARED_INSTRUCTION[bool(book)]]
    if book:
        parts.append(f"参考资料：\n{book}")
    parts.append(f"问题：{_get(record, 'question')}\n")
    return "\n\n".join(parts)


def render_prompt(record: Any, variant: str) -> str:
    """The full prompt for a BuiltRecord or a task doc (a dict with the same fields)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; expected one of {VARIANTS}")
    if variant == "cloze":
        tail = ANSWER_CUE
    elif variant == "gen":
        instruction = _GEN_INSTRUCTION[bool(_get(record, "multi_answer"))]
        tail = f"{options_block(record)}\n\n{instruction}\n{ANSWER_CUE}"
    else:
        tail = f"{options_block(record)}\n{ANSWER_CUE}"
    return shared_prefix(record) + tail


def choices_for(record: Any, variant: str) -> list[str]:
    """What a log-likelihood variant scores: option letters, or option texts for cloze."""
    return list(_get(record, "options") if variant == "cloze" else _get(record, "choices"))


def continuations(record: Any, variant: str) -> list[str]:
    """The exact continuation strings a log-likelihood variant appends to the prompt."""
    delimiter = CLOZE_DELIMITER if variant == "cloze" else LETTER_DELIMITER
    return [delimiter + choice for choice in choices_for(record, variant)]
