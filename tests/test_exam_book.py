"""Passages: reference chunking and the rules that keep a distractor from being a second key."""

from __future__ import annotations

from medlc_tasks.exam.book import chunk_reference
from medlc_tasks.exam.support import (
    ItemFacts,
    SupportRules,
    distractor_conflict,
    is_near_duplicate,
    missing_key_options,
    other_option_supported,
)
from medlc_tasks.exam.textnorm import char_ngrams

RULES = SupportRules()
DOSE = ItemFacts.of(
    "虚构药物韦拉克定治疗心衰的起始剂量是",
    {"A": "每日1次2 mg", "B": "每日2次5 mg", "C": "每日1次10 mg"},
    "C",
    ["韦拉克定"],
)


def test_reference_is_cut_at_sentence_ends_within_the_size_range():
    text = "高血压患者应限制钠盐摄入,规律运动。" * 30
    passages = chunk_reference(text, "ref.txt", min_chars=100, max_chars=300)
    assert len(passages) > 1
    assert all(100 <= len(p.text) <= 300 and p.text.endswith("。") for p in passages)
    assert "".join(p.text for p in passages) == text


def test_reference_passages_are_named_by_file_and_number():
    passages = chunk_reference("第一段内容很长。" * 80, "book.txt")
    assert [p.source for p in passages[:2]] == ["ref:book.txt#1", "ref:book.txt#2"]


def test_heading_joins_the_paragraph_after_it():
    passages = chunk_reference("第一章 总论\n\n" + "正文句子写在这里。" * 15, "ref.txt")
    assert passages[0].text.startswith("第一章 总论\n正文句子")


def test_passage_with_anchor_and_another_options_text_backs_that_option():
    passage = "早期资料中韦拉克定采用每日2次5 mg的方案。"
    assert other_option_supported(passage, DOSE, RULES) == "B"


def test_passage_with_the_key_only_backs_no_other_option():
    assert other_option_supported("韦拉克定起始剂量为每日1次10 mg。", DOSE, RULES) is None


def test_options_text_without_the_anchor_is_not_about_the_item():
    assert other_option_supported("另一种药物的剂量是每日2次5 mg。", DOSE, RULES) is None


def test_without_anchors_a_strong_question_overlap_makes_a_passage_about_the_item():
    facts = ItemFacts.of("急性胰腺炎最常见的病因是", {"A": "胆道疾病", "B": "大量饮酒"}, "A", [])
    assert other_option_supported("西方国家急性胰腺炎最常见的病因是大量饮酒。", facts, RULES) == "B"
    assert other_option_supported("大量饮酒损害肝脏。", facts, RULES) is None


def test_evidence_must_hold_every_keyed_option_text():
    facts = ItemFacts.of("诱因有哪些", {"A": "便秘", "B": "腹泻", "C": "大量利尿"}, "AC", [])
    assert missing_key_options("便秘和大量利尿都是诱因。", facts) == []
    assert missing_key_options("便秘是诱因。", facts) == ["C"]


def test_lightly_edited_copy_is_a_near_duplicate():
    gold = (
        "高血压合并糖尿病并出现微量白蛋白尿时,血管紧张素转换酶抑制剂能够减少尿蛋白、延缓肾功能下降,"
        "因此常作为首选。"
    )
    copy = gold.replace("常作为首选", "通常被作为首选")
    other = "支气管哮喘急性发作时,吸入短效β2受体激动剂在数分钟内即可舒张支气管。"
    assert is_near_duplicate(char_ngrams(gold, 3), char_ngrams(copy, 3), RULES)
    assert not is_near_duplicate(char_ngrams(gold, 3), char_ngrams(other, 3), RULES)


def test_passage_quoting_the_gold_inside_a_longer_text_is_a_near_duplicate():
    gold = "韦拉克定起始剂量为每日1次10 mg,两周后调整。"
    longer = "本段先介绍心衰的分期和病因,随后提到:" + gold + "此外还需要随访肾功能和电解质。"
    assert is_near_duplicate(char_ngrams(gold, 3), char_ngrams(longer, 3), RULES)


def test_an_option_alias_backs_its_option_like_the_option_text():
    facts = ItemFacts.of(
        "按虚构规程,急性左心衰竭首选的药物是",
        {"A": "呋塞米", "B": "汐朗坦"},
        "B",
        ["急性左心衰竭"],
        aliases={"A": ["袢利尿剂"]},
    )
    assert other_option_supported("急性左心衰竭抢救时应静脉应用袢利尿剂。", facts, RULES) == "A"


def test_a_conflict_term_makes_a_passage_about_the_item_a_conflict():
    facts = ItemFacts.of(
        "按虚构规程,妊娠期高血压首选的口服降压药是",
        {"A": "拉贝洛尔", "B": "卡托普利"},
        "B",
        ["降压药"],
        conflict_terms=["妊娠期禁用"],
    )
    passage = "血管紧张素转换酶抑制剂是常用降压药,双侧肾动脉狭窄者及妊娠期禁用。"
    assert distractor_conflict(passage, facts, RULES) == "states '妊娠期禁用', which contradicts the key"
    assert distractor_conflict("妊娠期禁用的药物很多。", facts, RULES) is None  # not about the item
