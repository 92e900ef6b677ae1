"""The `medlc-hf` lm-eval backend. Importing this package registers it with lm-eval
(lm-eval 0.4.13's `lm_eval --model` only knows its built-in names; use `medlc eval` or):

    import lm_eval
    from lm_eval.tasks import TaskManager

    import medlc.backend  # registers "medlc-hf"

    model_args = {"pretrained": "gemma3-270m"}  # or a hub id / local dir, peft=, gguf_file=
    results = lm_eval.simple_evaluate(
        model="medlc-hf",
        model_args=model_args,
        tasks=["medlc_openbook_cloze_4k", "medlc_closedbook_cloze"],
        # With the model in the metadata the tasks fit each book to its window while
        # loading; either way the backend re-checks every prompt at scoring time.
        task_manager=TaskManager(include_path=medlc.backend.tasks_dir(), metadata=model_args),
    )

Or build the LM once and reuse it (`MedlcLM(**model_args)`, then `model=lm`), reading
`lm.pop_medlc_report()` after each evaluation for its over-length counts.
"""

from __future__ import annotations

from pathlib import Path

from medlc.backend.length import POLICIES as OVER_LENGTH_POLICIES
from medlc.backend.lm import MedlcLM
from medlc.backend.prefix import PrefixScorer, ScoringCounts


def tasks_dir() -> str:
    """The installed medlc task YAMLs, for lm-eval's `include_path`."""
    import medlc_tasks

    return str(Path(medlc_tasks.__file__).parent)


__all__ = ["MedlcLM", "OVER_LENGTH_POLICIES", "PrefixScorer", "ScoringCounts", "tasks_dir"]
