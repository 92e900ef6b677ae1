"""Decoding, NFKC and sentence splitting: the text plumbing under every exam stage."""

from __future__ import annotations

import pytest

from medlc_tasks.exam.textnorm import (
    SourceError,
    char_ngrams,
    contains_term,
    decode_bytes,
    match_key,
    normalize,
    split_sentences,
)

CHINESE = "患者，男，45岁。血压160/100 mmHg。"


def test_auto_detects_utf8():
    decoded = decode_bytes(CHINESE.encode("utf-8"), "x.csv")
    assert (decoded.text, decoded.encoding) == (CHINESE, "utf-8")


def test_auto_drops_a_utf8_byte_order_mark():
    decoded = decode_bytes(b"\xef\xbb\xbf" + CHINESE.encode("utf-8"), "x.csv")
    assert decoded.text == CHINESE


def test_auto_falls_back_to_gb18030():
    decoded = decode_bytes(CHINESE.encode("gb18030"), "x.csv")
    assert (decoded.text, decoded.encoding) == (CHINESE, "gb18030")


def test_stated_encoding_is_used_strictly():
    with pytest.raises(SourceError, match="not valid utf-8"):
        decode_bytes(CHINESE.encode("gb18030"), "x.csv", encoding="utf-8")


def test_undecodable_bytes_error_names_file_byte_and_line():
    data = "第一行\n第二行".encode() + b"\xff\n"
    with pytest.raises(SourceError) as err:
        decode_bytes(data, "bad.jsonl")
    message = str(err.value)
    assert message.startswith("bad.jsonl, byte 19")
    assert "line 2" in message


def test_lenient_decoding_counts_replaced_bytes():
    decoded = decode_bytes("正常".encode() + b"\xff", "bad.jsonl", strict=False)
    assert decoded.undecodable_bytes == 1
    assert decoded.text.endswith("\ufffd")


def test_unknown_encoding_is_refused():
    with pytest.raises(SourceError, match="unknown encoding"):
        decode_bytes(b"", "x.csv", encoding="latin-1")


def test_nfkc_maps_kangxi_radicals_and_full_width_letters():
    # U+2F08 KANGXI RADICAL MAN, U+2F1D KANGXI RADICAL MOUTH, full-width B and colon.
    assert normalize("老年\u2f08\u2f1d服药，答案：Ｂ") == "老年人口服药,答案:B"


def test_normalize_unifies_newlines_and_spaces():
    assert normalize("  甲\r\n乙\u3000\u3000丙  ") == "甲\n乙 丙"


def test_sentences_split_at_chinese_and_english_ends():
    text = "第一句。第二句!Third one. Fourth?"
    assert split_sentences(text) == ["第一句。", "第二句!", "Third one.", "Fourth?"]


def test_decimal_point_does_not_end_a_sentence():
    assert split_sentences("剂量为2.5 mg每日。下一句。") == ["剂量为2.5 mg每日。", "下一句。"]


def test_match_key_ignores_case_and_spaces_and_keeps_punctuation_as_one_separator():
    assert match_key("Ig A, 肾病!") == "iga|肾病"


def test_contains_term_respects_number_boundaries():
    key = match_key("疗程为12周,剂量15 mg")
    assert not contains_term(key, "2周")
    assert not contains_term(key, "5 mg")
    assert contains_term(key, "12周")


def test_range_option_is_found_before_a_bracketed_number():
    assert contains_term(match_key("失水量约为体重的5%～10%(50～100 ml/kg)"), "5%~10%")


def test_a_latin_letter_next_to_a_number_is_a_boundary():
    assert contains_term(match_key("每日口服维生素D 1500 IU"), "1500 IU")
    assert not contains_term(match_key("IgAN患者"), "IgA")


def test_char_ngrams_of_short_text_is_the_text():
    assert char_ngrams("肝", 3) == frozenset({"肝"})
