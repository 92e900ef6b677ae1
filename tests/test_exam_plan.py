"""Bucket planning: a pool too small for long books costs buckets, never items; an explicit list is required."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.cli import main
from medlc_tasks.exam.book import BookError
from medlc_tasks.exam.build import build_exam
from medlc_tasks.exam.store import read_manifest

FIXTURES = Path(__file__).parent / "fixtures"
ITEMS = FIXTURES / "decoy_items.jsonl"
# Together about 4,100 characters per item: enough for 1k, 2k and 4k books, not for 8k.
REFERENCES = [FIXTURES / "decoy_reference.txt", FIXTURES / "decoy_filler.txt"]


@pytest.fixture(scope="module")
def auto(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("auto") / "exam"
    return out, build_exam([ITEMS], out, None, 7, REFERENCES)


def test_auto_builds_every_bucket_the_pool_can_fill(auto):
    out, manifest = auto
    assert manifest["bucket_order"] == ["1k", "2k", "4k"]
    assert sorted(p.name for p in out.glob("openbook_*")) == [
        "openbook_1k.v1.jsonl", "openbook_2k.v1.jsonl", "openbook_4k.v1.jsonl",
    ]  # fmt: skip


def test_auto_records_each_skipped_bucket_with_what_it_needed(auto):
    _, manifest = auto
    skipped = manifest["buckets_skipped"]
    assert list(skipped) == ["8k", "16k", "32k"]
    assert skipped["8k"]["needed_chars"] == 7600
    assert 3800 <= skipped["8k"]["available_chars"] < 7600
    assert "bucket 8k" in skipped["8k"]["message"] and "--reference FILE" in skipped["8k"]["message"]
    assert manifest["buckets_requested"] == "auto"


def test_auto_skipping_buckets_costs_no_items(auto):
    _, manifest = auto
    assert manifest["counts"]["items_kept"] == manifest["counts"]["items_read"] == 6
    assert manifest["drops"] == []


def test_an_explicit_bucket_the_pool_cannot_fill_fails_naming_it_and_the_fix(tmp_path):
    out = tmp_path / "exam"
    with pytest.raises(BookError, match=r"bucket 8k needs 7600: add --reference FILE with more text"):
        build_exam([ITEMS], out, {"1k": 1000, "8k": 8000}, 7, REFERENCES)
    assert not out.exists()


def test_build_exam_plans_buckets_by_default_and_says_what_it_skipped(tmp_path, capsys):
    args = ["build-exam", str(ITEMS), "--reference", *map(str, REFERENCES), "--out", str(tmp_path / "exam")]
    assert main(args) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "buckets built: 1k, 2k, 4k" in out
    assert "skipped bucket 8k: a book of 8000 characters needs at least 7600 characters" in out
    assert read_manifest(tmp_path / "exam")["bucket_order"] == ["1k", "2k", "4k"]
