"""Whole-file problems get a message that says what was expected, never a misleading row error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlc_tasks.exam.loaders import load_items, parse_mapping
from medlc_tasks.exam.textnorm import SourceError

MAPPING = parse_mapping("id=编号,question=题干,options=选项,answer=答案,evidence=解析")
ROW = {"编号": "k-7", "题干": "破伤风最先受累的肌群是", "选项": {"A": "咀嚼肌", "B": "四肢肌"}, "答案": "A",
       "解析": "破伤风最先受累的是咀嚼肌,表现为张口困难。"}  # fmt: skip


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_header_only_csv_is_refused_as_having_no_records(tmp_path):
    path = write(tmp_path / "bank.csv", "Question,Options,Answer,Explanation\n")
    with pytest.raises(
        SourceError, match="bank.csv, records: no records: the CSV has a header and no data rows"
    ):
        load_items(path, strict=False)


def test_empty_json_list_with_a_mapping_is_refused_as_having_no_records(tmp_path):
    path = write(tmp_path / "bank.json", "[]\n")
    with pytest.raises(SourceError, match="bank.json, records: no records: the JSON list is empty"):
        load_items(path, mapping=MAPPING, strict=False)


def test_json_file_holding_one_object_asks_for_a_list_or_jsonl(tmp_path):
    path = write(
        tmp_path / "bank.json", json.dumps({"version": 2, "data": [ROW]}, ensure_ascii=False, indent=1)
    )
    with pytest.raises(SourceError) as err:
        load_items(path, mapping=MAPPING, strict=False)
    message = str(err.value)
    assert message.startswith("bank.json, top level: expected a JSON list of records, or JSONL")
    assert "its key 'data' holds a list" in message
    assert "empty question" not in message


@pytest.mark.parametrize("name", ["bank.json", "bank.jsonl"])
def test_mapped_column_no_record_has_is_named_with_the_keys_present(tmp_path, name):
    rows = [ROW, dict(ROW, 编号="k-8")]
    text = (
        json.dumps(rows, ensure_ascii=False)
        if name.endswith(".json")
        else "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    )
    path = write(tmp_path / name, text)
    mistyped = parse_mapping("question=题目,options=选项,answer=答案")
    with pytest.raises(SourceError) as err:
        load_items(path, mapping=mistyped, strict=False)
    assert f"{name}, records: --map question=题目: no key '题目'" in str(err.value)
    assert "keys are ['编号', '题干', '选项', '答案', '解析']" in str(err.value)


def test_record_missing_a_mapped_key_is_dropped_naming_the_key(tmp_path):
    path = write(tmp_path / "bank.jsonl", "".join(
        json.dumps(row, ensure_ascii=False) + "\n" for row in [ROW, {k: v for k, v in ROW.items() if k != "题干"}]
    ))  # fmt: skip
    (drop,) = load_items(path, mapping=MAPPING, strict=False).drops
    assert (drop.kind, drop.reason) == (
        "empty_question",
        "line 2: this record has no question (no key '题干')",
    )


def test_mapped_drop_records_the_id_columns_value(tmp_path):
    path = write(
        tmp_path / "bank.json", json.dumps([ROW, dict(ROW, 编号="k-9", 答案="F")], ensure_ascii=False)
    )
    (drop,) = load_items(path, mapping=MAPPING, strict=False).drops
    assert (drop.item_id, drop.kind) == ("k-9", "answer_not_in_options")
