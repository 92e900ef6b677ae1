"""Two `medlc run`s on one results directory share the work: each pair is scored under a
lock, a pair another live run holds is left to it (and said so), and the lock of a run
killed mid-pair is taken over by the next run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from medlc.runner.config import load_config
from medlc.runner.run import plan_run, run
from medlc_core.lock import FileLock
from medlc_core.store import ResultStore

from fixtures.harness import one_model_config

TASKS = ("medlc_closedbook", "medlc_openbook_1k", "medlc_openbook_2k")
# A process that takes the lock at argv[1], says so, and holds it until it is killed.
HOLDER = (
    "import sys, time\n"
    "from medlc_core.lock import FileLock\n"
    "assert FileLock(sys.argv[1]).acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


def hold(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_lock_held_by_a_live_process_is_refused_and_names_it(tmp_path):
    proc = hold(tmp_path / "pair.lock")
    try:
        lock = FileLock(tmp_path / "pair.lock")
        assert not lock.acquire()
        assert lock.holder().startswith(f"pid {proc.pid} on ")
    finally:
        kill(proc)


def test_the_lock_of_a_killed_holder_is_taken_over(tmp_path):
    kill(hold(tmp_path / "pair.lock"))
    assert (tmp_path / "pair.lock").exists()  # the dead holder's note is still there
    lock = FileLock(tmp_path / "pair.lock")
    assert lock.acquire()
    assert lock.holder().startswith(f"pid {os.getpid()} on ")
    lock.release()


def test_a_released_lock_leaves_no_file(tmp_path):
    with FileLock(tmp_path / "pair.lock") as lock:
        assert lock.acquire()
    assert not (tmp_path / "pair.lock").exists()


@pytest.fixture(scope="module")
def config_path(tiny_model_dir, tmp_path_factory) -> Path:
    return one_model_config(tmp_path_factory.mktemp("cfg") / "lock.yaml", tiny_model_dir, TASKS)


def test_run_leaves_a_pair_another_live_run_is_scoring_to_it(config_path, tmp_path):
    config = load_config(config_path)
    first = plan_run(config).pairs[0].key
    proc = hold(ResultStore(tmp_path).lock(first).path)
    try:
        summary = run(config, tmp_path)
    finally:
        kill(proc)
    assert [b.key for b in summary.busy] == [first]
    assert summary.busy[0].holder.startswith(f"pid {proc.pid} on ")
    assert first not in summary.scored and len(summary.scored) == len(TASKS) - 1
    assert not ResultStore(tmp_path).is_done(first)


def test_run_takes_over_the_lock_of_a_run_killed_mid_pair(config_path, tmp_path):
    config = load_config(config_path)
    first = plan_run(config).pairs[0].key
    lock_path = ResultStore(tmp_path).lock(first).path
    kill(hold(lock_path))
    summary = run(config, tmp_path)
    assert summary.busy == [] and len(summary.scored) == len(TASKS)
    assert not lock_path.exists()


def test_two_runs_started_together_score_each_pair_once(config_path, tmp_path):
    command = [sys.executable, "-m", "medlc", "run", str(config_path), "--output_path", str(tmp_path)]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in "ab"
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    scored = [int(re.search(r"(\d+) pair\(s\) scored", out).group(1)) for out in outputs]
    assert sum(scored) == len(TASKS), outputs
    assert len(ResultStore(tmp_path).done_pairs()) == len(TASKS)
