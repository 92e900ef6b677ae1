"""A licensing-exam dump as it comes (tests/fixtures/exam_real_dump.json, written for medlc):
4-option items with E = "", items whose options were images, short explanations that often
paraphrase the key, shared case stems, shared B1 option lists, Kangxi look-alikes, no
reference text. Loading and building it with buckets its explanations can fill."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.cli import main
from medlc_tasks.exam.loaders import load_items, parse_mapping
from medlc_tasks.exam.store import read_manifest
from medlc_tasks.exam.textnorm import SourceError
from medlc_tasks.exam.validate import validate_exam

DUMP = Path(__file__).parent / "fixtures" / "exam_real_dump.json"
MAP = "question=question,options=option,answer=answer,evidence=analysis"
IMAGE_ITEMS = [9, 21, 30]  # records whose five options are all ""
WITHOUT_EXPLANATION = [20]
USABLE = 36 - len(IMAGE_ITEMS) - len(WITHOUT_EXPLANATION)  # option text and an explanation


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("dump") / "exam"
    code = main(
        ["build-exam", str(DUMP), "--map", MAP, "--no-strict", "--buckets", "1k,2k", "--out", str(out)]
    )
    return out, code


def test_items_with_option_text_load_and_image_items_are_counted_drops():
    result = load_items(DUMP, mapping=parse_mapping(MAP), strict=False)
    assert [(drop.row, drop.kind) for drop in result.drops] == [
        (row, "no_option_text") for row in IMAGE_ITEMS
    ]
    assert result.drops[0].item_id == "exam_real_dump-9"
    assert len(result.items) == 36 - len(IMAGE_ITEMS)


def test_every_empty_e_is_removed_and_counted():
    result = load_items(DUMP, mapping=parse_mapping(MAP), strict=False)
    four = [item for item in result.items if len(item.options) == 4]
    assert all(list(item.options) == ["A", "B", "C", "D"] for item in four)
    assert result.counts()["empty_options_removed"] == len(four) == 13


def test_kangxi_lookalikes_are_folded_into_ordinary_characters():
    items = load_items(DUMP, mapping=parse_mapping(MAP), strict=False).items
    texts = [text for item in items for text in (item.question, item.evidence, *item.options.values())]
    assert not any("\u2f00" <= char <= "\u2fdf" for text in texts for char in text)
    assert items[2].question.startswith("3~6个月小儿维生素D缺乏性佝偻病")


def test_strict_load_stops_at_the_first_item_without_option_text():
    with pytest.raises(SourceError, match=r"^exam_real_dump\.json, record 9: no option text"):
        load_items(DUMP, mapping=parse_mapping(MAP))


def test_strict_build_exits_2_naming_the_record_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "exam"
    assert main(["build-exam", str(DUMP), "--map", MAP, "--buckets", "1k", "--out", str(out)]) == 2
    assert "exam_real_dump.json, record 9: no option text" in capsys.readouterr().err
    assert not out.exists()


def test_build_keeps_every_item_with_option_text_and_an_explanation(built):
    out, code = built
    counts = read_manifest(out)["counts"]
    assert code == 0
    assert counts["items_kept"] == USABLE
    assert read_manifest(out)["drop_kinds"] == {"no_evidence": len(WITHOUT_EXPLANATION), "no_option_text": 3}


def test_manifest_counts_removed_empty_options_per_source_and_in_total(built):
    manifest = read_manifest(built[0])
    assert manifest["sources"][0]["empty_options_removed"] == 13
    assert manifest["counts"]["empty_options_removed"] == 13


def test_answer_leaks_are_scrubbed_from_the_explanations(built):
    leaks = read_manifest(built[0])["leaks"]
    assert leaks["per_item"]["exam_real_dump-5"] == ["选ACE"]
    assert leaks["scrubbed"] == 7


def test_paraphrasing_explanations_are_marked_and_accepted_by_validation(built):
    manifest = read_manifest(built[0])
    marked = sorted(i for i, info in manifest["items"].items() if info["evidence_paraphrases_key"])
    findings = validate_exam(built[0])
    assert findings == []
    assert sorted(findings.accepted["evidence_supports_key"]) == marked
    assert manifest["counts"]["evidence_paraphrases_key"] == len(marked) == 10
