"""How an exam item becomes a prompt, one function per scoring variant.

The over-length policy measures the exact prompt the task sends, so the dataset loader,
the task's `doc_to_text` and the scorer backend all render through `render_prompt`.
A record without a book (closed-book, or a flagged item whose book was withheld) is asked
with the closed-book wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Variant = Literal["letter", "cloze", "gen"]
VARIANTS: tuple[str, ...] = ("letter", "cloze", "gen")

# The letter continuation is " A" after "答案：", as in lm-eval's cmmlu/ceval tasks; Chinese
# option texts follow "答案：" directly.
LETTER_DELIMITER = " "
CLOZE_DELIMITER = ""
# Generation budget; _gen_template_yaml's generation_kwargs.max_gen_toks must equal it
# (tests check), because the over-length policy reserves exactly this much room.
GEN_MAX_TOKENS = 32
GEN_STOP = ["\n\n", "问题："]

_INSTRUCTIONS: dict[tuple[str, bool], str] = {
    ("letter", True): "以下是一道医学考试单项选择题，并附有参考资料。请根据参考资料选出正确答案。",
    ("letter", False): "以下是一道医学考试单项选择题。请选出正确答案。",
    ("cloze", True): "以下是一道医学考试题，并附有参考资料。请根据参考资料回答问题。",
    ("cloze", False): "以下是一道医学考试题。请回答问题。",
    ("gen", True): (
        "以下是一道医学考试选择题，并附有参考资料。请根据参考资料作答。"
        "只写出正确选项的字母（多选题写出全部正确字母，如 ACD），不要解释。"
    ),
    ("gen", False): (
        "以下是一道医学考试选择题。请作答。只写出正确选项的字母（多选题写出全部正确字母，如 ACD），不要解释。"
    ),
}


def _get(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def options_block(record: Any) -> str:
    pairs = zip(_get(record, "choices"), _get(record, "options"), strict=True)
    return "\n".join(f"{letter}. {text}" for letter, text in pairs)


def render_prompt(record: Any, variant: str) -> str:
    """The full prompt for a BuiltRecord or a task doc (a dict with the same fields)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; expected one of {VARIANTS}")
    book = _get(record, "book")
    parts = [_INSTRUCTIONS[(variant, bool(book))]]
    if book:
        parts.append(f"参考资料：\n{book}")
    question = _get(record, "question")
    if variant == "cloze":
        parts.append(f"问题：{question}\n答案：")
    elif variant == "gen":
        kind = "多选题" if _get(record, "multi_answer") else "单选题"
        parts.append(f"问题（{kind}）：{question}\n{options_block(record)}\n答案：")
    else:
        parts.append(f"问题：{question}\n{options_block(record)}\n答案：")
    return "\n\n".join(parts)


def choices_for(record: Any, variant: str) -> list[str]:
    """What a log-likelihood variant scores: option letters, or option texts for cloze."""
    return list(_get(record, "options") if variant == "cloze" else _get(record, "choices"))


def continuations(record: Any, variant: str) -> list[str]:
    """The exact continuation strings a log-likelihood variant appends to the prompt."""
    delimiter = CLOZE_DELIMITER if variant == "cloze" else LETTER_DELIMITER
    return [delimiter + choice for choice in choices_for(record, variant)]
