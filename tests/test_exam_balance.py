"""The naming balance the builder keeps and the no-reading figures validate-exam reports."""

from __future__ import annotations

from medlc_tasks.exam.balance import BucketFigures, NamingBalance, ShortcutLimits, bucket_figures
from medlc_tasks.exam.schema import PASSAGE_SEPARATOR, BuiltRecord
from medlc_tasks.exam.support import ItemFacts

OPTIONS = ["呋塞米", "螺内酯", "氢氯噻嗪"]


def record(item_id: str, passages: list[str], gold_index: int = 0, answer: str = "A") -> BuiltRecord:
    multi = len(answer) > 1
    return BuiltRecord(
        id=item_id, question="利尿剂的选择", choices=["A", "B", "C"], options=OPTIONS, answer=answer,
        answer_index=-1 if multi else "ABC".index(answer), multi_answer=multi, department="", difficulty="",
        counterfactual=False, contradicts_common_knowledge=False, bucket="s", target_chars=100, depth=0.0,
        passages=passages, gold_index=gold_index, book=PASSAGE_SEPARATOR.join(passages),
        book_chars=len(PASSAGE_SEPARATOR.join(passages)), gold_char_offset=0,
    )  # fmt: skip


def facts(r: BuiltRecord) -> ItemFacts:
    return ItemFacts.of(r.question, dict(zip(r.choices, r.options, strict=True)), r.answer, [])


def test_a_passage_naming_the_key_past_another_options_count_is_refused():
    balance = NamingBalance(OPTIONS, 0, ["金标准:首选呋塞米。", "螺内酯保钾。"])
    assert not balance.allows(balance.counts_of("呋塞米可致低钾。"))
    assert balance.allows(balance.counts_of("氢氯噻嗪可致低钾。"))


def test_a_passage_naming_another_option_past_the_keys_count_is_refused():
    balance = NamingBalance(OPTIONS, 0, ["首选呋塞米。", "螺内酯保钾。"])
    assert not balance.allows(balance.counts_of("螺内酯可致高钾。"))  # the key would be named least
    assert balance.allows(balance.counts_of("氢氯噻嗪可致低钾。"))


def test_a_passage_naming_every_option_alike_keeps_the_counts_level():
    balance = NamingBalance(OPTIONS, 0, ["首选呋塞米。", "螺内酯保钾。", "氢氯噻嗪排钾。"])
    assert balance.allows(balance.counts_of("呋塞米、螺内酯与氢氯噻嗪都是利尿剂。"))


def test_multi_answer_items_are_not_balanced():
    balance = NamingBalance(OPTIONS, -1, ["呋塞米。"])
    assert balance.allows(balance.counts_of("呋塞米,呋塞米。"))


def test_bucket_figures_match_a_hand_count():
    records = [
        record("only-key", ["首选呋塞米。", "无关文字。"]),  # count rule right; only the key named
        record("tie", ["首选呋塞米。", "螺内酯保钾。"]),  # a two-way tie: half right
        record("other-leads", ["首选呋塞米。", "螺内酯与螺内酯。", "氢氯噻嗪。"]),  # wrong; nothing missing
        record("multi", ["呋塞米和螺内酯。"], answer="AB"),  # not counted for the count rule
    ]
    figures = bucket_figures(records, facts)
    assert figures == BucketFigures(
        single_answer_items=3, count_accuracy=(1 + 0.5 + 0) / 3, key_only_share=1 / 3,
        decoy_pairs=2 + 2 + 2 + 1, decoys_missing=2 + 1 + 0 + 1, key_named_most=("only-key",),
    )  # fmt: skip


def test_a_bucket_over_any_limit_names_each_breach():
    figures = BucketFigures(10, 0.4, 0.1, 40, 2)
    assert set(figures.breaches(ShortcutLimits())) == {"count_shortcut", "key_only_named", "decoy_coverage"}
    assert figures.breaches(ShortcutLimits(0.5, 0.2, 0.9)) == {}
