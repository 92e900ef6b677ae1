"""`medlc build-exam` and `medlc validate-exam` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.cli import main
from medlc_tasks.exam.cli import parse_buckets
from medlc_tasks.exam.store import read_manifest
from medlc_tasks.exam.textnorm import SourceError

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = str(FIXTURES / "exam_reference.txt")
FOREIGN_MAP = "id=编号,question=题干,options=选项,answer=答案,evidence=解析,department=科室"


def build(*args: str) -> int:
    return main(["build-exam", *args, "--reference", REFERENCE, "--buckets", "s=300,m=600"])


@pytest.mark.parametrize(
    "source, extra, fmt",
    [
        ("exam_cmexam.csv", [], "cmexam"),
        ("exam_medqa.jsonl", [], "medqa"),
        ("exam_foreign.json", ["--map", FOREIGN_MAP], "mapped"),
    ],
)
def test_build_exam_turns_each_layout_into_an_exam(tmp_path, source, extra, fmt):
    out = tmp_path / "exam"
    assert build(str(FIXTURES / source), *extra, "--out", str(out)) == 0
    manifest = read_manifest(out)
    assert manifest["sources"][0]["format"] == fmt
    assert manifest["counts"]["items_kept"] > 0
    assert manifest["bucket_order"] == ["s", "m"]


def test_mapped_exam_passes_validation(tmp_path, capsys):
    out = tmp_path / "exam"
    build(str(FIXTURES / "exam_foreign.json"), "--map", FOREIGN_MAP, "--out", str(out))
    assert main(["validate-exam", str(out)]) == 0
    assert "no problems" in capsys.readouterr().out


def test_build_summary_reports_kept_items_and_books(tmp_path, capsys):
    build(str(FIXTURES / "exam_items.jsonl"), "--out", str(tmp_path / "exam"))
    out = capsys.readouterr().out
    assert "16 read, 16 kept, 0 dropped" in out
    assert "leaks scrubbed: 5" in out


def test_bad_input_exits_2_naming_file_row_and_problem(tmp_path, capsys):
    assert build(str(FIXTURES / "exam_bad_missing_answer.jsonl"), "--out", str(tmp_path / "exam")) == 2
    assert "exam_bad_missing_answer.jsonl, line 2: missing answer" in capsys.readouterr().err
    assert not (tmp_path / "exam").exists()


def test_no_strict_build_lists_the_dropped_row(tmp_path, capsys):
    args = [str(FIXTURES / "exam_items.jsonl"), str(FIXTURES / "exam_bad_empty_question.jsonl")]
    assert build(*args, "--no-strict", "--out", str(tmp_path / "exam")) == 0
    out = capsys.readouterr().out
    assert "dropped rows" in out and "empty_question" in out


def test_a_build_that_keeps_nothing_exits_2_listing_the_drops(tmp_path, capsys):
    out = tmp_path / "exam"
    assert (
        main(["build-exam", str(FIXTURES / "exam_medqa.jsonl"), "--out", str(out), "--buckets", "s=300"]) == 2
    )
    captured = capsys.readouterr()
    assert "dropped rows (no_evidence: 4)" in captured.out
    assert "no item kept: 4 read, 4 dropped" in captured.err.replace("\n", " ")
    assert "exam written" not in captured.out + captured.err
    assert not out.exists()


def test_validate_exam_exits_1_and_lists_problems(tmp_path, capsys):
    out = tmp_path / "exam"
    build(str(FIXTURES / "exam_items.jsonl"), "--out", str(out))
    (out / "openbook_m.v1.jsonl").unlink()
    capsys.readouterr()
    assert main(["validate-exam", str(out)]) == 1
    assert "bucket_file" in capsys.readouterr().out


def test_validate_exam_counts_paraphrased_explanations_instead_of_failing(tmp_path, capsys):
    out = tmp_path / "exam"
    build(str(FIXTURES / "exam_cmexam.csv"), "--out", str(out))
    capsys.readouterr()
    assert main(["validate-exam", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "accepted: 1 items under evidence_supports_key" in printed and "no problems" in printed


def test_validate_exam_reads_the_exam_named_by_the_environment(tmp_path, monkeypatch, capsys):
    out = tmp_path / "exam"
    build(str(FIXTURES / "exam_items.jsonl"), "--out", str(out))
    monkeypatch.setenv("MEDLC_EXAM_DIR", str(out))
    assert main(["validate-exam"]) == 0
    assert str(out) in capsys.readouterr().out.replace("\n", "")


def test_validate_exam_on_a_directory_that_is_not_an_exam_exits_2(tmp_path, capsys):
    assert main(["validate-exam", str(tmp_path)]) == 2
    assert "not a built exam" in capsys.readouterr().err


def test_own_exam_needs_an_output_directory(capsys):
    assert main(["build-exam", str(FIXTURES / "exam_items.jsonl")]) == 2
    assert "--out" in capsys.readouterr().err


def test_buckets_take_k_sizes_or_named_sizes():
    assert parse_buckets("1k,2k") == {"1k": 1000, "2k": 2000}
    assert parse_buckets("short=1500,long=6k") == {"short": 1500, "long": 6000}


@pytest.mark.parametrize("spec", ["", "big", "a b=1k", "1.5k"])
def test_malformed_buckets_are_refused(spec):
    with pytest.raises(SourceError):
        parse_buckets(spec)


@pytest.mark.parametrize(
    "name, text, extra, said",
    [
        ("bank.csv", "Question,Options,Answer,Explanation\n", [], "the CSV has a header and no data rows"),
        ("bank.json", "[]", ["--map", FOREIGN_MAP], "the JSON list is empty"),
    ],
)
def test_exam_file_without_records_exits_2_saying_so(tmp_path, capsys, name, text, extra, said):
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    assert build(str(source), *extra, "--no-strict", "--out", str(tmp_path / "exam")) == 2
    assert f"{name}, records: no records: {said}" in capsys.readouterr().err
    assert not (tmp_path / "exam").exists()
