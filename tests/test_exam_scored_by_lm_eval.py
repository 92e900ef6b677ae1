"""An exam built from each supported source layout is scored by `lm_eval` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.cli import main

from tasks_support import evaluate, metric

FIXTURES = Path(__file__).parent / "fixtures"
FOREIGN_MAP = "id=编号,question=题干,options=选项,answer=答案,evidence=解析,department=科室"


@pytest.mark.parametrize(
    "source, extra",
    [
        ("exam_cmexam.csv", ["--format", "cmexam"]),
        ("exam_medqa.jsonl", ["--format", "medqa"]),
        ("exam_foreign.json", ["--map", FOREIGN_MAP]),
    ],
)
def test_built_exam_is_scored_by_lm_eval_hf(tmp_path, tiny_model_dir, source, extra):
    exam = tmp_path / "exam"
    reference = str(FIXTURES / "exam_reference.txt")
    args = ["build-exam", str(FIXTURES / source), *extra, "--reference", reference]
    assert main([*args, "--buckets", "1k", "--out", str(exam)]) == 0

    results = evaluate(
        ["medlc_closedbook", "medlc_openbook_1k"],
        model="hf",
        model_args={"pretrained": str(tiny_model_dir), "device": "cpu"},
        metadata={"exam_dir": str(exam)},
        limit=3,
    )

    for task in ("medlc_closedbook", "medlc_openbook_1k"):
        assert 0.0 <= metric(results, task, "acc") <= 1.0
        assert results["n-samples"][task]["effective"] > 0
    loaded = results["configs"]["medlc_openbook_1k"]["dataset_kwargs"]["loaded"]
    assert str(exam) in str(loaded)
