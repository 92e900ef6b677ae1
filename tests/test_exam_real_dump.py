"""Issue 10's targets on the dump fixture with the default (auto) buckets: a pool that
cannot fill a bucket never costs items, skipped buckets are recorded and explained, a task
for one fails clearly, and siblings stay out of each other's books.

These need bucket planning and sibling detection in build.py/book.py; the loading and
explicit-bucket half of the story is tests/test_exam_dump.py.
"""

from __future__ import annotations

import io
import math
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from test_exam_dump import DUMP, MAP, USABLE

from medlc.cli import main
from medlc_tasks.exam.schema import DEFAULT_BUCKETS
from medlc_tasks.exam.store import ExamDirError, read_manifest, read_records
from medlc_tasks.exam.validate import validate_exam
from medlc_tasks.loading import build_docs

# Records that share a case stem (A3/A4) or one option list (B1), by source row.
SIBLING_GROUPS = [[6, 7, 8], [18, 19], [12, 13, 14], [25, 26]]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("dump") / "exam"
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = main(["build-exam", str(DUMP), "--map", MAP, "--no-strict", "--out", str(out)])
    return out, code, printed.getvalue()


def test_default_buckets_keep_what_has_option_text_and_an_explanation(built):
    out, code, _ = built
    assert code == 0
    assert read_manifest(out)["counts"]["items_kept"] >= math.ceil(0.95 * USABLE)


def test_default_buckets_build_what_the_pool_fills_and_skip_the_rest(built):
    manifest = read_manifest(built[0])
    assert manifest["bucket_order"][0] == "1k"
    assert "32k" in manifest["buckets_skipped"]
    assert set(manifest["bucket_order"]) | set(manifest["buckets_skipped"]) == set(DEFAULT_BUCKETS)


def test_skipped_buckets_are_recorded_with_the_fix(built):
    for bucket, skipped in read_manifest(built[0])["buckets_skipped"].items():
        assert f"bucket {bucket}" in skipped["message"] and "--reference" in skipped["message"]


def test_summary_names_the_skipped_buckets_and_what_to_pass(built):
    _, _, printed = built
    assert "skipped" in printed.lower() and "32k" in printed and "--reference" in printed


def test_task_for_a_skipped_bucket_names_the_exam_and_the_bucket(built):
    with pytest.raises(ExamDirError, match=r"has no bucket '32k': the build skipped it \(bucket 32k: "):
        build_docs(built[0], "32k", "letter", None)


def test_siblings_never_appear_in_each_others_books(built):
    out = built[0]
    for bucket in read_manifest(out)["bucket_order"]:
        sources = {record.id: set(record.passage_sources) for record in read_records(out, bucket)}
        for group in SIBLING_GROUPS:
            ids = [f"exam_real_dump-{row}" for row in group]
            for item_id in ids:
                assert not sources[item_id] & (set(ids) - {item_id}), (bucket, item_id)


def test_default_build_passes_validation(built):
    assert validate_exam(built[0]) == []


def test_explicit_bucket_the_pool_cannot_fill_still_fails_clearly(tmp_path, capsys):
    out = tmp_path / "exam"
    args = ["build-exam", str(DUMP), "--map", MAP, "--no-strict", "--buckets", "1k,32k", "--out", str(out)]
    assert main(args) == 2
    printed = capsys.readouterr().out
    assert "32k" in printed and "--reference" in printed
    assert not out.exists()
