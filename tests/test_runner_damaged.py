"""`medlc run` trusts a finished pair only when its DONE record matches the sha256 of the
files it names: a damaged pair is reported by path, set aside and scored again, to the
same results as the first run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medlc.cli import main
from medlc.runner.config import load_config
from medlc.runner.run import run
from medlc_core.store import DAMAGED_MARK, SAMPLES_FILE, PairKey, ResultStore

from fixtures.damage import DAMAGES
from fixtures.harness import one_model_config


@pytest.fixture(scope="module")
def config_path(tiny_model_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "damaged.yaml"
    return one_model_config(path, tiny_model_dir, ["medlc_closedbook", "medlc_openbook_1k"])


@pytest.fixture(scope="module")
def full_run(config_path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("full")
    run(load_config(config_path), root)
    return root


def damaged_copy(full_run: Path, dest: Path, damage: str) -> Path:
    """A copy of the finished run with its closed-book pair damaged; returns that pair."""
    shutil.copytree(full_run, dest, dirs_exist_ok=True)
    (pair,) = [p for p in ResultStore(dest).done_pairs() if p.parents[1].name == "medlc_closedbook"]
    DAMAGES[damage](pair)
    return pair


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_pair_is_not_done(damage, full_run, tmp_path):
    pair = damaged_copy(full_run, tmp_path, damage)
    store = ResultStore(tmp_path)
    key = PairKey(*pair.relative_to(tmp_path).parts)
    status = store.status(key)
    assert not status.done and status.problem and not store.is_done(key)


@pytest.mark.parametrize("damage", DAMAGES)
def test_rerun_sets_a_damaged_pair_aside_and_scores_it_again(damage, config_path, full_run, tmp_path):
    pair = damaged_copy(full_run, tmp_path, damage)
    summary = run(load_config(config_path), tmp_path)
    assert [ResultStore(tmp_path).pair_dir(k) for k in summary.scored] == [pair]
    assert len(summary.skipped) == 1
    (damaged,) = summary.damaged
    assert damaged.set_aside.is_dir() and damaged.set_aside.name.startswith(pair.name + DAMAGED_MARK)
    rel = pair.relative_to(tmp_path)
    assert (pair / SAMPLES_FILE).read_bytes() == (full_run / rel / SAMPLES_FILE).read_bytes()
    results = json.loads((pair / "results.json").read_text(encoding="utf-8"))["results"]
    assert results == json.loads((full_run / rel / "results.json").read_text(encoding="utf-8"))["results"]


def test_medlc_run_names_the_damaged_pair_and_what_no_longer_matches(config_path, full_run, tmp_path, capsys):
    pair = damaged_copy(full_run, tmp_path, "five_lines_deleted")
    assert main(["run", str(config_path), "--output_path", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich may wrap a long path
    assert f"damaged: {pair}: samples.jsonl does not match the sha256 DONE records for it" in out
    assert "1 pair(s) scored (1 of them damaged and rescored), 1 already done" in out


def test_report_reads_the_rescored_pair_not_the_one_set_aside(config_path, full_run, tmp_path):
    damaged_copy(full_run, tmp_path, "garbage_done")
    run(load_config(config_path), tmp_path)
    assert main(["report", str(tmp_path), "--output_path", str(tmp_path / "report")]) == 0
