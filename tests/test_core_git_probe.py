"""The git commit probe is quiet outside a checkout: medlc never prints git's "fatal" line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import lm_eval.evaluator
import lm_eval.loggers.utils
import pytest

from medlc.cli import main
from medlc_core.provenance import git_describe, quiet_lm_eval_git_probe

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def outside_any_checkout(tmp_path, monkeypatch) -> Path:
    """A working directory git cannot place in a checkout, with lm-eval's own probe restored."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(work)
    monkeypatch.setattr(lm_eval.evaluator, "get_git_commit_hash", lm_eval.loggers.utils.get_git_commit_hash)
    return work


def test_probe_outside_a_checkout_is_none_and_prints_nothing(outside_any_checkout, capfd):
    assert git_describe() is None
    assert capfd.readouterr().err == ""


def test_probe_inside_a_checkout_gives_its_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True)
    assert git_describe(tmp_path) == head.stdout.strip()


def test_lm_eval_results_probe_is_quiet_once_routed(outside_any_checkout, capfd):
    quiet_lm_eval_git_probe()
    assert lm_eval.evaluator.get_git_commit_hash() is None
    assert capfd.readouterr().err == ""


def test_medlc_eval_outside_a_checkout_prints_no_git_complaint(outside_any_checkout, tiny_model_dir, capfd):
    code = main([
        "eval", "--model_args", f"pretrained={tiny_model_dir}", "--tasks", "medlc_closedbook_cloze",
        "--limit", "1", "--device", "cpu", "--output_path", "out",
        "--metadata", json.dumps({"exam_dir": str(FIXTURES / "tasks_exam")}),
    ])  # fmt: skip
    assert code == 0
    assert "not a git repository" not in capfd.readouterr().err
    (results,) = Path("out").rglob("results_*.json")
    assert json.loads(results.read_text(encoding="utf-8"))["git_hash"] is None


def test_medlc_run_outside_a_checkout_prints_no_git_complaint(outside_any_checkout, tiny_model_dir, capfd):
    config = outside_any_checkout / "run.yaml"
    config.write_text(
        f"name: quiet\nsettings:\n  device: cpu\n  exam_dir: {FIXTURES / 'report_exam'}\n  bootstrap_iters: 0\n"
        f"  limit: 1\nroster:\n  - name: tiny\n    kind: general\n    pretrained: {tiny_model_dir}\n"
        'tasks: ["medlc_closedbook_cloze"]\n',
        encoding="utf-8",
    )
    assert main(["run", str(config), "--results", "results"]) == 0
    captured = capfd.readouterr()
    assert "not a git repository" not in captured.err + captured.out
