"""Data sources: each format loads into one conversation shape, GB18030 included, and a
bad record is named or counted, never silently dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune.config import SourceConfig
from finetune.data import DataError, load_source

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _source(name: str, fmt: str, path: Path, **kw) -> SourceConfig:
    return SourceConfig(name=name, path=str(path), role=kw.pop("role", "general"), format=fmt, **kw)


def test_alpaca_json_joins_instruction_and_input_into_the_user_turn():
    loaded = load_source(_source("a", "alpaca", FIXTURES / "finetune_alpaca.json"))
    assert loaded.available == 16
    first = loaded.dataset[0]
    assert first["id"] == "a:1"
    assert first["messages"] == [
        {"role": "user", "content": "把下面的句子翻译成英文。\n\n今天天气很好。"},
        {"role": "assistant", "content": "The weather is nice today."},
    ]


def test_sharegpt_jsonl_maps_speakers_to_roles():
    loaded = load_source(_source("s", "sharegpt", FIXTURES / "finetune_sharegpt.jsonl"))
    assert loaded.available == 6
    assert [m["role"] for m in loaded.dataset[1]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [m["role"] for m in loaded.dataset[2]["messages"]] == ["system", "user", "assistant"]


def test_messages_jsonl_loads_as_written():
    loaded = load_source(_source("m", "messages", FIXTURES / "finetune_messages.jsonl", role="medical"))
    assert loaded.available == 6
    assert loaded.dataset[1]["messages"][0] == {"role": "system", "content": "你是一名全科医生。"}


def test_gb18030_csv_loads_through_a_column_mapping():
    source = _source(
        "c",
        "csv",
        FIXTURES / "finetune_medical_gb18030.csv",
        role="medical",
        encoding="gb18030",
        columns={"prompt": ["title", "ask"], "response": "answer"},
    )
    loaded = load_source(source)
    assert loaded.available == 16
    assert loaded.dataset[0]["messages"] == [
        {"role": "user", "content": "饭后腹胀怎么办\n最近每次吃完饭肚子都胀，还打嗝，应该怎么调理？"},
        {
            "role": "assistant",
            "content": "饭后腹胀多与进食过快、消化功能减弱有关，建议细嚼慢咽、少吃产气食物，必要时在医生指导下服用促胃肠动力药。",
        },
    ]
    # Row 15 has an empty title: the prompt is the question alone, not a leading newline.
    assert loaded.dataset[14]["messages"][0]["content"].startswith("经常反酸烧心")


def test_gb18030_file_read_as_utf8_fails_naming_file_line_and_encoding():
    # Line 1, the header, is ASCII; the first Chinese text is on line 2.
    source = _source(
        "c", "csv", FIXTURES / "finetune_medical_gb18030.csv", columns={"prompt": "ask", "response": "answer"}
    )
    with pytest.raises(
        DataError,
        match=r"finetune_medical_gb18030\.csv: line 2 \(byte 28\) is not valid utf-8; set `encoding:`",
    ):
        load_source(source)


def test_missing_csv_column_names_the_mapping_key_and_header():
    source = _source(
        "c",
        "csv",
        FIXTURES / "finetune_medical_gb18030.csv",
        encoding="gb18030",
        columns={"prompt": "question", "response": "answer"},
    )
    with pytest.raises(
        DataError,
        match=r"columns\.prompt: no column 'question'; the header has \['department', 'title', 'ask', 'answer'\]",
    ):
        load_source(source)


def _bad_alpaca(tmp_path: Path) -> Path:
    rows = [
        {"instruction": "问一", "input": "", "output": "答一"},
        {"instruction": "问二", "input": "", "output": ""},
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def test_malformed_record_error_names_file_record_and_key(tmp_path):
    with pytest.raises(DataError, match=r"bad\.json: record 2: output: expected a non-empty string"):
        load_source(_source("a", "alpaca", _bad_alpaca(tmp_path)))


def test_skipped_records_are_counted_with_their_reason(tmp_path):
    loaded = load_source(_source("a", "alpaca", _bad_alpaca(tmp_path), on_invalid="skip"))
    assert (loaded.records, loaded.available, loaded.invalid_count) == (2, 1, 1)
    assert loaded.invalid == [{"record": 2, "reason": "output: expected a non-empty string, got ''"}]


def test_conversation_ending_on_a_user_turn_is_refused(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "只有问题"}]}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(
        DataError, match=r"record 1: messages: expected a conversation ending with an assistant turn"
    ):
        load_source(_source("m", "messages", path))


def test_unknown_sharegpt_speaker_is_named_with_the_accepted_ones(tmp_path):
    path = tmp_path / "s.jsonl"
    turns = [
        {"from": "human", "value": "问"},
        {"from": "tool", "value": "{}"},
        {"from": "gpt", "value": "答"},
    ]
    path.write_text(json.dumps({"conversations": turns}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(
        DataError,
        match=r"record 1: conversations\[1\]: expected \{from: one of \['assistant', 'gpt', 'human', 'model', 'system', 'user'\], value: string\}",
    ):
        load_source(_source("s", "sharegpt", path))
