"""`--shard i/N` splits the roster x tasks so every pair is scored by exactly one shard."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from medlc.runner.config import ConfigError, load_config
from medlc.runner.run import plan_run, run
from medlc_core.shard import parse_shard, select_shard
from medlc_core.store import ResultStore

EXAM = Path(__file__).parent / "fixtures" / "report_exam"


@pytest.fixture(scope="module")
def config(tiny_model_dir, tiny_qwen2_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "shard.yaml"
    path.write_text(
        f"settings: {{device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0}}\n"
        f"roster:\n  - {{name: a, kind: general, pretrained: {tiny_model_dir}}}\n"
        f"  - {{name: b, kind: medical, pretrained: {tiny_qwen2_dir}}}\n"
        "tasks: [medlc_closedbook, medlc_openbook]\n",
        encoding="utf-8",
    )
    return load_config(path)


def test_group_expands_to_its_length_subtasks(config):
    plan = plan_run(config)
    buckets = ("1k", "2k", "4k", "8k", "16k", "32k")
    assert plan.tasks == ["medlc_closedbook"] + [f"medlc_openbook_{b}" for b in buckets]
    assert len(plan.pairs) == 2 * 7


@pytest.mark.parametrize("count", [1, 2, 3, 5, 14, 20])
def test_shards_cover_every_pair_exactly_once(config, count):
    plan = plan_run(config)
    seen = Counter(p.key for i in range(count) for p in select_shard(plan.pairs, i, count))
    assert set(seen) == {p.key for p in plan.pairs} and set(seen.values()) == {1}


def test_shard_sizes_differ_by_at_most_one(config):
    plan = plan_run(config)
    sizes = [len(select_shard(plan.pairs, i, 4)) for i in range(4)]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("text", ["1", "2/2", "-1/3", "a/b", "0/0"])
def test_malformed_shard_is_refused(text):
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


def test_shards_run_apart_merge_by_copying_folders(config, tmp_path):
    small = load_config(config.path, ["tasks=[medlc_closedbook, medlc_openbook_1k]"])
    for i in range(3):
        run(small, tmp_path / f"shard{i}", shard=(i, 3))
    merged = tmp_path / "merged"
    for i in range(3):
        shutil.copytree(tmp_path / f"shard{i}", merged, dirs_exist_ok=True)
    pairs = ResultStore(merged).done_pairs()
    assert len(pairs) == 4
    assert sorted(p.relative_to(merged).parts[1] for p in pairs) == [
        "medlc_closedbook",
        "medlc_closedbook",
        "medlc_openbook_1k",
        "medlc_openbook_1k",
    ]
    shards = {json.loads((p / "record.json").read_text())["shard"] for p in pairs}
    assert shards == {"0/3", "1/3", "2/3"}
