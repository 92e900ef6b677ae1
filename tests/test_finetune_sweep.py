"""Sweeps: a 3-point ratio grid trains end to end on CPU and the harness scores every
checkpoint it produced."""

from __future__ import annotations

import json
from pathlib import Path

import lm_eval
import pytest
from lm_eval.tasks import TaskManager

from finetune.sweep import INDEX_NAME, run_name, run_sweep

REPO = Path(__file__).resolve().parents[1]
SWEEP = REPO / "finetune" / "configs" / "sweep_tiny_ratio.yaml"
FIXTURE_EXAM = REPO / "tests" / "fixtures" / "tasks_exam"  # the tiny built exam of the tasks tests
LIMIT = 4


@pytest.fixture(scope="module")
def swept(tiny_model_dir, tmp_path_factory):
    """The shipped tiny ratio sweep, run once for this module."""
    out = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        index = run_sweep(SWEEP, overrides=[f"model.pretrained={tiny_model_dir}"], output_dir=str(out))
    return out, index


def test_run_names_read_ratio_and_volume():
    assert run_name(0.5, 20000) == "gf0.50_n20000"
    assert run_name(0.0, 1000) == "gf0.00_n1000"


def test_ratio_sweep_finishes_every_grid_point(swept):
    out, index = swept
    assert [(r["name"], r["status"]) for r in index["runs"]] == [
        ("gf0.00_n16", "finished"),
        ("gf0.50_n16", "finished"),
        ("gf1.00_n16", "finished"),
    ]
    assert json.loads((out / INDEX_NAME).read_text(encoding="utf-8")) == index


def test_each_checkpoint_manifest_says_its_ratio_and_volume(swept):
    _, index = swept
    for run in index["runs"]:
        manifest = json.loads(Path(run["manifest"]).read_text(encoding="utf-8"))
        assert (manifest["general_fraction"], manifest["n"]) == (run["general_fraction"], 16)
        general = round(16 * run["general_fraction"])
        assert manifest["counts"]["train"] == {"general": general, "medical": 16 - general}


def _score(backend: str, model_args: dict) -> dict:
    metadata = {"exam_dir": str(FIXTURE_EXAM), **model_args}
    manager = TaskManager(include_path=str(REPO / "medlc_tasks"), metadata=metadata)
    return lm_eval.simple_evaluate(
        model=backend,
        model_args={**model_args, "device": "cpu"},
        tasks=["medlc_closedbook"],
        task_manager=manager,
        limit=LIMIT,
        batch_size=4,
        log_samples=True,
    )


def _loglikelihoods(results: dict) -> list[float]:
    samples = results["samples"]["medlc_closedbook"]
    return [float(resp[0][0]) for sample in samples for resp in sample["resps"]]


@pytest.fixture(scope="module")
def hf_scores(swept, tiny_model_dir):
    """lm-eval's stock `hf` backend on every adapter the sweep saved: pretrained=base, peft=adapter."""
    _, index = swept
    return {
        run["name"]: _score("hf", {"pretrained": str(tiny_model_dir), "peft": run["result"]["adapter_dir"]})
        for run in index["runs"]
    }


def test_lm_eval_hf_backend_scores_every_saved_adapter(hf_scores):
    for results in hf_scores.values():
        assert 0.0 <= results["results"]["medlc_closedbook"]["acc,none"] <= 1.0
        assert len(results["samples"]["medlc_closedbook"]) == LIMIT
    # Each adapter was really applied: different mixtures give different log-likelihoods.
    assert len({tuple(_loglikelihoods(r)) for r in hf_scores.values()}) == 3


def test_medlc_hf_backend_reads_the_same_adapter_and_agrees_with_hf(swept, hf_scores, tiny_model_dir):
    import medlc.backend  # noqa: F401 - registers "medlc-hf"

    _, index = swept
    run = index["runs"][1]
    results = _score("medlc-hf", {"pretrained": str(tiny_model_dir), "peft": run["result"]["adapter_dir"]})
    assert _loglikelihoods(results) == pytest.approx(_loglikelihoods(hf_scores[run["name"]]), abs=1e-4)


def test_finished_runs_are_skipped_when_the_sweep_runs_again(swept, tiny_model_dir, monkeypatch):
    out, _ = swept
    logs = sorted(out.glob("*/train_log.jsonl"))
    before = [p.stat().st_mtime_ns for p in logs]
    monkeypatch.chdir(REPO)
    index = run_sweep(SWEEP, overrides=[f"model.pretrained={tiny_model_dir}"], output_dir=str(out))
    assert [p.stat().st_mtime_ns for p in logs] == before
    assert {r["status"] for r in index["runs"]} == {"finished"}


def test_a_shard_runs_only_its_contiguous_block_of_the_grid(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    overrides = [f"model.pretrained={tiny_model_dir}", "optim.max_steps=1"]
    index = run_sweep(SWEEP, shard=(1, 2), overrides=overrides, output_dir=str(tmp_path))
    # Block 1 of 2 over three grid points is points 1 and 2, as for `medlc run` (medlc_core.shard).
    assert [(r["name"], r["status"]) for r in index["runs"]] == [
        ("gf0.00_n16", "pending"),
        ("gf0.50_n16", "finished"),
        ("gf1.00_n16", "finished"),
    ]


def test_a_failing_grid_point_is_recorded_and_the_rest_still_run(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"base_config: {REPO / 'finetune/configs/tiny_cpu_smoke.yaml'}\noutput_dir: {tmp_path / 'runs'}\n"
        "general_fractions: [0.5]\nns: [8, 60]\noverrides: [optim.max_steps=1, runtime.save_every=0]\n",
        encoding="utf-8",
    )
    index = run_sweep(sweep, overrides=[f"model.pretrained={tiny_model_dir}"])
    finished, failed = index["runs"]
    assert (finished["name"], finished["status"]) == ("gf0.50_n8", "finished")
    assert (failed["name"], failed["status"]) == ("gf0.50_n60", "failed")
    assert "SourceTooSmallError" in failed["error"]
