"""Per-item scoring and the metric keys every medlc task reports.

Keys, by variant (all real metric keys; none is ever a placeholder value):

* headline: `acc` (letter, cloze, gen), `acc_norm` (cloze: log-likelihood divided by the
  option's length in characters, as lm-eval computes it), `format_compliance` (gen: the
  share of answers that give option letters and obey the answer rules of
  `answer_letters`: no echo of the options block, one letter for a single-answer item);
* breakdowns of each accuracy headline, each averaged only over the items it names:
  `<acc>_depth_0|25|50|75|100` (gold passage depth; open-book only),
  `<acc>_counterfactual`, `<acc>_factual`, `<acc>_contradicting` (counterfactual items
  whose key contradicts common knowledge). An item returns only the breakdown keys that
  describe it; lm-eval then averages each key over exactly the items that returned it;
* counts (summed, not averaged): `book_shortened`, `overlength_flagged`,
  `overlength_unchecked` -- how many items the over-length policy shortened, flagged, or
  could not check because no model was named.

Flagged items are scored as wrong: a model whose window cannot hold the question and its
evidence has not read it. They stay in every denominator, so a short-window model cannot
look better on long books by having its hard items removed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from medlc_tasks.exam.textnorm import match_key

DEPTH_PERCENTS = (0, 25, 50, 75, 100)
DEPTH_SUFFIXES = tuple(f"depth_{p}" for p in DEPTH_PERCENTS)
KIND_SUFFIXES = ("counterfactual", "factual", "contradicting")
COUNT_KEYS = ("book_shortened", "overlength_flagged", "overlength_unchecked")

# Headline metrics per variant, and which of them get per-depth/per-kind breakdowns.
HEADLINES: dict[str, tuple[str, ...]] = {
    "letter": ("acc",),
    "cloze": ("acc", "acc_norm"),
    "gen": ("acc", "format_compliance"),
}
BROKEN_DOWN: dict[str, tuple[str, ...]] = {
    "letter": ("acc",),
    "cloze": ("acc", "acc_norm"),
    "gen": ("acc",),
}

# Option letters as a model writes them (after NFKC, so full-width "Ｂ" is "B"): "B", "ACD",
# "A、C", "B和D". A letter glued to other Latin letters ("Because") is a word, not an answer.
_LETTER_RUN = re.compile(r"(?<![A-Za-z])([A-H](?:[\s,、和及]*[A-H])*)(?![A-Za-z])")
# One line of a listed option: "A. text", "A、text", "(A) text", "A: text".
_OPTION_LINE = re.compile(r"^\(?([A-H])(?![A-Za-z])\)?[.、:)]?\s*(.*)$")


def breakdown_suffixes(doc: Mapping[str, Any], open_book: bool) -> list[str]:
    """The breakdown keys (without the metric prefix) that describe this item."""
    suffixes = []
    if open_book and doc["depth"] >= 0:
        suffixes.append(f"depth_{round(doc['depth'] * 100)}")
    suffixes.append("counterfactual" if doc["counterfactual"] else "factual")
    if doc["contradicts_common_knowledge"]:
        suffixes.append("contradicting")
    return suffixes


def metric_keys(variant: str, open_book: bool) -> list[str]:
    """Every key a task of this variant can report, in report order."""
    suffixes = (DEPTH_SUFFIXES if open_book else ()) + KIND_SUFFIXES
    keys = list(HEADLINES[variant])
    keys += [f"{metric}_{s}" for metric in BROKEN_DOWN[variant] for s in suffixes]
    return keys + list(COUNT_KEYS)


def _with_breakdowns(doc: Mapping[str, Any], variant: str, headline: dict[str, float]) -> dict[str, float]:
    flagged = doc["overlength_action"] == "flagged"
    scores = {k: (0.0 if flagged and k in BROKEN_DOWN[variant] else v) for k, v in headline.items()}
    open_book = doc["bucket"] != "closed"
    for metric in BROKEN_DOWN[variant]:
        for suffix in breakdown_suffixes(doc, open_book):
            scores[f"{metric}_{suffix}"] = scores[metric]
    scores["book_shortened"] = int(doc["overlength_action"] == "shortened")
    scores["overlength_flagged"] = int(flagged)
    scores["overlength_unchecked"] = int(doc["overlength_action"] == "unchecked")
    return scores


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def score_letter(doc: Mapping[str, Any], results: Sequence[tuple[float, bool]]) -> dict[str, float]:
    """One item of a letter variant: the option letter with the highest log-likelihood."""
    lls = [ll for ll, _ in results]
    return _with_breakdowns(doc, "letter", {"acc": float(_argmax(lls) == doc["answer_index"])})


def score_cloze(doc: Mapping[str, Any], results: Sequence[tuple[float, bool]]) -> dict[str, float]:
    """One item of a cloze variant: raw and length-normalised log-likelihood of the option text."""
    lls = [ll for ll, _ in results]
    per_char = [ll / max(len(text), 1) for ll, text in zip(lls, doc["options"], strict=True)]
    gold = doc["answer_index"]
    return _with_breakdowns(
        doc,
        "cloze",
        {"acc": float(_argmax(lls) == gold), "acc_norm": float(_argmax(per_char) == gold)},
    )


def _lines(response: str) -> list[str]:
    return [line.strip() for line in unicodedata.normalize("NFKC", response).splitlines() if line.strip()]


def _listed_option(line: str, doc: Mapping[str, Any], prefix_only: bool = False) -> int | None:
    """The index of the option this line lists ("B. <option B's text>"), else None.
    With `prefix_only`, a line that breaks off inside the text ("B. 急性前") counts too."""
    listed = _OPTION_LINE.match(line)
    if listed is None or listed.group(1) not in doc["choices"]:
        return None
    index = list(doc["choices"]).index(listed.group(1))
    text, option = match_key(listed.group(2)), match_key(doc["options"][index])
    return index if option and (option.startswith(text) if prefix_only else text == option) else None


def echoes_options(response: str, doc: Mapping[str, Any]) -> bool:
    """Whether a generated answer restates the item's options block instead of answering.

    It does when it lists every option ("A. <text>" lines), or when it copies the block from
    option A and breaks off inside a later option: the generation budget ran out mid-echo.
    Listing only the chosen options with their texts is an answer, not an echo.
    """
    lines = _lines(response)
    n = len(doc["choices"])
    if {_listed_option(line, doc) for line in lines} >= set(range(n)):
        return True
    for start, line in enumerate(lines):
        if _listed_option(line, doc) != 0:
            continue
        copied = 1
        while start + copied < len(lines) and _listed_option(lines[start + copied], doc) == copied:
            copied += 1
        last = start + copied  # must be the response's last line, breaking off option `copied`
        broken_off = last == len(lines) - 1 and _listed_option(lines[last], doc, prefix_only=True) == copied
        if copied < n and broken_off:
            return True
    return False


def answer_letters(response: str, doc: Mapping[str, Any]) -> str:
    """The sorted option letters a generated answer gives; "" when it is non-compliant.

    The answer is the first run of letters in the response ("B。因为……" gives "B",
    "A、C、D" gives "ACD"), together with every option it lists with its text ("A. …"
    and "C. …" lines give "AC"). It is non-compliant, and so wrong, when it gives no
    letters, restates the options block (`echoes_options`), names a letter the item does
    not have, or names more than one letter for a single-answer item.
    """
    text = unicodedata.normalize("NFKC", response)
    if echoes_options(text, doc):
        return ""
    listed = {_listed_option(line, doc) for line in _lines(text)} - {None}
    letters = {doc["choices"][i] for i in listed}
    found = _LETTER_RUN.search(text)
    if found is not None:
        letters |= set(re.findall("[A-H]", found.group(1)))
    if not letters <= set(doc["choices"]) or (len(letters) > 1 and not doc["multi_answer"]):
        return ""
    return "".join(sorted(letters))


def score_gen(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, float]:
    """One item of a generative variant: exact set match of the answer's letters.

    `results[0]` is the raw generated text (the gen tasks' `letters` filter only takes the
    first response), so the compliance rules can see echoes and extra letters.
    """
    letters = answer_letters(results[0], doc)
    return _with_breakdowns(
        doc,
        "gen",
        {"acc": float(letters == doc["answer"]), "format_compliance": float(bool(letters))},
    )


def total(items: Sequence[float]) -> int:
    """Aggregation for the count keys: a sum, so the result says how many items."""
    return int(sum(items))
