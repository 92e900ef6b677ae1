"""The runner scores through lm-eval's stock `hf` backend as well as `medlc-hf`, and the
backend is part of what a result is keyed by."""

from __future__ import annotations

import json
from pathlib import Path

from medlc.runner.config import load_config
from medlc.runner.run import plan_run, run
from medlc_core.store import ResultStore

EXAM = Path(__file__).parent / "fixtures" / "report_exam"


def config_for(backend: str, model: Path, path: Path):
    path.write_text(
        f"settings: {{backend: {backend}, device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0, sample_items: 2}}\n"
        f"roster:\n  - {{name: tiny, kind: general, pretrained: {model}}}\n"
        "tasks: [medlc_closedbook]\n",
        encoding="utf-8",
    )
    return load_config(path)


def test_stock_hf_backend_scores_a_pair(tiny_model_dir, tmp_path):
    run(config_for("hf", tiny_model_dir, tmp_path / "c.yaml"), tmp_path / "results")
    (pair,) = ResultStore(tmp_path / "results").done_pairs()
    results = json.loads((pair / "results.json").read_text())
    assert results["config"]["model"] == "hf" and "acc,none" in results["results"]["medlc_closedbook"]


def test_backends_score_into_different_fingerprints(tiny_model_dir, tmp_path):
    hf = plan_run(config_for("hf", tiny_model_dir, tmp_path / "a.yaml")).pairs[0].key
    ours = plan_run(config_for("medlc-hf", tiny_model_dir, tmp_path / "b.yaml")).pairs[0].key
    assert hf.fingerprint != ours.fingerprint and hf.task_version == ours.task_version


def test_each_pair_records_the_backend_report_of_its_own_task(tiny_model_dir, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        f"settings: {{device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0, sample_items: 2}}\n"
        f"roster:\n  - {{name: tiny, kind: general, pretrained: {tiny_model_dir}}}\n"
        "tasks: [medlc_closedbook, medlc_openbook_1k]\n",
        encoding="utf-8",
    )
    run(load_config(path), tmp_path / "results")
    pairs = ResultStore(tmp_path / "results").done_pairs()
    assert len(pairs) == 2
    for pair in pairs:
        task = pair.parent.parent.name
        report = json.loads((pair / "results.json").read_text())["config"]["medlc_report"]["over_length"]
        samples = [json.loads(line) for line in (pair / "samples.jsonl").read_text().splitlines()]
        assert list(report["tasks"]) == [task]
        # This pair's requests only: the counts start afresh for every pair.
        assert report["tasks"][task]["requests"] == sum(len(s["arguments"]) for s in samples)
