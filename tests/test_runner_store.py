"""The results store: a pair folder is complete or absent, never half-written."""

from __future__ import annotations

import gzip
import json

import pytest

from medlc_core.atomic import atomic_write
from medlc_core.store import DONE_FILE, PairKey, ResultStore, read_samples, samples_to_jsonl

KEY = PairKey("0123456789abcdef", "medlc_closedbook", "1.0", "feedfacecafebeef")
SAMPLE = {
    "doc_id": 0,
    "doc": {"id": "q1"},
    "target": 1,
    "arguments": [("ctx", " A")],
    "resps": [[(-1.0, False)]],
    "filtered_resps": [(-1.0, False)],
    "filter": "none",
    "metrics": ["acc"],
    "acc": 1.0,
    "doc_hash": "d",
    "prompt_hash": "p",
    "target_hash": "t",
}


def test_written_pair_is_done_and_readable(tmp_path):
    store = ResultStore(tmp_path)
    store.write_pair(KEY, {"results": {}}, samples_to_jsonl([SAMPLE]), {"seed": 1})
    assert store.is_done(KEY)
    assert read_samples(store.pair_dir(KEY))[0]["acc"] == 1.0


def test_done_marker_names_the_digest_of_every_file(tmp_path):
    store = ResultStore(tmp_path)
    store.write_pair(KEY, {"results": {}}, samples_to_jsonl([SAMPLE]), {"seed": 1})
    digests = json.loads((store.pair_dir(KEY) / DONE_FILE).read_text())
    assert sorted(digests) == ["record.json", "results.json", "samples.jsonl"]


@pytest.mark.parametrize("with_done", [False, True])
def test_folder_left_by_a_killed_write_is_not_a_scored_pair(tmp_path, with_done):
    store = ResultStore(tmp_path)
    # What a run killed mid-write leaves: a staging folder beside the pair, possibly
    # already holding DONE when the kill came just before the rename.
    staging = store.pair_dir(KEY).parent / f"{KEY.exam_hash}.tmp-host-123-abc"
    staging.mkdir(parents=True)
    (staging / "results.json").write_text("{")
    if with_done:
        (staging / DONE_FILE).write_text("{}")
    assert not store.is_done(KEY)
    assert store.done_pairs() == []


def test_clear_partial_removes_only_staging_folders_of_that_pair(tmp_path):
    store = ResultStore(tmp_path)
    store.write_pair(KEY, {"results": {}}, samples_to_jsonl([SAMPLE]), {})
    staging = store.pair_dir(KEY).parent / f"{KEY.exam_hash}.tmp-host-123-abc"
    staging.mkdir()
    assert store.clear_partial(KEY) == 1
    assert not staging.exists() and store.is_done(KEY)


def test_second_write_of_a_finished_pair_keeps_the_first(tmp_path):
    store = ResultStore(tmp_path)
    store.write_pair(KEY, {"results": {"first": True}}, samples_to_jsonl([SAMPLE]), {})
    store.write_pair(KEY, {"results": {"first": False}}, samples_to_jsonl([SAMPLE]), {})
    assert json.loads((store.pair_dir(KEY) / "results.json").read_text())["results"] == {"first": True}
    assert [p.name for p in store.pair_dir(KEY).parent.iterdir()] == [KEY.exam_hash]


def test_compressed_samples_are_byte_identical_across_writes(tmp_path):
    first, second = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    for store in (first, second):
        store.write_pair(KEY, {}, samples_to_jsonl([SAMPLE]), {}, compress_samples=True)
    a = (first.pair_dir(KEY) / "samples.jsonl.gz").read_bytes()
    assert a == (second.pair_dir(KEY) / "samples.jsonl.gz").read_bytes()
    assert json.loads(gzip.decompress(a))["acc"] == 1.0


def test_samples_are_sanitised_like_lm_eval_writes_them():
    row = json.loads(samples_to_jsonl([SAMPLE]))
    assert row["arguments"] == {"gen_args_0": {"arg_0": "ctx", "arg_1": " A"}}
    assert row["resps"] == [[["-1.0", "False"]]] and row["target"] == "1"


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "x" / "model.json"
    atomic_write(path, "old")
    atomic_write(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in path.parent.iterdir()] == ["model.json"]


def test_unreadable_sample_line_names_the_folder_and_line(tmp_path):
    store = ResultStore(tmp_path)
    store.write_pair(KEY, {}, samples_to_jsonl([SAMPLE]) + "{broken\n", {})
    with pytest.raises(ValueError, match=r"samples line 2: not JSON"):
        read_samples(store.pair_dir(KEY))
