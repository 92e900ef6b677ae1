"""`medlc run` scores each (model, task) pair once, and a run stopped anywhere resumes to
the same final results."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medlc.runner.config import load_config
from medlc.runner.run import run
from medlc_core.store import DONE_FILE, ResultStore

EXAM = Path(__file__).parent / "fixtures" / "report_exam"
TASKS = ["medlc_closedbook", "medlc_openbook_1k", "medlc_openbook_cloze_2k"]


def write_config(path: Path, models: dict[str, Path], tasks: list[str] = TASKS) -> Path:
    roster = "".join(
        f"  - name: {name}\n    kind: general\n    pretrained: {d}\n" for name, d in models.items()
    )
    path.write_text(
        f"name: runner-test\nsettings:\n  device: cpu\n  exam_dir: {EXAM}\n  bootstrap_iters: 0\n"
        f"roster:\n{roster}tasks: {json.dumps(tasks)}\n",
        encoding="utf-8",
    )
    return path


def scored_files(root: Path) -> dict[str, bytes]:
    """Per pair: the per-sample log bytes and lm-eval's metrics (timestamps excluded)."""
    out = {}
    for pair in ResultStore(root).done_pairs():
        rel = pair.relative_to(root).as_posix()
        out[rel + "/samples.jsonl"] = (pair / "samples.jsonl").read_bytes()
        out[rel + "/metrics"] = json.dumps(
            json.loads((pair / "results.json").read_text())["results"], sort_keys=True
        ).encode()
    return out


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def config(tiny_model_dir, tiny_qwen2_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "runner.yaml"
    return load_config(write_config(path, {"tiny-llama": tiny_model_dir, "tiny-qwen": tiny_qwen2_dir}))


@pytest.fixture(scope="module")
def full_run(config, tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    summary = run(config, root)
    return root, summary


def test_first_run_scores_every_model_task_pair(full_run):
    root, summary = full_run
    assert len(summary.scored) == 6 and summary.skipped == []
    assert len(ResultStore(root).done_pairs()) == 6


def test_pair_folder_holds_results_samples_record_and_done(full_run):
    root, _ = full_run
    pair = ResultStore(root).done_pairs()[0]
    assert sorted(p.name for p in pair.iterdir()) == [
        DONE_FILE,
        "record.json",
        "results.json",
        "samples.jsonl",
    ]
    record = json.loads((pair / "record.json").read_text())
    assert record["seed"] == 1234 and "tasks:" in record["config_text"]
    assert {"medlc", "lm_eval", "transformers"} <= set(record["versions"])


def test_results_path_is_fingerprint_task_version_exam_hash(full_run):
    root, _ = full_run
    pair = ResultStore(root).done_pairs()[0]
    fingerprint, task, version, exam_hash = pair.relative_to(root).parts
    assert len(fingerprint) == 16 and task in TASKS and version == "2.0" and len(exam_hash) == 16
    assert json.loads((root / fingerprint / "model.json").read_text())["fingerprint"] == fingerprint


def test_second_run_skips_every_scored_pair(config, full_run):
    root, _ = full_run
    before = {p: (p / DONE_FILE).stat().st_mtime_ns for p in ResultStore(root).done_pairs()}
    summary = run(config, root)
    assert summary.scored == [] and len(summary.skipped) == 6
    assert {p: (p / DONE_FILE).stat().st_mtime_ns for p in ResultStore(root).done_pairs()} == before


def test_run_stopped_after_two_pairs_resumes_to_identical_results(config, full_run, tmp_path):
    def stop_after_two(key):
        if len(ResultStore(tmp_path).done_pairs()) == 2:
            raise Stop

    with pytest.raises(Stop):
        run(config, tmp_path, after_pair=stop_after_two)
    assert len(ResultStore(tmp_path).done_pairs()) == 2
    resumed = run(config, tmp_path)
    assert len(resumed.scored) == 4 and len(resumed.skipped) == 2
    assert scored_files(tmp_path) == scored_files(full_run[0])


def test_staging_folder_of_a_killed_write_is_rescored_not_trusted(config, full_run, tmp_path):
    shutil.copytree(full_run[0], tmp_path, dirs_exist_ok=True)
    victim = ResultStore(tmp_path).done_pairs()[0]
    # Turn a finished pair back into what a kill before the final rename leaves behind.
    staging = victim.with_name(victim.name + ".tmp-host-1-x")
    victim.rename(staging)
    (staging / DONE_FILE).unlink()
    (staging / "samples.jsonl").write_text("truncated")
    summary = run(config, tmp_path)
    assert len(summary.scored) == 1 and not staging.exists()
    assert scored_files(tmp_path) == scored_files(full_run[0])


def test_process_killed_mid_run_resumes_to_identical_results(config, full_run, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "medlc", "run", str(config.path), "--output_path", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        # Kill it hard as soon as one pair is on disk, wherever it is in the next one.
        while proc.poll() is None and not ResultStore(tmp_path).done_pairs():
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = len(ResultStore(tmp_path).done_pairs())
    assert 1 <= done < 6
    summary = run(config, tmp_path)
    assert len(summary.scored) == 6 - done
    assert scored_files(tmp_path) == scored_files(full_run[0])
