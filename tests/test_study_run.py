"""`medlc study`: a tiny study (2 fractions x 1 volume) runs sweep -> scoring -> report end
to end; stopped at any stage it resumes to the same report; its dry run lists exactly what
the real run produces; its curves are its checkpoints' own manifests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from study_support import TASKS, report_numbers, write_study

from finetune.recipe import saved_model_dir
from medlc.runner.roster import MANIFEST
from medlc.study.config import load_study
from medlc.study.plan import plan_study
from medlc.study.run import StudyError, run_study
from medlc_core import hardware
from medlc_core.provenance import sha256_file
from medlc_core.shard import select_shard
from medlc_core.store import ResultStore

ITERS = 200


class Stop(BaseException):
    """A kill: nothing in the study may catch it."""


def scored_pairs(results: Path) -> set[tuple[str, str]]:
    """(model name, task) of every pair folder a run wrote."""
    found = set()
    for pair in ResultStore(results).done_pairs():
        name = json.loads((pair.parents[2] / "model.json").read_text(encoding="utf-8"))["name"]
        found.add((name, pair.parents[1].name))
    return found


@pytest.fixture(scope="module")
def study_file(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    return write_study(root / "study.yaml", tiny_model_dir, root / "out")


@pytest.fixture(scope="module")
def finished(study_file):
    """The plan before anything ran, then the whole study, once for this module."""
    study = load_study(study_file)
    before = plan_study(study)
    outcome = run_study(study, iters=ITERS)
    return study, before, outcome


def test_study_runs_sweep_scoring_and_report_end_to_end(finished):
    study, _, outcome = finished
    assert outcome.complete and outcome.stages == ["sweep", "score", "report"]
    assert outcome.scored == 4 * len(TASKS)  # base, two checkpoints, the count baseline
    board = (study.root / "report" / "leaderboard.md").read_text(encoding="utf-8")
    assert "(study/study.md)" in board and outcome.report == study.root / "report" / "study" / "study.md"


def test_dry_run_lists_exactly_the_points_and_pairs_a_real_run_produces(finished):
    study, before, _ = finished
    index = json.loads((study.root / "checkpoints" / "sweep_index.json").read_text(encoding="utf-8"))
    assert [p.name for p in before.points] == [r["name"] for r in index["runs"] if r["status"] == "finished"]
    assert [p.checkpoint for p in before.points] == [r["result"]["adapter_dir"] for r in index["runs"]]
    assert {(p.model, p.task) for p in before.pairs} == scored_pairs(study.root / "results")
    assert len(before.pairs) == len(scored_pairs(study.root / "results"))
    assert {p.status for p in before.points} == {"pending"}


def test_dry_run_of_a_finished_study_has_nothing_left_to_do(finished):
    study, _, _ = finished
    after = plan_study(study)
    assert {p.status for p in after.points} == {"finished"} and {p.status for p in after.pairs} == {"done"}
    assert after.estimate["total_seconds"] == 0


def test_report_curves_come_from_the_checkpoints_own_manifests(finished):
    study, before, _ = finished
    report = json.loads((study.root / "report" / "study" / "study.json").read_text(encoding="utf-8"))
    checkpoints = report["variants"]["letter"]["checkpoints"]
    assert len(checkpoints) == len(before.runs) == 2
    saved = {str(saved_model_dir(run.config)) for run in before.runs}
    for point in checkpoints:
        manifest = Path(point["mixture"]["manifest"])
        stated = json.loads(manifest.read_text(encoding="utf-8"))
        assert str(manifest.parent) in saved and point["mixture"]["sha256"] == sha256_file(manifest)
        assert (point["general_fraction"], point["n"]) == (stated["general_fraction"], stated["n"])
    assert sorted((p["general_fraction"], p["n"]) for p in checkpoints) == [(0.0, 8), (1.0, 8)]


def test_a_checkpoint_is_drawn_where_its_manifest_says_not_where_its_name_says(
    finished, tiny_model_dir, tmp_path
):
    copy_checkpoints(finished[0].root, tmp_path / "out")
    path = write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out")
    study = load_study(path, ['tasks=["medlc_closedbook"]', "baselines=[]"])
    (run,) = [r for r in plan_study(study).runs if r.name == "gf0.00_n8"]
    manifest = saved_model_dir(run.config) / MANIFEST
    stated = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**stated, "general_fraction": 0.25}), encoding="utf-8")
    assert run_study(study, iters=ITERS).complete
    report = json.loads((tmp_path / "out" / "report" / "study" / "study.json").read_text(encoding="utf-8"))
    places = {p["model"]: p["general_fraction"] for p in report["variants"]["letter"]["checkpoints"]}
    assert places == {"tiny-gf0.00_n8": 0.25, "tiny-gf1.00_n8": 1.0}


def test_every_checkpoint_is_tested_against_the_base_on_every_task(finished):
    study, _, _ = finished
    report = json.loads((study.root / "report" / "study" / "study.json").read_text(encoding="utf-8"))
    paired = report["variants"]["letter"]["paired_vs_base"]
    assert sorted((t["model"], t["task"]) for t in paired) == sorted(
        (f"tiny-{name}", task) for name in ("gf0.00_n8", "gf1.00_n8") for task in TASKS
    )
    assert all(t["n"] == 6 and 0 <= t["p"] <= 1 for t in paired)


def test_one_volume_is_said_to_be_too_few_for_a_saturation_estimate(finished):
    study, _, _ = finished
    text = (study.root / "report" / "study" / "study.md").read_text(encoding="utf-8")
    assert "no estimate: too few volumes: 1 tuned volume(s)" in text


def test_study_stopped_during_training_resumes_to_the_same_report(finished, tiny_model_dir, tmp_path):
    def stop_at_first_step(kind, detail):
        if kind == "step":  # a checkpoint is saved after every step (save_every: 1)
            raise Stop

    study = load_study(write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out"))
    with pytest.raises(Stop):
        run_study(study, on_event=stop_at_first_step, iters=ITERS)
    assert not (tmp_path / "out" / "results").exists()
    assert run_study(study, iters=ITERS).complete
    assert report_numbers(tmp_path / "out") == report_numbers(finished[0].root)


def copy_checkpoints(source: Path, target: Path) -> None:
    """What a study stopped after its sweep leaves: every checkpoint, no result."""
    shutil.copytree(source / "checkpoints", target / "checkpoints")


def test_study_stopped_during_scoring_resumes_to_the_same_report(finished, tiny_model_dir, tmp_path):
    def stop_after_first_pair(kind, detail):
        if kind == "pair":
            raise Stop

    copy_checkpoints(finished[0].root, tmp_path / "out")
    study = load_study(write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out"))
    with pytest.raises(Stop):
        run_study(study, on_event=stop_after_first_pair, iters=ITERS)
    assert len(ResultStore(tmp_path / "out" / "results").done_pairs()) == 1
    outcome = run_study(study, iters=ITERS)
    assert outcome.complete and (outcome.scored, outcome.skipped) == (4 * len(TASKS) - 1, 1)
    assert report_numbers(tmp_path / "out") == report_numbers(finished[0].root)


def test_study_stopped_while_writing_its_report_resumes_to_the_same_report(
    finished, tiny_model_dir, tmp_path
):
    shutil.copytree(finished[0].root, tmp_path / "out")
    (tmp_path / "out" / "report" / "study" / "study.json").unlink()  # never written
    (tmp_path / "out" / "report" / "leaderboard.json").write_text('{"variants": {"let')  # torn
    study = load_study(write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out"))
    outcome = run_study(study, iters=ITERS)
    assert outcome.scored == 0 and outcome.complete
    assert report_numbers(tmp_path / "out") == report_numbers(finished[0].root)


def test_shards_split_the_grid_then_the_pairs_as_medlc_shard_does(finished, tiny_model_dir, tmp_path):
    study = load_study(write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out"))
    first = run_study(study, shard=(0, 2), iters=ITERS)
    assert first.waiting == ["gf1.00_n8"] and not (tmp_path / "out" / "results").exists()
    second = run_study(study, shard=(1, 2), iters=ITERS)
    pairs = [(p.model, p.task) for p in plan_study(study).pairs]
    assert scored_pairs(tmp_path / "out" / "results") == set(select_shard(pairs, 1, 2))
    assert second.missing_pairs == len(select_shard(pairs, 0, 2)) and second.report is None
    assert run_study(study, shard=(0, 2), stages=("score", "report"), iters=ITERS).complete
    assert report_numbers(tmp_path / "out") == report_numbers(finished[0].root)


def test_a_checkpoint_trained_from_another_config_is_refused(finished, tiny_model_dir, tmp_path):
    copy_checkpoints(finished[0].root, tmp_path / "out")
    path = write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out")
    study = load_study(path, ["finetune.optim.lr=1e-4"])
    with pytest.raises(
        StudyError, match=r"gf0\.00_n8: this grid point was trained from another config \(optim\.lr"
    ):
        run_study(study, iters=ITERS)
    assert not (tmp_path / "out" / "results").exists()


def test_a_gpu_study_on_a_machine_without_one_stops_before_training(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "cuda_visible", lambda: False)
    path = write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out")
    study = load_study(path, ["finetune.runtime.mixed_precision=bf16", "settings.device=cuda"])
    with pytest.raises(
        hardware.NoGpuError, match=r"finetune\.runtime\.mixed_precision: bf16; settings\.device: cuda"
    ):
        run_study(study)
    assert not (tmp_path / "out" / "checkpoints").exists()
