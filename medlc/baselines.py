"""`medlc-baseline`: answers to every medlc task that need no reading, as an lm-eval LM.

An open-book score means "found and read the evidence" only where a rule that never reads
scores well below it. These rules run through lm-eval like any model, so they sit beside
every model in results, reports and gates:

* `count`: the option whose text occurs most often in the book (`shortcuts.count_choice`,
  the rule the exam builder balances against); ties, "named nowhere" included, at random;
* `retrieve`: a cheap reader that finds a passage and copies: rank the book's passages
  against the question with BM25, walk down the ranking to the first passage that names
  any option, and pick the option it names most often (ties at random). With no book, or
  no ranked passage naming an option, the pick is random;
* `random`: a uniform pick.

Every random choice comes from a per-item RNG seeded by (`seed`, item id, bucket), so an
item gets the same answer in every variant, task and request order. Log-likelihood
requests get 0.0 for the chosen option and `REJECTED_LOGLIKELIHOOD` for the others, which
makes both `acc` and `acc_norm` pick exactly the chosen option; generation requests get its
letter (so a multi-answer item is always answered wrong). No model, tokenizer or torch is
loaded: the tasks see no `pretrained` and count every item `overlength_unchecked`, which is
the truth here, since a baseline reads every character of every book.

Importing this module registers the LM:

    import lm_eval, medlc.baselines
    from lm_eval.tasks import TaskManager

    lm_eval.simple_evaluate(model="medlc-baseline", model_args="method=count,seed=1234",
                            tasks=["medlc_openbook_1k"],
                            task_manager=TaskManager(include_path="<medlc_tasks folder>"))
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import lm_eval.models  # noqa: F401  (see below)
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from medlc_tasks.exam.shortcuts import count_choice, item_rng, most_named, option_counts
from medlc_tasks.exam.textnorm import normalize
from medlc_tasks.prompts import continuations

# lm-eval fills its model registry with the built-in names (hf, vllm, ...) only when the
# registry is empty at the first lookup; registering medlc-baseline first would hide them.
# Importing lm_eval.models (a name -> module mapping, no heavy imports) fills it now.

METHODS = ("count", "retrieve", "random")
DEFAULT_SEED = 1234
# Finite, so results stay strict JSON; far enough below 0.0 that dividing it by any option
# length (acc_norm) still ranks it last.
REJECTED_LOGLIKELIHOOD = -1e9
_DOC_FIELDS = ("id", "bucket", "question", "choices", "options", "book", "passages")

RULES = {
    "count": "the option whose text occurs most often in the book; ties broken at random",
    "retrieve": (
        "BM25 over the book's passages (bm25s defaults: lucene, k1=1.5, b=0.75; tokens: "
        "character bigrams of Chinese runs, whole Latin/number words), query = the question; "
        "the first ranked passage (score > 0) naming an option gives its most-named option, "
        "ties at random; no such passage: random"
    ),
    "random": "a uniform random option",
}

# Chinese has no spaces, and segmenting it into words needs a dictionary (a dependency with
# errors of its own); overlapping character bigrams are the usual dictionary-free unit for
# Chinese retrieval and hold most two-character medical terms whole. Latin and number runs
# ("ST", "V1", "4.5") stay whole words.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RUN = re.compile(rf"[{_HAN}]+|[a-z0-9]+(?:\.[0-9]+)*")


def bm25_tokens(text: str) -> list[str]:
    """The retrieval tokens of a text: Chinese character bigrams and Latin/number words."""
    tokens: list[str] = []
    for run in _TOKEN_RUN.findall(normalize(text).lower()):
        if run[0].isascii():
            tokens.append(run)
        else:
            tokens.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return tokens


def passage_ranking(passages: list[str], question: str) -> list[int]:
    """Indices of the passages that share a term with the question, best BM25 score first
    (equal scores in book order)."""
    import bm25s  # only `retrieve` needs it

    query = bm25_tokens(question)
    if not passages or not query:
        return []
    index = bm25s.BM25()
    index.index([bm25_tokens(p) for p in passages], show_progress=False)
    known = index.get_tokens_ids(query)
    if not known:
        return []
    scores = index.get_scores(known)
    return sorted((i for i in range(len(passages)) if scores[i] > 0), key=lambda i: (-scores[i], i))


# A rule returns the chosen option index and what decided it (counted in the report).
Choice = tuple[int, str]


def choose_count(doc: Mapping[str, Any], rng: random.Random) -> Choice:
    counts = option_counts(doc["book"], doc["options"])
    basis = "named_nowhere" if max(counts) == 0 else "tied" if len(most_named(counts)) > 1 else "most_named"
    return count_choice(doc["book"], doc["options"], rng), basis


def choose_retrieve(doc: Mapping[str, Any], rng: random.Random) -> Choice:
    for passage in passage_ranking(list(doc["passages"]), doc["question"]):
        counts = option_counts(doc["passages"][passage], doc["options"])
        if max(counts) > 0:
            top = most_named(counts)
            return rng.choice(top), "tied_in_passage" if len(top) > 1 else "passage"
    return rng.randrange(len(doc["options"])), "no_passage"


def choose_random(doc: Mapping[str, Any], rng: random.Random) -> Choice:
    return rng.randrange(len(doc["options"])), "random"


CHOOSERS: dict[str, Callable[[Mapping[str, Any], random.Random], Choice]] = {
    "count": choose_count,
    "retrieve": choose_retrieve,
    "random": choose_random,
}


def choose(doc: Mapping[str, Any], method: str, seed: int) -> Choice:
    """The option `method` picks for one medlc task document, and what decided it."""
    return CHOOSERS[method](doc, item_rng(seed, doc["id"], doc["bucket"]))


@register_model("medlc-baseline")
class BaselineLM(LM):
    """A model-free lm-eval LM; see the module docstring.

    method: count | retrieve | random. seed: the tie-break and random-pick seed.
    batch_size, max_batch_size, device: accepted (lm-eval passes them) and unused.
    """

    def __init__(
        self,
        method: str = "count",
        seed: int | str = DEFAULT_SEED,
        batch_size: Any = None,
        max_batch_size: Any = None,
        device: Any = None,
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"medlc-baseline: method={method!r}; expected one of {METHODS}")
        try:
            self.seed = int(seed)
        except ValueError:
            raise ValueError(f"medlc-baseline: seed={seed!r}; expected an integer") from None
        self.method = method
        self._choices: dict[tuple[str, str, str], Choice] = {}
        self.tasks: dict[str, Counter] = {}

    def _choice(self, instance: Instance) -> int:
        doc = instance.doc
        missing = [name for name in _DOC_FIELDS if not isinstance(doc, Mapping) or name not in doc]
        if missing:
            raise ValueError(
                f"medlc-baseline answers medlc exam tasks only: task {instance.task_name!r} doc "
                f"{instance.doc_id} has no {', '.join(missing)}"
            )
        key = (doc["id"], doc["bucket"], doc["book"])
        if key not in self._choices:
            self._choices[key] = choose(doc, self.method, self.seed)
        index, basis = self._choices[key]
        counts = self.tasks.setdefault(instance.task_name or "(no task)", Counter())
        if instance.idx == 0:  # once per document, whatever the number of options
            counts["docs"] += 1
            counts[f"decided_by_{basis}"] += 1
            counts[f"overlength_{doc.get('overlength_action', 'none')}"] += 1
        return index

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        scores = []
        for instance in requests:
            doc, continuation = instance.doc, instance.args[1]
            chosen = self._choice(instance)
            options = range(len(doc["options"]))
            expected = (
                {c[instance.idx] for c in (continuations(doc, "letter"), continuations(doc, "cloze"))}
                if instance.idx in options
                else set()
            )
            if continuation not in expected:
                raise ValueError(
                    f"medlc-baseline: task {instance.task_name!r} doc {instance.doc_id} request "
                    f"{instance.idx} scores {continuation!r}; expected option {instance.idx} "
                    f"as a letter or text ({sorted(expected)})"
                )
            picked = instance.idx == chosen
            scores.append((0.0, True) if picked else (REJECTED_LOGLIKELIHOOD, False))
        return scores

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        return [instance.doc["choices"][self._choice(instance)] for instance in requests]

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError(
            "medlc-baseline answers multiple-choice and generated medlc exam items; it has no "
            "language model and cannot score perplexity (loglikelihood_rolling)"
        )

    # A baseline ignores the prompt, so a chat template changes nothing; these let it run
    # in the same `--apply_chat_template` job as chat models.
    @property
    def tokenizer_name(self) -> str:
        return "medlc-baseline"

    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        return "\n\n".join(message["content"] for message in chat_history)

    def medlc_report(self) -> dict[str, Any]:
        """What the baseline answered, per task: documents, what decided each choice, and the
        over-length outcome the tasks recorded (`unchecked`: no window, every book read)."""
        return {
            "backend": "medlc-baseline",
            "baseline": {"method": self.method, "seed": self.seed},
            "tasks": {name: dict(sorted(counts.items())) for name, counts in sorted(self.tasks.items())},
        }

    def pop_medlc_report(self) -> dict[str, Any]:
        """`medlc_report()`, then start counting afresh."""
        report = self.medlc_report()
        self.tasks = {}
        return report

    def get_model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"method": self.method, "seed": self.seed, "rule": RULES[self.method]}
        if self.method == "retrieve":
            from importlib.metadata import version

            info["bm25s_version"] = version("bm25s")
        return {"medlc_backend": "medlc-baseline", "baseline": info}
