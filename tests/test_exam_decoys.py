"""Decoys: every non-key option named in every book, the key never named most, decoys spread out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlc.cli import main
from medlc_tasks.exam.build import SourceSpec, build_exam
from medlc_tasks.exam.shortcuts import option_counts
from medlc_tasks.exam.store import read_manifest, read_records

FIXTURES = Path(__file__).parent / "fixtures"
# Six original items, each non-key option named in a decoy passage of the reference;
# hypok-01's explanation names its key twice. The filler holds passages naming no option.
ITEMS = FIXTURES / "decoy_items.jsonl"
DECOYS = FIXTURES / "decoy_reference.txt"
FILLER = FIXTURES / "decoy_filler.txt"
BUCKETS = {"s": 1000, "m": 2000}


def build(out: Path, seed: int = 7, references=(DECOYS, FILLER)) -> dict:
    return build_exam([ITEMS], out, BUCKETS, seed, list(references))


@pytest.fixture(scope="module")
def exam(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("decoys") / "exam"
    build(out)
    return out


def decoy_positions(exam: Path, bucket: str, item_id: str) -> list[int]:
    """Where the item's decoys sit in its book, counted as offsets from the gold passage."""
    sources = {decoy["source"] for decoy in read_manifest(exam)["items"][item_id]["decoys"]}
    record = next(r for r in read_records(exam, bucket) if r.id == item_id)
    return [i - record.gold_index for i, source in enumerate(record.passage_sources) if source in sources]


def test_every_non_key_option_has_a_decoy_in_every_bucket(exam):
    manifest = read_manifest(exam)
    assert all(info["decoys_missing"] == {} for info in manifest["items"].values())
    assert [manifest["bucket_stats"][b]["decoy_coverage"] for b in BUCKETS] == [1.0, 1.0]
    for bucket in BUCKETS:
        for record in read_records(exam, bucket):
            others = [p for i, p in enumerate(record.passages) if i != record.gold_index]
            for letter, text in zip(record.choices, record.options, strict=True):
                if letter != record.answer:
                    assert any(text in passage for passage in others), (record.id, bucket, text)


def test_no_book_names_the_key_more_often_than_any_other_option(exam):
    for bucket in BUCKETS:
        for record in read_records(exam, bucket):
            counts = option_counts(record.book, record.options)
            others = [n for i, n in enumerate(counts) if i != record.answer_index]
            assert counts[record.answer_index] <= min(others), (record.id, bucket, counts)


def test_count_rule_is_held_to_chance_and_no_book_names_only_the_key(exam):
    stats = read_manifest(exam)["bucket_stats"]
    for bucket in BUCKETS:
        assert stats[bucket]["key_only_share"] == 0.0
        assert stats[bucket]["count_accuracy"] <= 0.25  # chance for these 3- and 4-option items


def test_a_key_named_twice_in_the_gold_gets_two_decoys_for_every_other_option(exam):
    record = next(r for r in read_records(exam, "s") if r.id == "hypok-01")
    assert option_counts(record.passages[record.gold_index], record.options)[record.answer_index] == 2
    decoys = read_manifest(exam)["items"]["hypok-01"]["decoys"]
    assert [sum(letter in d["letters"] for d in decoys) >= 2 for letter in "BC"] == [True, True]
    assert option_counts(record.book, record.options) == [2, 2, 2]


def test_no_decoy_names_the_key(exam):
    manifest = read_manifest(exam)
    for record in read_records(exam, "m"):
        sources = {decoy["source"] for decoy in manifest["items"][record.id]["decoys"]}
        for passage, source in zip(record.passages, record.passage_sources, strict=True):
            if source in sources:
                assert option_counts(passage, record.options)[record.answer_index] == 0, record.id


def test_longer_books_keep_every_decoy_of_the_shorter_books(exam):
    for small, large in zip(read_records(exam, "s"), read_records(exam, "m"), strict=True):
        sources = {d["source"] for d in read_manifest(exam)["items"][small.id]["decoys"]}
        small_decoys = {p for p, s in zip(small.passages, small.passage_sources, strict=True) if s in sources}
        assert small_decoys <= set(large.passages), small.id


def test_decoys_are_spread_one_per_equal_block_of_the_book(exam):
    manifest = read_manifest(exam)
    for bucket in BUCKETS:
        for record in read_records(exam, bucket):
            sources = {decoy["source"] for decoy in manifest["items"][record.id]["decoys"]}
            around_gold = [s for i, s in enumerate(record.passage_sources) if i != record.gold_index]
            slots = [i for i, source in enumerate(around_gold) if source in sources]
            total, count = len(around_gold), len(slots)
            blocks = [(j * total // count, (j + 1) * total // count) for j in range(count)]
            assert all(lo <= slot < hi for slot, (lo, hi) in zip(slots, blocks, strict=True)), record.id


def test_decoy_positions_change_with_the_seed(tmp_path):
    seen = set()
    for seed in range(1, 6):
        out = tmp_path / f"seed{seed}"
        build(out, seed)
        seen.add(tuple(decoy_positions(out, "m", "asth-01")))
    assert len(seen) > 1


def test_decoys_keep_no_fixed_offset_from_the_gold(exam):
    offsets = {
        offset for record in read_records(exam, "m") for offset in decoy_positions(exam, "m", record.id)
    }
    assert len(offsets) > 3
    assert any(offset < 0 for offset in offsets) and any(offset > 0 for offset in offsets)


def test_the_same_inputs_and_seed_give_byte_identical_files(exam, tmp_path):
    again = tmp_path / "again"
    build(again)
    names = sorted(p.name for p in exam.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert all((exam / name).read_bytes() == (again / name).read_bytes() for name in names)


def test_options_no_passage_names_are_recorded_as_decoys_missing(tmp_path):
    manifest = build(tmp_path / "exam", references=[FILLER])
    item = manifest["items"]["thyr-01"]
    assert item["decoys_unavailable"] == ["A", "C", "D"]
    assert item["decoys_missing"] == {"s": ["A", "C", "D"], "m": ["A", "C", "D"]}
    assert manifest["bucket_stats"]["s"]["decoys_missing"] == 3 + 3 + 3 + 2 + 3 + 3
    assert manifest["bucket_stats"]["s"]["items_missing_decoys"] == 6
    assert manifest["counts"]["items_missing_decoys"] == 6


def test_build_summary_lists_the_items_missing_decoys_and_the_fix(tmp_path, capsys):
    args = ["build-exam", str(ITEMS), "--reference", str(FILLER), "--buckets", "s=1000,m=2000"]
    assert main([*args, "--out", str(tmp_path / "exam")]) == 0
    out = capsys.readouterr().out
    assert "items short of decoys (6)" in out
    assert "thyr-01" in out and "s: ACD; m: ACD" in out
    assert (
        "6 item(s) lack a decoy for some option, or name the key most: pass --reference FILE"
        in out.replace("\n", " ")
    )


def test_a_user_exams_decoys_come_from_the_other_items_explanations(tmp_path):
    rows = [
        {
            "编号": "u1",
            "题干": "治疗肺炎链球菌肺炎首选的抗生素是",
            "选项": {"A": "青霉素", "B": "万古霉素", "C": "甲硝唑"},
            "答案": "A",
            "解析": "肺炎链球菌肺炎首选青霉素，对青霉素过敏者可改用呼吸喹诺酮类药物。",
        },
        {
            "编号": "u2",
            "题干": "轻中度艰难梭菌感染的患者，可首先口服",
            "选项": {"A": "甲硝唑", "B": "头孢曲松", "C": "克林霉素"},
            "答案": "A",
            "解析": "轻中度艰难梭菌感染可口服甲硝唑，重症者改为口服万古霉素，并停用诱发腹泻的广谱抗生素。",
        },
    ]
    source = tmp_path / "mine.json"
    source.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    mapping = {"id": "编号", "question": "题干", "options": "选项", "answer": "答案", "evidence": "解析"}
    manifest = build_exam([SourceSpec(source, "mapped", mapping)], tmp_path / "exam", {"s": 800}, 7, [FILLER])
    decoys = manifest["items"]["u1"]["decoys"]
    assert [(d["source"], sorted(d["letters"])) for d in decoys] == [("u2", ["B", "C"])]
    assert manifest["items"]["u1"]["decoys_missing"] == {}
    assert manifest["items"]["u1"]["key_named_most"] == ["s"]  # its explanation names 青霉素 twice


def test_books_that_still_name_the_key_most_are_recorded_per_item_and_bucket(tmp_path):
    # Without the decoy passages only anem-01's explanation names another option as often as its key.
    manifest = build_exam([ITEMS], tmp_path / "exam", BUCKETS, 7, [FILLER])
    expected = ["thyr-01", "asth-01", "gout-01", "hypok-01", "stroke-01"]
    assert manifest["bucket_stats"]["s"]["key_named_most"] == expected
    assert [i for i, info in manifest["items"].items() if info["key_named_most"] == ["s", "m"]] == expected
    assert manifest["counts"]["items_key_named_most"] == 5
