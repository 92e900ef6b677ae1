"""`sample_items: N` scores N items spread over each task, the same items for every model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlc.runner.config import ConfigError, load_config, parse_config
from medlc.runner.run import run, spread_samples
from medlc_core.store import ResultStore, read_samples

EXAM = Path(__file__).parent / "fixtures" / "report_exam"


def test_spread_takes_every_kth_item_from_the_start():
    assert spread_samples("t", 10, 4) == {"t": [0, 2, 5, 7]}


def test_spread_of_more_items_than_exist_takes_them_all():
    assert spread_samples("t", 3, 10) == {"t": [0, 1, 2]}


def test_no_sample_items_means_no_selection():
    assert spread_samples("t", 10, None) is None


def test_limit_and_sample_items_together_are_refused():
    text = "settings: {limit: 5, sample_items: 5}\nroster: [{name: a, kind: general, pretrained: x}]\ntasks: [t]\n"
    with pytest.raises(ConfigError, match=r"settings\.sample_items: expected either `limit`"):
        parse_config(Path("c.yaml"), text)


def test_every_model_is_scored_on_the_same_spread_items(tiny_model_dir, tiny_qwen2_dir, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"settings: {{device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0, sample_items: 3}}\n"
        f"roster:\n  - {{name: a, kind: general, pretrained: {tiny_model_dir}}}\n"
        f"  - {{name: b, kind: general, pretrained: {tiny_qwen2_dir}}}\n"
        "tasks: [medlc_openbook_1k]\n",
        encoding="utf-8",
    )
    run(load_config(cfg), tmp_path / "results")
    scored = [
        [row["doc"]["id"] for row in read_samples(p)] for p in ResultStore(tmp_path / "results").done_pairs()
    ]
    assert scored == [["r01", "r03", "r05"], ["r01", "r03", "r05"]]
    record = json.loads((ResultStore(tmp_path / "results").done_pairs()[0] / "record.json").read_text())
    assert record["settings"]["sample_items"] == 3


def test_committed_exam_fixture_is_what_its_generator_writes(tmp_path):
    from fixtures.report_make_exam import write

    write(tmp_path)
    for path in EXAM.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
