"""`sample_items: N` scores N items per task, stratified by depth x counterfactual x
department and drawn with the seed: the same items for every model and baseline."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from medlc.runner.config import ConfigError, load_config, parse_config
from medlc.runner.run import run
from medlc.runner.sampling import shares, stratified_sample, task_samples
from medlc_core.store import ResultStore, read_samples

EXAM = Path(__file__).parent / "fixtures" / "report_exam"


@pytest.fixture(scope="module")
def bundled_1k():
    """The bundled exam's single-answer 1k documents, as the cloze task loads them."""
    from medlc_tasks.exam.bundled import bundled_exam_dir
    from medlc_tasks.loading import build_docs

    return build_docs(bundled_exam_dir(), "1k", "cloze", None)[0]


def counts(docs, indices, factor):
    return Counter(docs[i][factor] for i in indices)


def test_twelve_items_at_1k_spread_over_the_five_depths_as_evenly_as_they_can(bundled_1k):
    # 207 items, 40-43 per depth: 12 give 3/3/2/2/2 (the stride i*n//12 gave 2/1/6/1/2).
    picked = stratified_sample(bundled_1k, 12, seed=1234)
    assert sorted(counts(bundled_1k, picked, "depth").values()) == [2, 2, 2, 3, 3]


def test_twelve_items_at_1k_take_the_counterfactual_share_of_the_exam(bundled_1k):
    # 72 of 207 items are counterfactual: 12 * 72 / 207 = 4.2 -> 4.
    picked = stratified_sample(bundled_1k, 12, seed=1234)
    assert counts(bundled_1k, picked, "counterfactual")[True] == 4


def test_twelve_items_at_1k_reach_all_nine_departments(bundled_1k):
    picked = stratified_sample(bundled_1k, 12, seed=1234)
    assert sorted(counts(bundled_1k, picked, "department").values()) == [1] * 6 + [2] * 3


def test_the_same_seed_draws_the_same_items_and_another_seed_others(bundled_1k):
    assert stratified_sample(bundled_1k, 12, 1234) == stratified_sample(bundled_1k, 12, 1234)
    assert stratified_sample(bundled_1k, 12, 1234) != stratified_sample(bundled_1k, 12, 1)


def test_the_draw_follows_item_ids_not_the_order_documents_come_in(bundled_1k):
    shuffled = list(bundled_1k)
    random.Random(0).shuffle(shuffled)
    ids = {bundled_1k[i]["id"] for i in stratified_sample(bundled_1k, 12, 1234)}
    assert {shuffled[i]["id"] for i in stratified_sample(shuffled, 12, 1234)} == ids


def test_shares_follow_level_sizes_with_the_remainder_to_the_largest_fractions():
    levels = ["a"] * 5 + ["b"] * 3 + ["c"] * 2  # 4 items: exact 2.0, 1.2, 0.8
    assert shares(levels, 4, seed=0, factor="x") == {"a": 2, "b": 1, "c": 1}


def test_documents_without_the_factors_are_one_stratum():
    picked = stratified_sample([{"text": str(i)} for i in range(10)], 4, seed=3)
    assert len(picked) == 4 and picked == sorted(set(picked))


def test_more_items_wanted_than_exist_takes_them_all():
    assert task_samples("t", [{}, {}, {}], 10, seed=0) == {"t": [0, 1, 2]}


def test_no_sample_items_means_no_selection():
    assert task_samples("t", [{}] * 10, None, seed=0) is None


def test_limit_and_sample_items_together_are_refused():
    text = "settings: {limit: 5, sample_items: 5}\nroster: [{name: a, kind: general, pretrained: x}]\ntasks: [t]\n"
    with pytest.raises(ConfigError, match=r"settings\.sample_items: expected either `limit`"):
        parse_config(Path("c.yaml"), text)


def test_every_model_is_scored_on_the_same_sampled_items(tiny_model_dir, tiny_qwen2_dir, tmp_path):
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
    assert scored[0] == scored[1] and len(scored[0]) == 3
    record = json.loads((ResultStore(tmp_path / "results").done_pairs()[0] / "record.json").read_text())
    assert record["settings"]["sample_items"] == 3


def test_committed_exam_fixture_is_what_its_generator_writes(tmp_path):
    from fixtures.report_make_exam import write

    write(tmp_path)
    for path in EXAM.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
