"""validate-exam passes a clean build and finds every planted problem."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_exam_build import BUCKETS, FIXTURES, REFERENCE, build_fixture_exam

from medlc.cli import main
from medlc_core.provenance import sha256_file
from medlc_tasks.exam.balance import ShortcutLimits
from medlc_tasks.exam.build import BuildOptions, build_exam
from medlc_tasks.exam.schema import (
    CLOSEDBOOK_FILE,
    MANIFEST_FILE,
    PASSAGE_SEPARATOR,
    BuiltRecord,
    bucket_file,
)
from medlc_tasks.exam.store import CLOSED_BUCKET, read_manifest, read_records, record_file
from medlc_tasks.exam.support import ItemFacts, missing_key_options
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


def rehash(exam: Path) -> None:
    """Record the edited files' hashes in the manifest, as a careless re-export would."""
    manifest = read_manifest(exam)
    manifest["files"] = {name: sha256_file(exam / name) for name in manifest["files"]}
    (exam / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


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


@pytest.fixture(scope="module")
def cmexam(tmp_path_factory) -> Path:
    """A real-exam build: exam_cmexam-2's explanation supports its key in other words."""
    out = tmp_path_factory.mktemp("cmexam") / "exam"
    build_exam([FIXTURES / "exam_cmexam.csv"], out, BUCKETS, 7, [REFERENCE])
    return out


def set_manifest_item(exam: Path, item_id: str, **fields) -> None:
    manifest = read_manifest(exam)
    manifest["items"][item_id].update(fields)
    (exam / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def test_explanation_paraphrasing_the_key_is_marked_in_the_manifest(cmexam):
    manifest = read_manifest(cmexam)
    marked = [i for i, info in manifest["items"].items() if info["evidence_paraphrases_key"]]
    assert marked == ["exam_cmexam-2"]
    assert manifest["counts"]["evidence_paraphrases_key"] == 1


def test_marked_paraphrase_is_accepted_and_counted_not_failed(cmexam):
    findings = validate_exam(cmexam)
    assert findings == []
    assert findings.accepted == {"evidence_supports_key": ["exam_cmexam-2"]}


def test_unmarked_gold_lacking_the_key_text_is_a_problem(cmexam, tmp_path):
    exam = Path(shutil.copytree(cmexam, tmp_path / "exam"))
    set_manifest_item(exam, "exam_cmexam-2", evidence_paraphrases_key=False)
    problems = [p for p in validate_exam(exam) if p.check == "evidence_supports_key"]
    assert {(p.item_id, p.bucket) for p in problems} == {("exam_cmexam-2", "s"), ("exam_cmexam-2", "m")}
    assert "沿周围神经呈带状分布" in problems[0].message


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


def test_counterfactual_key_missing_from_its_gold_fails_even_when_marked(exam):
    set_manifest_item(exam, "card-03", evidence_paraphrases_key=True)

    def rename_key(record: BuiltRecord) -> None:
        record.options[record.choices.index(record.answer)] = "一种书中没有写到的疗法"

    for bucket in [CLOSED_BUCKET, *BUCKETS]:
        tamper(exam, bucket, "card-03", rename_key)
    problems = [p for p in validate_exam(exam) if p.check == "evidence_supports_key"]
    assert [(p.item_id, p.bucket) for p in problems] == [("card-03", "s"), ("card-03", "m")]
    assert "a counterfactual key must be stated" in problems[0].message


def test_key_named_through_an_option_alias_counts_as_named():
    facts = ItemFacts.of("首选哪种利尿药", {"A": "呋塞米", "B": "甘露醇"}, "A", [], {"A": ["袢利尿剂"]})
    assert missing_key_options("急性肺水肿时应静脉注射袢利尿剂。", facts) == []
    assert missing_key_options("急性肺水肿时应限制入量。", facts) == ["A"]


def test_skipped_checks_are_not_reported(cmexam, tmp_path):
    exam = Path(shutil.copytree(cmexam, tmp_path / "exam"))
    set_manifest_item(exam, "exam_cmexam-2", evidence_paraphrases_key=False)
    findings = validate_exam(exam, skip=("evidence_supports_key",))
    assert findings == [] and findings.accepted == {}


def test_question_edited_in_one_bucket_file_is_found(exam):
    tamper(exam, "m", "resp-01", lambda r: setattr(r, "question", r.question + "(已修改)"))
    rehash(exam)
    assert ("resp-01", "m", "same_items") in found(exam)


def test_option_edited_in_one_bucket_file_is_found(exam):
    tamper(exam, "s", "resp-02", lambda r: r.options.__setitem__(0, r.options[0] + "片"))
    rehash(exam)
    assert ("resp-02", "s", "same_items") in found(exam)


def test_answer_changed_in_one_bucket_file_is_found(exam):
    def other_key(record: BuiltRecord) -> None:
        record.answer = next(letter for letter in record.choices if letter != record.answer)
        record.answer_index = record.choices.index(record.answer)

    tamper(exam, "m", "endo-01", other_key)
    rehash(exam)
    assert ("endo-01", "m", "same_items") in found(exam)


def test_exam_without_items_fails_validation(tmp_path):
    exam = tmp_path / "exam"
    build_fixture_exam(exam)
    for name in [CLOSEDBOOK_FILE, *(bucket_file(b) for b in BUCKETS)]:
        (exam / name).write_text("", encoding="utf-8")
    rehash(exam)
    problems = [p for p in validate_exam(exam) if p.check == "empty_exam"]
    assert [(p.bucket, p.check) for p in problems] == [("closed", "empty_exam")]
    assert "holds no items" in problems[0].message
