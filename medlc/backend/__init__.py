"""The `medlc-hf` lm-eval backend. Importing this package registers it with lm-eval:

    import lm_eval
    import medlc.backend  # registers "medlc-hf"

    results = lm_eval.simple_evaluate(
        model="medlc-hf",
        model_args="pretrained=gemma3-270m",
        tasks=["medlc_openbook_4k"],
        task_manager=lm_eval.tasks.TaskManager(include_path=medlc.backend.tasks_dir()),
    )
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
