"""Building an exam: determinism, lengths, depths, honest distractors, counted drops, manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medlc_core.provenance import sha256_file
from medlc_tasks.exam.book import BookError
from medlc_tasks.exam.build import BuildOptions, EmptyExamError, build_exam
from medlc_tasks.exam.leaks import find_leaks
from medlc_tasks.exam.schema import DEPTHS, MANIFEST_FILE
from medlc_tasks.exam.store import (
    CLOSED_BUCKET,
    ExamDirError,
    read_manifest,
    read_records,
    write_exam_atomically,
)
from medlc_tasks.exam.textnorm import SourceError

FIXTURES = Path(__file__).parent / "fixtures"
ITEMS = FIXTURES / "exam_items.jsonl"
MEDQA = FIXTURES / "exam_medqa.jsonl"
REFERENCE = FIXTURES / "exam_reference.txt"
BUCKETS = {"s": 500, "m": 1000}


def build_fixture_exam(out: Path, seed: int = 7, **kwargs) -> dict:
    """The test exam: 16 medlc items and 4 MedQA items whose evidence comes from the reference."""
    return build_exam([ITEMS, MEDQA], out, BUCKETS, seed, [REFERENCE], **kwargs)


@pytest.fixture(scope="module")
def exam(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exam") / "built"
    build_fixture_exam(out)
    return out


def books(exam: Path, item_id: str) -> list:
    return [r for bucket in BUCKETS for r in read_records(exam, bucket) if r.id == item_id]


def test_same_inputs_and_seed_give_byte_identical_files(exam, tmp_path):
    again = tmp_path / "again"
    build_fixture_exam(again)
    names = sorted(p.name for p in exam.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (exam / name).read_bytes() == (again / name).read_bytes(), name


def test_another_seed_changes_books_but_not_items(exam, tmp_path):
    other = tmp_path / "other"
    build_fixture_exam(other, seed=8)
    assert (exam / "closedbook.v1.jsonl").read_bytes() == (other / "closedbook.v1.jsonl").read_bytes()
    assert [r.book for r in read_records(exam, "m")] != [r.book for r in read_records(other, "m")]


def test_every_book_is_within_five_percent_of_its_bucket(exam):
    for bucket, target in BUCKETS.items():
        for record in read_records(exam, bucket):
            assert abs(record.book_chars - target) <= 0.05 * target, (record.id, record.book_chars)
            assert record.book_chars == len(record.book)


def test_gold_passage_lands_at_requested_depth(exam):
    for bucket in BUCKETS:
        for record in read_records(exam, bucket):
            gold = record.passages[record.gold_index]
            assert record.book[record.gold_char_offset :].startswith(gold)
            assert record.passage_sources[record.gold_index] == record.id
            if record.depth == 0.0:
                assert record.gold_index == 0
            if record.depth == 1.0:
                assert record.gold_index == len(record.passages) - 1
            ideal = record.depth * (record.book_chars - len(gold))
            longest_neighbour = max(
                len(p) for i, p in enumerate(record.passages) if abs(i - record.gold_index) == 1
            )
            assert abs(record.gold_char_offset - ideal) <= longest_neighbour + 2


def test_depths_are_balanced_within_each_bucket(exam):
    for bucket in BUCKETS:
        depths = [record.depth for record in read_records(exam, bucket)]
        counts = [depths.count(depth) for depth in DEPTHS]
        assert max(counts) - min(counts) <= 1, (bucket, counts)


def test_each_item_meets_a_different_depth_in_each_bucket(exam):
    small, large = read_records(exam, "s"), read_records(exam, "m")
    assert all(a.depth != b.depth for a, b in zip(small, large, strict=True))


def test_closed_book_has_the_same_items_without_books(exam):
    closed = read_records(exam, CLOSED_BUCKET)
    assert [r.id for r in closed] == [r.id for r in read_records(exam, "m")]
    assert all(r.book == "" and r.passages == [] and r.gold_index == -1 and r.depth == -1.0 for r in closed)


def test_longer_books_keep_the_shorter_books_distractors(exam):
    for small, large in zip(read_records(exam, "s"), read_records(exam, "m"), strict=True):
        missing = [p for p in small.passages if p not in large.passages]
        assert len(missing) <= 1  # at most the filler that was cut short to fit the budget


def test_real_world_passage_contradicting_a_counterfactual_key_is_never_its_distractor(exam):
    stemi_pci = "首选急诊经皮冠状动脉介入治疗"
    for record in books(exam, "card-03"):
        assert not any(stemi_pci in passage for passage in record.passages)
    # The passage is in the pool: other items' books do use it.
    others = [r for bucket in BUCKETS for r in read_records(exam, bucket) if r.id != "card-03"]
    assert any(stemi_pci in passage for r in others for passage in r.passages)


def test_passage_giving_another_dose_for_the_same_drug_is_never_a_distractor(exam):
    for record in books(exam, "card-02"):
        assert not any("每日2次5 mg" in passage for passage in record.passages)


def test_near_duplicate_of_the_gold_is_never_a_distractor(tmp_path):
    original = json.loads(ITEMS.read_text(encoding="utf-8").splitlines()[0])
    copy = dict(original, id="copy-01", question="近似重复的题目,高血压合并糖尿病时首选哪类药")
    copy["evidence"] = original["evidence"].replace("常作为首选", "通常被作为首选")
    extra = tmp_path / "near_copy.jsonl"
    extra.write_text(json.dumps(copy, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "exam"
    build_exam([ITEMS, extra], out, BUCKETS, 7, [REFERENCE])
    for record in read_records(out, "m"):
        if record.id in ("card-01", "copy-01"):
            distractors = [p for i, p in enumerate(record.passages) if i != record.gold_index]
            assert not any("血管紧张素转换酶抑制剂能够减少尿蛋白" in p for p in distractors)


def test_leaks_are_scrubbed_from_books_and_counted(exam):
    manifest = read_manifest(exam)
    assert manifest["leaks"]["per_item"]["card-01"] == ["选A"]
    assert manifest["leaks"]["per_item"]["endo-02"] == ["(A对)"]
    assert manifest["leaks"]["scrubbed"] == sum(len(v) for v in manifest["leaks"]["per_item"].values()) == 5
    for bucket in BUCKETS:
        for record in read_records(exam, bucket):
            assert all(find_leaks(passage) == [] for passage in record.passages)


def test_letters_in_medical_terms_survive_into_books(exam):
    assert "B超检查" in books(exam, "resp-04")[0].book
    assert "维生素B12" in books(exam, "gast-04")[0].book


def test_reference_passage_supplies_evidence_missing_from_medqa(exam):
    manifest = read_manifest(exam)
    medqa = manifest["items"]["exam_medqa-2"]
    assert medqa["evidence_from"].startswith("ref:exam_reference.txt#")
    record = books(exam, "exam_medqa-2")[0]
    assert "55 mmHg" in record.passages[record.gold_index]


def test_manifest_records_inputs_seed_versions_and_config(exam):
    manifest = read_manifest(exam)
    assert [(s["name"], s["sha256"], s["format"]) for s in manifest["sources"]] == [
        ("exam_items.jsonl", sha256_file(ITEMS), "medlc"),
        ("exam_medqa.jsonl", sha256_file(MEDQA), "medqa"),
    ]
    assert manifest["references"][0]["sha256"] == sha256_file(REFERENCE)
    assert manifest["seed"] == 7 and manifest["builder_version"]
    assert {"medlc", "lm_eval", "transformers"} <= set(manifest["versions"])
    assert manifest["config"]["buckets"] == BUCKETS and manifest["config"]["strict"] is True
    assert manifest["bucket_order"] == ["s", "m"]


def test_manifest_counts_items_and_bucket_statistics(exam):
    manifest = read_manifest(exam)
    counts = manifest["counts"]
    assert (counts["items_read"], counts["items_kept"], counts["items_dropped"]) == (20, 20, 0)
    assert (counts["multi_answer"], counts["counterfactual"]) == (1, 5)
    stats = manifest["bucket_stats"]["m"]
    lengths = [r.book_chars for r in read_records(exam, "m")]
    assert (stats["count"], stats["min_chars"], stats["max_chars"]) == (20, min(lengths), max(lengths))
    assert sum(stats["depth_counts"].values()) == 20


def test_manifest_lists_every_file_with_its_hash(exam):
    files = read_manifest(exam)["files"]
    assert set(files) == {p.name for p in exam.iterdir()} - {MANIFEST_FILE}
    assert all(sha256_file(exam / name) == digest for name, digest in files.items())


def test_item_with_no_evidence_anywhere_is_a_counted_drop(tmp_path):
    manifest = build_exam([ITEMS, MEDQA], tmp_path / "exam", BUCKETS, 7, [])
    drops = [d for d in manifest["drops"] if d["source"] == "exam_medqa.jsonl"]
    assert [d["kind"] for d in drops] == ["no_evidence"] * 4
    assert manifest["counts"]["items_dropped"] == 4


def test_every_bad_row_is_listed_with_its_reason_when_not_strict(tmp_path):
    bad = sorted(FIXTURES.glob("exam_bad_*.jsonl"))
    manifest = build_exam(
        [ITEMS, *bad], tmp_path / "exam", BUCKETS, 7, [REFERENCE], BuildOptions(strict=False)
    )
    counts = manifest["counts"]
    assert counts["items_read"] == counts["items_kept"] + counts["items_dropped"] == 16 + 3 * len(bad)
    # Each bad file's second row is dropped for its own reason ...
    row_two = {d["source"]: d["kind"] for d in manifest["drops"] if d["row"] == 2}
    assert row_two == {
        "exam_bad_answer_letter.jsonl": "answer_not_in_options",
        "exam_bad_duplicate_id.jsonl": "duplicate_id",
        "exam_bad_empty_question.jsonl": "empty_question",
        "exam_bad_malformed.jsonl": "malformed_row",
        "exam_bad_missing_answer.jsonl": "missing_answer",
        "exam_bad_undecodable.jsonl": "undecodable",
    }
    # ... and the good rows ok-1 and ok-3 that repeat across files are dropped as duplicates.
    assert manifest["drop_kinds"]["duplicate_id"] == 1 + 2 * (len(bad) - 1)
    assert all(d["reason"] for d in manifest["drops"])


def test_a_build_that_keeps_no_item_fails_with_the_drop_summary_and_writes_nothing(tmp_path):
    out = tmp_path / "exam"
    summary = (
        r"no item kept: 4 read, 4 dropped \(no_evidence: 4\)\. Most common: no_evidence x4: no explanation"
    )
    with pytest.raises(EmptyExamError, match=summary) as raised:
        build_exam([MEDQA], out, BUCKETS, 7, [], BuildOptions(strict=False))
    assert "pass --reference FILE holding the keyed option texts" in str(raised.value)
    assert [d["kind"] for d in raised.value.summary["drops"]] == ["no_evidence"] * 4
    assert list(tmp_path.iterdir()) == []


def test_duplicate_id_across_files_is_an_error_naming_both(tmp_path):
    again = tmp_path / "again.jsonl"
    again.write_text(ITEMS.read_text(encoding="utf-8").splitlines()[1] + "\n", encoding="utf-8")
    with pytest.raises(
        SourceError, match=r"again.jsonl, row 1: duplicate id 'card-02' \(first in exam_items.jsonl row 2\)"
    ):
        build_exam([ITEMS, again], tmp_path / "exam", BUCKETS, 7, [REFERENCE])


def test_bucket_the_pool_cannot_fill_is_an_error_and_leaves_no_exam(tmp_path):
    out = tmp_path / "exam"
    with pytest.raises(BookError, match="bucket huge needs 47500: add --reference FILE with more text"):
        build_exam([ITEMS], out, {"huge": 50_000}, 7, [REFERENCE])
    assert list(tmp_path.iterdir()) == []


def test_rebuilding_replaces_an_existing_exam(tmp_path):
    out = tmp_path / "exam"
    build_fixture_exam(out, seed=1)
    build_fixture_exam(out, seed=2)
    assert read_manifest(out)["seed"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["exam"]


def test_a_directory_that_is_not_an_exam_is_never_overwritten(tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ExamDirError, match="neither empty nor a built exam"):
        build_fixture_exam(out)
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_passage_stating_a_conflict_term_is_never_a_distractor(tmp_path):
    inr = "国际标准化比值"  # only the reference passage on warfarin monitoring says this

    def card_04_books(meta: dict) -> list[str]:
        rows = [json.loads(line) for line in ITEMS.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            if row["id"] == "card-04":
                row["anchors"], row["meta"] = ["抗凝"], meta
        source = tmp_path / f"items_{len(meta)}.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        out = tmp_path / f"exam_{len(meta)}"
        build_exam([source], out, BUCKETS, 7, [REFERENCE])
        return [p for r in read_records(out, "m") if r.id == "card-04" for p in r.passages]

    assert any(inr in passage for passage in card_04_books({}))
    assert not any(inr in passage for passage in card_04_books({"conflict_terms": [inr]}))


def test_build_does_not_depend_on_the_interpreters_hash_seed(exam, tmp_path):
    out = tmp_path / "other_process"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from test_exam_build import build_fixture_exam; from pathlib import Path; "
        "build_fixture_exam(Path(sys.argv[2]))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), str(out)], check=True, env=env)
    for path in exam.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_build_that_fails_while_writing_leaves_the_old_exam_untouched(exam, tmp_path):
    out = tmp_path / "exam"
    build_fixture_exam(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash_half_way(staging: Path) -> None:
        (staging / "closedbook.v1.jsonl").write_text("half\n", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_exam_atomically(out, crash_half_way)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["exam"]  # no staging directory left
