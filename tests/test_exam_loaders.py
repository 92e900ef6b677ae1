"""Loading exam files: every format, every encoding, every kind of bad row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlc_tasks.exam.fields import parse_answer
from medlc_tasks.exam.loaders import RowError, load_items, parse_mapping, parse_options
from medlc_tasks.exam.textnorm import SourceError

FIXTURES = Path(__file__).parent / "fixtures"
FOREIGN_MAP = "id=编号,question=题干,options=选项,answer=答案,evidence=解析,department=科室"


def test_medlc_jsonl_loads_every_field():
    result = load_items(FIXTURES / "exam_items.jsonl")
    card = next(item for item in result.items if item.id == "card-03")
    assert result.format == "medlc"
    assert (card.answer, card.counterfactual, card.contradicts_common_knowledge) == ("C", True, True)
    assert card.common_knowledge_answer == "A"
    assert card.anchors == ["ST段抬高型心肌梗死"]
    assert (card.source, card.source_row) == ("exam_items.jsonl", 3)


def test_cmexam_csv_reads_options_lines_and_annotations():
    result = load_items(FIXTURES / "exam_cmexam.csv")
    first = result.items[0]
    assert result.format == "cmexam"
    assert first.options["A"] == "大肠埃希菌" and len(first.options) == 5
    assert (first.department, first.difficulty) == ("肾内科", "2")
    assert first.meta["Disease Group"] == "感染性疾病"
    assert first.evidence.startswith("年轻女性急性单纯性膀胱炎")


def test_cmexam_counts_four_and_five_option_items():
    counts = load_items(FIXTURES / "exam_cmexam.csv").counts()
    assert counts["options"] == {"4": 1, "5": 5}


def test_multi_answer_items_are_kept_and_counted():
    result = load_items(FIXTURES / "exam_cmexam.csv")
    assert [item.answer for item in result.items if item.is_multi_answer] == ["ACE"]
    assert result.counts()["multi_answer_kept"] == 1


def test_multi_answer_items_can_be_dropped_with_a_count():
    result = load_items(FIXTURES / "exam_cmexam.csv", drop_multi_answer=True)
    assert [drop.kind for drop in result.drops] == ["multi_answer_filtered"]
    assert len(result.items) == 5


def test_gb18030_csv_is_detected_and_reads_like_utf8():
    gb = load_items(FIXTURES / "exam_cmexam_gb18030.csv")
    utf8 = load_items(FIXTURES / "exam_cmexam.csv")
    assert gb.encoding == "gb18030"
    assert [(i.question, i.options, i.answer, i.evidence) for i in gb.items] == [
        (i.question, i.options, i.answer, i.evidence) for i in utf8.items
    ]


def test_stated_encoding_is_recorded():
    assert load_items(FIXTURES / "exam_cmexam_gb18030.csv", encoding="gb18030").encoding == "gb18030"


def test_medqa_jsonl_reads_answer_idx_and_meta_info():
    result = load_items(FIXTURES / "exam_medqa.jsonl")
    first = result.items[0]
    assert result.format == "medqa"
    assert (first.answer, first.meta["meta_info"]) == ("A", "第一部分")
    assert first.evidence == ""  # MedQA has no explanation; a reference file supplies it


def test_medqa_row_without_answer_idx_uses_the_answer_text():
    result = load_items(FIXTURES / "exam_medqa.jsonl")
    assert result.items[2].answer == "A"  # "维生素D"


def test_mapped_json_reads_chinese_field_names():
    result = load_items(FIXTURES / "exam_foreign.json", mapping=parse_mapping(FOREIGN_MAP))
    assert result.format == "mapped"
    assert [item.id for item in result.items] == ["fx-1", "fx-2", "fx-3"]
    assert result.items[0].department == "感染科"


def test_mapped_options_may_be_a_list_a_dict_or_lines():
    items = load_items(FIXTURES / "exam_foreign.json", mapping=parse_mapping(FOREIGN_MAP)).items
    assert items[0].options["A"] == "接种流感疫苗"  # list of "A. xxx"
    assert items[1].options["B"] == "超过1小时"  # dict
    assert items[2].options["C"] == "立即肝移植"  # "A xxx" lines


def test_mapped_options_may_span_columns(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("题目,甲,乙,丙,答\n哪一项是对的,第一项,第二项,第三项,B\n", encoding="utf-8")
    item = load_items(path, mapping=parse_mapping("question=题目,options=甲+乙+丙,answer=答")).items[0]
    assert item.options == {"A": "第一项", "B": "第二项", "C": "第三项"}


def test_mapping_naming_a_missing_column_is_an_error():
    with pytest.raises(SourceError, match="no column '题目'"):
        load_items(
            FIXTURES / "exam_cmexam.csv", mapping=parse_mapping("question=题目,options=Options,answer=Answer")
        )


def test_mapping_needs_question_options_and_answer():
    with pytest.raises(SourceError, match="missing field"):
        parse_mapping("question=题干,answer=答案")


def test_nfkc_is_applied_to_every_field():
    items = load_items(FIXTURES / "exam_nfkc.jsonl").items
    assert items[0].question == "老年人高血压患者的血压控制目标通常是收缩压低于"
    assert items[0].options == {"A": "150 mmHg", "B": "180 mmHg", "C": "200 mmHg"}
    assert items[0].anchors == ["老年人"]
    assert (items[0].answer, items[1].answer) == ("A", "A")
    assert items[1].question.startswith("口服抗凝药的患者进行工作时")


def test_unknown_layout_asks_for_a_mapping(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"stem": "x", "choices": []}) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match="pass --format and --map"):
        load_items(path)


BAD_CASES = [
    ("exam_bad_missing_answer.jsonl", "line 2", "missing answer", "missing_answer"),
    (
        "exam_bad_answer_letter.jsonl",
        "line 2",
        "'F' is not among the options A, B, C, D",
        "answer_not_in_options",
    ),
    ("exam_bad_duplicate_id.jsonl", "line 2", "duplicate id 'ok-1' (first at line 1)", "duplicate_id"),
    ("exam_bad_empty_question.jsonl", "line 2", "empty question", "empty_question"),
    ("exam_bad_malformed.jsonl", "line 2", "malformed JSON", "malformed_row"),
    ("exam_bad_malformed.csv", "row 2 (line 7)", "5 fields, header has 9", "malformed_row"),
]


@pytest.mark.parametrize("name, where, problem, kind", BAD_CASES)
def test_bad_row_error_names_file_row_and_problem(name, where, problem, kind):
    with pytest.raises(SourceError) as err:
        load_items(FIXTURES / name)
    assert str(err.value).startswith(f"{name}, {where}: ")
    assert problem in str(err.value)


@pytest.mark.parametrize("name, where, problem, kind", BAD_CASES)
def test_bad_row_is_a_counted_drop_when_not_strict(name, where, problem, kind):
    result = load_items(FIXTURES / name, strict=False)
    assert [(drop.row, drop.kind) for drop in result.drops] == [(2, kind)]
    assert problem in result.drops[0].reason
    assert (result.rows_read, len(result.items)) == (3, 2)


def test_undecodable_file_error_names_file_and_byte():
    with pytest.raises(SourceError) as err:
        load_items(FIXTURES / "exam_bad_undecodable.jsonl")
    assert str(err.value).startswith("exam_bad_undecodable.jsonl, byte ")
    assert "(line 2)" in str(err.value)


def test_undecodable_row_is_a_counted_drop_when_not_strict():
    result = load_items(FIXTURES / "exam_bad_undecodable.jsonl", strict=False)
    assert [(drop.row, drop.kind) for drop in result.drops] == [(2, "undecodable")]
    assert result.undecodable_bytes == 2
    assert [item.id for item in result.items] == ["ok-1", "ok-3"]


def test_unclosed_csv_quote_always_raises(tmp_path):
    path = tmp_path / "open_quote.csv"
    path.write_text('Question,Options,Answer\n"never closed,A x\nB y,A\n', encoding="utf-8")
    with pytest.raises(SourceError, match="rows after it cannot be read"):
        load_items(path, strict=False)


@pytest.mark.parametrize(
    "raw, message",
    [
        ("A 甲\nC 丙", "without gaps"),
        ("A 甲", "at least 2 options"),
        ({"A": "甲", "B": ""}, "at least 2 options with text, got only A"),
        ("甲\n乙", "does not start with a letter"),
    ],
)
def test_malformed_options_are_refused(raw, message):
    with pytest.raises(RowError, match=message):
        parse_options(raw)


def test_option_aliases_are_read_from_meta_and_normalised(tmp_path):
    row = json.loads((FIXTURES / "exam_items.jsonl").read_text(encoding="utf-8").splitlines()[0])
    row["meta"] = {"option_aliases": {"b": ["噻嗪类"]}}
    path = tmp_path / "aliases.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_items(path).items[0].meta["option_aliases"] == {"B": ["噻嗪类"]}


def test_option_aliases_for_a_letter_that_is_no_option_are_refused(tmp_path):
    row = json.loads((FIXTURES / "exam_items.jsonl").read_text(encoding="utf-8").splitlines()[0])
    row["meta"] = {"option_aliases": {"F": ["噻嗪类"]}}
    path = tmp_path / "aliases.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match="option_aliases must be an object from option letters"):
        load_items(path)


FOUR_AND_EMPTY_E = {"A": "螺内酯", "B": "呋塞米", "C": "甘露醇", "D": "氢氯噻嗪", "E": ""}


def write_item_with_empty_e(directory: Path, fmt: str) -> tuple[Path, dict[str, str] | None]:
    """The same 4-option item exported with E = "" in each layout the loader reads."""
    question, evidence = "治疗急性肺水肿首选的利尿药是", "呋塞米为强效袢利尿剂,静脉注射后起效迅速。"
    if fmt == "medlc":
        row = {
            "id": "q1",
            "question": question,
            "options": FOUR_AND_EMPTY_E,
            "answer": "B",
            "evidence": evidence,
        }
        text, name, mapping = json.dumps(row, ensure_ascii=False) + "\n", "q.jsonl", None
    elif fmt == "medqa":
        row = {"question": question, "options": FOUR_AND_EMPTY_E, "answer_idx": "B", "explanation": evidence}
        text, name, mapping = json.dumps(row, ensure_ascii=False) + "\n", "q.jsonl", None
    elif fmt == "cmexam":
        lines = "\n".join(f"{letter} {value}" for letter, value in FOUR_AND_EMPTY_E.items())
        text = f'Question,Options,Answer,Explanation\n{question},"{lines}",B,"{evidence}"\n'
        name, mapping = "q.csv", None
    elif fmt == "mapped list":
        row = {"题干": question, "选项": list(FOUR_AND_EMPTY_E.values()), "答案": "B", "解析": evidence}
        text, name = json.dumps([row], ensure_ascii=False), "q.json"
        mapping = parse_mapping("question=题干,options=选项,answer=答案,evidence=解析")
    else:  # one column per option
        cells = ",".join(FOUR_AND_EMPTY_E.values())
        text, name = f"题干,甲,乙,丙,丁,戊,答案\n{question},{cells},B\n", "q.csv"
        mapping = parse_mapping("question=题干,options=甲+乙+丙+丁+戊,answer=答案")
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path, mapping


@pytest.mark.parametrize("fmt", ["medlc", "medqa", "cmexam", "mapped list", "mapped columns"])
def test_empty_option_slot_is_absent_and_counted_in_every_format(tmp_path, fmt):
    path, mapping = write_item_with_empty_e(tmp_path, fmt)
    result = load_items(path, mapping=mapping)
    (item,) = result.items
    assert item.options == {"A": "螺内酯", "B": "呋塞米", "C": "甘露醇", "D": "氢氯噻嗪"}
    assert item.answer == "B"
    assert result.counts()["empty_options_removed"] == 1 and result.drops == []


def test_empty_slot_inside_the_list_keeps_the_source_letters():
    options, empty = parse_options({"A": "甲", "B": " ", "C": "丙", "D": "丁"})
    assert (options, empty) == ({"A": "甲", "C": "丙", "D": "丁"}, ["B"])
    assert parse_answer("C", options, empty) == "C"  # still the option the source called C


def test_answer_naming_an_empty_slot_is_refused_with_that_reason():
    options, empty = parse_options(FOUR_AND_EMPTY_E)
    with pytest.raises(RowError, match="names option E, which has no text") as err:
        parse_answer("E", options, empty)
    assert err.value.kind == "answer_not_in_options"


@pytest.mark.parametrize("raw", [{"A": "", "B": "", "C": "", "D": ""}, ["", "", ""], "", None])
def test_item_without_any_option_text_is_no_option_text(raw):
    with pytest.raises(RowError, match="no option text") as err:
        parse_options(raw)
    assert err.value.kind == "no_option_text"
