"""Where the leaderboard's numbers come from: versions, exam data, the scoring backends,
and per task its metric key, YAML and scorer (the report's provenance footer)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from reports.collect import TaskRun


def provenance(runs: list[TaskRun]) -> dict[str, Any]:
    """What the results were scored with and from, for the report's footer and JSON."""

    def distinct(values) -> list:
        return sorted({json.dumps(v, sort_keys=True) for v in values if v is not None})

    versions = defaultdict(set)
    for run in runs:
        for lib, version in (run.record.get("versions") or {}).items():
            if version:
                versions[lib].add(version)
    exam_hashes = defaultdict(set)
    for run in runs:
        exam_hashes[run.task].add(run.data_hash)
    started = [run.record.get("started_at") for run in runs if run.record.get("started_at")]
    traces = {
        run.task: {
            "metric_key": f"{run.metric},{run.filter}",
            "yaml": run.facts.yaml,
            "scorer": scorer_name(run),
        }
        for run in sorted(runs, key=lambda r: r.task)
    }
    return {
        "tasks": traces,
        "versions": {lib: sorted(v) for lib, v in sorted(versions.items())},
        "exam_hashes": sorted({run.record.get("exam_hash") for run in runs if run.record.get("exam_hash")}),
        "data_hash_by_task": {task: sorted(h) for task, h in sorted(exam_hashes.items())},
        "task_versions": {run.task: run.version for run in sorted(runs, key=lambda r: r.task)},
        "backends": [json.loads(v) for v in distinct(backend(r) for r in runs)],
        "configs": [json.loads(v) for v in distinct(r.record.get("config_name") for r in runs)],
        "scored_from": min(started) if started else None,
        "scored_to": max(started) if started else None,
        "report_date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def backend(run: TaskRun) -> str | None:
    """The lm-eval LM that scored a result, as the result itself says (a baseline's differs
    from its config's `settings.backend`)."""
    return (run.results.get("config") or {}).get("model") or (run.record.get("settings") or {}).get("backend")


def scorer_name(run: TaskRun) -> str | None:
    """The task's `process_results` function, which lm-eval records as its source text."""
    source = ((run.results.get("configs") or {}).get(run.task) or {}).get("process_results")
    if not isinstance(source, str) or not source.startswith("def "):
        return None
    return source[4:].split("(", 1)[0]
