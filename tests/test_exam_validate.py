"""validate-exam passes a clean build and finds every planted problem."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_exam_build import BUCKETS, FIXTURES, REFERENCE, build_fixture_exam

from medlc.cli import main
from medlc_tasks.exam.balance import ShortcutLimits
from medlc_tasks.exam.build import BuildOptions, build_exam
from medlc_tasks.exam.schema import PASSAGE_SEPARATOR, BuiltRecord
from medlc_tasks.exam.store import read_records, record_file
from medlc_tasks.exam.validate import SHORTCUT_CHECKS, shortcut_report, validate_exam


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "exam"
    build_fixture_exam(out)
    return out


@pytest.fixture
def exam(clean, tmp_path) -> Path:
    """A private copy to tamper with."""
    return Path(shutil.copytree(clean, tmp_path / "exam"))


def tamper(exam: Path, bucket: str, item_id: str, change: Callable[[BuiltRecord], None]) -> None:
    records = read_records(exam, bucket)
    for record in records:
        if record.id == item_id:
            change(record)
    (exam / record_file(bucket)).write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")


def replace_distractor(record: BuiltRecord, text: str) -> None:
    """Swap the passage after (or before) the gold for `text`, keeping the record consistent."""
    index = record.gold_index + 1 if record.gold_index + 1 < len(record.passages) else record.gold_index - 1
    record.passages[index] = text
    record.book = PASSAGE_SEPARATOR.join(record.passages)
    record.book_chars = len(record.book)
    record.gold_char_offset = record.book.index(record.passages[record.gold_index])


def found(exam: Path) -> set[tuple[str, str, str]]:
    return {(p.item_id, p.bucket, p.check) for p in validate_exam(exam)}


def test_clean_build_has_no_problems(clean):
    assert validate_exam(clean) == []


def test_edited_file_no_longer_matches_the_manifest_hash(exam):
    tamper(exam, "m", "resp-01", lambda r: setattr(r, "difficulty", "难"))
    assert ("", "openbook_m.v1.jsonl", "file_hash") in found(exam)


def test_leaked_letter_planted_in_a_distractor_is_found(exam):
    tamper(exam, "m", "resp-01", lambda r: replace_distractor(r, "这是一段被篡改的干扰文字,故选C。"))
    assert ("resp-01", "m", "leaked_letters") in found(exam)


def test_distractor_backing_another_option_is_found(exam):
    tamper(
        exam, "s", "card-02", lambda r: replace_distractor(r, "早期试验中韦拉克定采用每日2次5 mg的给药方式。")
    )
    assert ("card-02", "s", "distractor_supports_other_option") in found(exam)


def test_near_copy_of_the_gold_as_distractor_is_found(exam):
    tamper(
        exam, "m", "gast-03", lambda r: replace_distractor(r, r.passages[r.gold_index] + "以上内容供参考。")
    )
    assert ("gast-03", "m", "near_duplicate_distractor") in found(exam)


def test_gold_moved_away_from_its_depth_is_found(exam):
    def move_gold_to_the_end(record: BuiltRecord) -> None:
        gold, source = record.passages.pop(record.gold_index), record.passage_sources.pop(record.gold_index)
        record.passages.append(gold)
        record.passage_sources.append(source)
        record.gold_index = len(record.passages) - 1
        record.book = PASSAGE_SEPARATOR.join(record.passages)
        record.gold_char_offset = len(record.book) - len(gold)

    at_depth_zero = next(r for r in read_records(exam, "m") if r.depth == 0.0)
    tamper(exam, "m", at_depth_zero.id, move_gold_to_the_end)
    assert (at_depth_zero.id, "m", "gold_depth") in found(exam)


def test_gold_index_pointing_at_a_distractor_is_found(exam):
    tamper(exam, "m", "resp-02", lambda r: setattr(r, "gold_index", r.gold_index - 1 if r.gold_index else 1))
    assert ("resp-02", "m", "gold_depth") in found(exam)


def test_book_outside_five_percent_is_found(exam):
    def cut(record: BuiltRecord) -> None:
        record.passages = record.passages[: record.gold_index + 1]
        record.book = PASSAGE_SEPARATOR.join(record.passages)
        record.book_chars = len(record.book)

    first = read_records(exam, "m")[0]
    tamper(exam, "m", first.id, cut)
    assert (first.id, "m", "book_length") in found(exam)


def test_passages_that_do_not_join_to_the_book_are_found(exam):
    tamper(exam, "s", "endo-01", lambda r: setattr(r, "book", r.book + "多余"))
    assert ("endo-01", "s", "book_join") in found(exam)


def test_unbalanced_depths_are_found(exam):
    records = read_records(exam, "s")
    for record in records:
        tamper(exam, "s", record.id, lambda r: setattr(r, "depth", 0.5))
    assert ("", "s", "depth_balance") in found(exam)


def test_missing_bucket_file_is_found(exam):
    (exam / record_file("s")).unlink()
    assert ("", "s", "bucket_file") in found(exam)


def test_explanation_lacking_the_key_text_is_reported_for_a_real_exam(tmp_path):
    out = tmp_path / "cmexam"
    build_exam([FIXTURES / "exam_cmexam.csv"], out, BUCKETS, 7, [REFERENCE])
    problems = [p for p in validate_exam(out) if p.check == "evidence_supports_key"]
    assert {(p.item_id, p.bucket) for p in problems} == {("exam_cmexam-2", "s"), ("exam_cmexam-2", "m")}
    assert "沿周围神经呈带状分布" in problems[0].message


def test_skipped_checks_are_not_reported(tmp_path):
    out = tmp_path / "cmexam"
    build_exam([FIXTURES / "exam_cmexam.csv"], out, BUCKETS, 7, [REFERENCE])
    assert validate_exam(out, skip=("evidence_supports_key",)) == []


def test_shortcut_prone_exam_fails_where_its_manifest_enforces_the_limits(tmp_path):
    # The fixture's books mostly name the key alone: its pool holds few decoys.
    out = tmp_path / "enforced"
    options = BuildOptions(shortcut_limits=ShortcutLimits(enforce=True))
    build_exam([FIXTURES / "exam_items.jsonl"], out, BUCKETS, 7, [REFERENCE], options)
    problems = {(p.bucket, p.check) for p in validate_exam(out)}
    assert {(bucket, check) for bucket in BUCKETS for check in SHORTCUT_CHECKS} <= problems


def test_shortcut_prone_user_exam_passes_with_a_warning_giving_figures_and_fix(clean, capsys):
    assert not any(p.check in SHORTCUT_CHECKS for p in validate_exam(clean))
    assert main(["validate-exam", str(clean)]) == 0
    printed = capsys.readouterr().out.replace("\n", " ")
    accuracy = shortcut_report(clean).figures["s"].count_accuracy
    assert (
        f"warning: s: count_shortcut: the count rule (pick the most-named option) scores {accuracy:.3f}"
        in printed
    )
    assert "fix: rebuild with --reference FILE holding passages that name the non-key options" in printed


def test_validate_exam_reports_the_shortcut_figures_of_every_bucket(clean, capsys):
    report = shortcut_report(clean)
    assert list(report.figures) == list(BUCKETS)
    assert not report.limits.enforce
    main(["validate-exam", str(clean)])
    printed = capsys.readouterr().out
    assert "count rule" in printed and "key only named" in printed and "decoy coverage" in printed
