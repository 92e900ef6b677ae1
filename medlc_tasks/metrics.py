"""Per-item scoring and the metric keys every medlc task reports.

Keys, by variant (all real metric keys; none is ever a placeholder value):

* headline: `acc` (letter, cloze, gen), `acc_norm` (cloze: log-likelihood divided by the
  option's length in characters, as lm-eval computes it), `format_compliance` (gen: the
  share of answers from which option letters could be extracted);
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

# What lm-eval's regex filter returns when it finds no letters (its default fallback).
NO_ANSWER = "[invalid]"
# Option letters as a model writes them: "B", "ACD", "A、C", "B和D", full-width "Ｂ". A letter
# glued to other Latin letters ("Because") is a word, not an answer.
LETTERS_PATTERN = r"(?<![A-Za-z])([A-HＡ-Ｈ](?:[\s,，、和及]*[A-HＡ-Ｈ])*)(?![A-Za-z])"


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


def extracted_letters(filtered: str) -> str:
    """The sorted set of option letters in a filtered answer; "" when there were none."""
    if filtered == NO_ANSWER:
        return ""
    return "".join(sorted(set(re.findall("[A-H]", unicodedata.normalize("NFKC", filtered)))))


def score_gen(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, float]:
    """One item of a generative variant: exact set match of the extracted letters."""
    letters = extracted_letters(results[0])
    return _with_breakdowns(
        doc,
        "gen",
        {"acc": float(letters == doc["answer"]), "format_compliance": float(bool(letters))},
    )


def total(items: Sequence[float]) -> int:
    """Aggregation for the count keys: a sum, so the result says how many items."""
    return int(sum(items))
