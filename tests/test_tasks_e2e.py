"""Every medlc task variant end to end through lm-eval's hf backend on the tiny model, and
the documented `lm_eval` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from medlc_core.provenance import sha256_file
from medlc_tasks.metrics import COUNT_KEYS, metric_keys

from tasks_support import FIXTURE_EXAM, REPO, evaluate, metric, reported_keys

LIMIT = 6
TASK_VARIANTS = {
    "medlc_openbook_1k": ("letter", True),
    "medlc_openbook_2k": ("letter", True),
    "medlc_closedbook": ("letter", False),
    "medlc_openbook_cloze_1k": ("cloze", True),
    "medlc_openbook_cloze_2k": ("cloze", True),
    "medlc_closedbook_cloze": ("cloze", False),
    "medlc_openbook_gen_1k": ("gen", True),
    "medlc_openbook_gen_2k": ("gen", True),
    "medlc_closedbook_gen": ("gen", False),
}


@pytest.fixture(scope="module")
def hf_results(tiny_model_dir):
    return evaluate(
        list(TASK_VARIANTS),
        "hf",
        model_args={"pretrained": str(tiny_model_dir), "device": "cpu"},
        limit=LIMIT,
    )


@pytest.mark.parametrize("task", TASK_VARIANTS)
def test_every_metric_key_of_the_variant_is_reported(hf_results, task):
    variant, open_book = TASK_VARIANTS[task]
    assert reported_keys(hf_results, task) == set(metric_keys(variant, open_book))


@pytest.mark.parametrize("task", TASK_VARIANTS)
def test_rates_lie_between_0_and_1(hf_results, task):
    variant, open_book = TASK_VARIANTS[task]
    rates = [key for key in metric_keys(variant, open_book) if key not in COUNT_KEYS]
    for key in rates:
        assert 0.0 <= metric(hf_results, task, key) <= 1.0, key


@pytest.mark.parametrize("task", TASK_VARIANTS)
def test_over_length_counts_are_whole_numbers_within_the_items_scored(hf_results, task):
    counts = [metric(hf_results, task, key) for key in COUNT_KEYS]
    assert all(isinstance(c, int) and 0 <= c <= LIMIT for c in counts)
    # a 4096-token window holds every fixture prompt, and the model was named
    assert counts == [0, 0, 0]


def test_results_are_strict_json(hf_results):
    json.dumps(hf_results["results"], allow_nan=False)


def test_task_config_records_the_exam_file_and_its_hash(hf_results):
    loaded = hf_results["configs"]["medlc_openbook_2k"]["dataset_kwargs"]["loaded"]
    exam_file = FIXTURE_EXAM / "openbook_2k.v1.jsonl"
    assert loaded["exam_file"] == str(exam_file)
    assert loaded["file_sha256"] == sha256_file(exam_file)
    assert loaded["window_tokens"] == 4096  # the tiny model's max_position_embeddings


def test_tasks_report_version_2(hf_results):
    assert {hf_results["versions"][task] for task in TASK_VARIANTS} == {2.0}


def test_documented_lm_eval_command_scores_the_group(tiny_model_dir, tmp_path):
    command = [
        sys.executable, "-m", "lm_eval",
        "--include_path", "medlc_tasks",
        "--tasks", "medlc_openbook",
        "--model", "hf",
        "--model_args", f"pretrained={tiny_model_dir}",
        "--device", "cpu",
        "--metadata", json.dumps({"exam_dir": str(FIXTURE_EXAM)}),
        "--limit", "3",
        "--output_path", str(tmp_path),
    ]  # fmt: skip
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (results_file,) = tmp_path.rglob("results_*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert 0.0 <= results["results"]["medlc_openbook"]["acc,none"] <= 1.0
    assert results["results"]["medlc_openbook_32k"]["book_shortened,none"] == 0


def test_exam_dir_comes_from_the_environment_when_metadata_names_none(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("MEDLC_EXAM_DIR", str(FIXTURE_EXAM))
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(
        include_path=str(REPO / "medlc_tasks"),
        include_defaults=False,
        metadata={"pretrained": str(tiny_model_dir)},
    )
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(tiny_model_dir), "device": "cpu"},
        tasks=["medlc_closedbook"],
        task_manager=manager,
        limit=2,
        bootstrap_iters=0,
    )
    loaded = results["configs"]["medlc_closedbook"]["dataset_kwargs"]["loaded"]
    assert loaded["exam_file"] == str(FIXTURE_EXAM / "closedbook.v1.jsonl")
