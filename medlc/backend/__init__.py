"""The `medlc-hf` lm-eval backend. Importing this package registers it with lm-eval.

From the command line, `medlc lm-eval --model medlc-hf ...` (every `lm_eval` flag works).
From Python, through `medlc.scoring`, which also puts medlc's tasks on the include path:

    from medlc import scoring

    model_args = {"pretrained": "gemma3-270m"}  # or a hub id, a local or adapter folder, gguf_file=
    lm = scoring.build_lm("medlc-hf", model_args)
    # With the model in the metadata the tasks fit each book to its window while loading;
    # either way the backend re-checks every prompt at scoring time.
    manager = scoring.task_manager(metadata=model_args)
    options = scoring.ScoringOptions(limit=20)
    results = scoring.evaluate(lm, ["medlc_openbook_cloze_1k"], manager, options, "medlc-hf", model_args)

The backend's over-length counts per task land in `results["config"]["medlc_report"]`.
"""

from __future__ import annotations

from medlc.backend.length import POLICIES as OVER_LENGTH_POLICIES
from medlc.backend.lm import MedlcLM
from medlc.backend.prefix import PrefixScorer, ScoringCounts

__all__ = ["MedlcLM", "OVER_LENGTH_POLICIES", "PrefixScorer", "ScoringCounts"]
