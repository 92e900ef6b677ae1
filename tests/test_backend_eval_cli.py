"""`medlc eval` scores medlc tasks with medlc-hf and writes results with their provenance."""

from __future__ import annotations

import json

import pytest
from tasks_support import FIXTURE_EXAM

from medlc.cli import main


@pytest.fixture(scope="module")
def eval_run(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    code = main(
        [
            "eval",
            "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
            "--tasks", "medlc_openbook_1k,medlc_openbook_cloze_2k,medlc_closedbook_gen",
            "--limit", "3",
            "--device", "cpu",
            "--batch_size", "2",
            "--metadata", json.dumps({"exam_dir": str(FIXTURE_EXAM)}),
            "--output_path", str(out),
            "--log_samples",
        ]
    )  # fmt: skip
    return code, out


def test_eval_writes_lm_eval_results_for_every_task(eval_run):
    code, out = eval_run
    assert code == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert set(results["results"]) == {"medlc_openbook_1k", "medlc_openbook_cloze_2k", "medlc_closedbook_gen"}
    assert 0.0 <= results["results"]["medlc_openbook_cloze_2k"]["acc_norm,none"] <= 1.0
    assert "format_compliance,letters" in results["results"]["medlc_closedbook_gen"]
    assert results["config"]["model"] == "medlc-hf"


def test_eval_records_over_length_counts_and_reuse(eval_run):
    _, out = eval_run
    backend = json.loads((out / "results.json").read_text(encoding="utf-8"))["medlc"]["backend"]
    assert backend["over_length"]["policy"] == "fit"
    assert set(backend["over_length"]["tasks"]) == {"medlc_openbook_1k", "medlc_openbook_cloze_2k", "medlc_closedbook_gen"}
    assert backend["over_length"]["totals"]["over_length_requests"] == 0
    # Three letter and three cloze items: six distinct contexts read, each once.
    assert backend["scoring"]["contexts_read"] == 6


def test_eval_records_exam_and_versions(eval_run):
    _, out = eval_run
    medlc = json.loads((out / "results.json").read_text(encoding="utf-8"))["medlc"]
    assert medlc["exam"]["exam_dir"] == str(FIXTURE_EXAM)
    assert len(medlc["exam"]["manifest_sha256"]) == 64
    assert medlc["versions"]["lm_eval"] and medlc["versions"]["transformers"]
    assert medlc["spec"]["limit"] == 3 and medlc["spec"]["seed"] == 1234


def test_eval_writes_samples_when_asked(eval_run):
    _, out = eval_run
    lines = (out / "samples_medlc_openbook_1k.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert {"doc_id", "resps", "acc"} <= set(json.loads(lines[0]))
