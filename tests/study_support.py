"""Shared by tests/test_study_*.py: a tiny study (2 fractions x 1 volume on the tiny model,
the fixture data and exam, the count baseline) and the numbers its report states."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
TASKS = ["medlc_closedbook", "medlc_openbook_1k"]


def write_study(path: Path, model: Path, output_dir: Path, extra: str = "") -> Path:
    """A study file: gf in {0, 1} x n = 8, two LoRA steps, a checkpoint after each."""
    path.write_text(
        f"""name: tiny_study
description: the tiny model, 2 fractions x 1 volume
output_dir: {output_dir}
base_model: {{name: tiny, pretrained: {model}}}
data:
  sources:
    - {{name: alpaca, path: {FIXTURES / "finetune_alpaca.json"}, role: general, format: alpaca}}
    - {{name: sharegpt, path: {FIXTURES / "finetune_sharegpt.jsonl"}, role: general, format: sharegpt}}
    - {{name: messages, path: {FIXTURES / "finetune_messages.jsonl"}, role: medical, format: messages}}
    - name: medical_csv
      path: {FIXTURES / "finetune_medical_gb18030.csv"}
      role: medical
      format: csv
      encoding: gb18030
      columns: {{prompt: [title, ask], response: answer}}
  max_length: 256
grid: {{general_fractions: [0.0, 1.0], ns: [8]}}
finetune:
  adapter: {{method: lora, r: 4, alpha: 8, dropout: 0.0}}
  optim: {{lr: 5.0e-3, scheduler: constant, max_steps: 2, micro_batch_size: 2}}
  runtime: {{save_every: 1, report_to: []}}
baselines: [count]
settings: {{device: cpu, exam_dir: {FIXTURES / "report_exam"}, bootstrap_iters: 0}}
tasks: {json.dumps(TASKS)}
{extra}""",
        encoding="utf-8",
    )
    return path


def _strip(data, drop: frozenset[str]):
    if isinstance(data, dict):
        return {k: _strip(v, drop) for k, v in data.items() if k not in drop}
    if isinstance(data, list):
        return [_strip(v, drop) for v in data]
    return data


# Where things live and what the weights hash to, not what they score.
PLACES = frozenset({"fingerprint", "sources", "mixture", "provenance", "warnings"})


def report_numbers(output_dir: Path) -> dict:
    """Every number of the study's report and leaderboard, locations left out."""
    report = output_dir / "report"
    study = json.loads((report / "study" / "study.json").read_text(encoding="utf-8"))
    board = json.loads((report / "leaderboard.json").read_text(encoding="utf-8"))
    return {"study": _strip(study, PLACES), "leaderboard": _strip(board, PLACES)}
