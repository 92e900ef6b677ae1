"""Answer-leak scrubbing: letters in answer phrases go, letters in medical terms stay."""

from __future__ import annotations

import pytest

from medlc_tasks.exam.leaks import find_leaks, scrub_leaks
from medlc_tasks.exam.textnorm import normalize


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("肝区疼痛,B超示肝大。故选B。", "肝区疼痛,B超示肝大。"),
        ("维生素B12缺乏可致贫血,答案:B", "维生素B12缺乏可致贫血"),
        ("乙型肝炎B抗原阳性,答案为C。", "乙型肝炎B抗原阳性。"),
        ("正确答案是B。其余不符。", "其余不符。"),
        ("B项正确,因为阿司匹林抑制血小板。", "因为阿司匹林抑制血小板。"),
        ("选项C描述另一种情况。后文保留。", "后文保留。"),
        ("本题考查心衰。本题选D", "本题考查心衰。"),
        ("本题考查心衰治疗(B对)。", "本题考查心衰治疗。"),
        ("A、B、C项均错误,D项正确。补液为先。", "补液为先。"),
        ("故本题答案选ACE。", ""),
        ("The answer is B. Fluids come first.", "Fluids come first."),
    ],
)
def test_answer_phrases_are_scrubbed(text, cleaned):
    assert scrub_leaks(text).text == cleaned


@pytest.mark.parametrize(
    "text",
    [
        "首选B超检查,C反应蛋白升高,A型血患者。",
        "维生素B12缺乏与胰腺炎无直接关系。",
        "乙型肝炎B抗原阳性提示感染。",
        "维生素C正确的服用方法是饭后。",
        "补充B族维生素。CD4细胞计数低于200。HbA1c正常。",
        "见表(A)中的数据。",
    ],
)
def test_letters_in_medical_terms_survive(text):
    scrubbed = scrub_leaks(text)
    assert (scrubbed.text, scrubbed.count) == (text, 0)


def test_full_width_leaks_are_caught_after_nfkc():
    assert find_leaks(normalize("答案：Ｃ")) == ["答案:C"]


def test_each_leak_is_counted():
    scrubbed = scrub_leaks("A项错误,B项错误。故选C。")
    assert scrubbed.count == 3
    assert scrubbed.text == ""


def test_clause_without_a_leak_keeps_its_sentence_end():
    assert scrub_leaks("患者有发热、咳嗽,应进一步检查,C项错误。").text == "患者有发热、咳嗽,应进一步检查。"


def test_scrubbed_text_has_no_leaks_left():
    text = "解析:A项错误;B项正确,故选B。C为正确答案的说法不成立。"
    assert find_leaks(scrub_leaks(text).text) == []
