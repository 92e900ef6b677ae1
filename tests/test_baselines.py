"""The model-free `medlc-baseline` LM: each rule's answers on a mini exam whose books are
written so that the pick of each rule can be worked out by hand, and the LM as lm-eval runs it."""

from __future__ import annotations

import json
import random

import pytest
from lm_eval.api.instance import Instance

from medlc.baselines import REJECTED_LOGLIKELIHOOD, BaselineLM, bm25_tokens, choose
from medlc_tasks.exam.schema import LETTERS, MANIFEST_FILE, PASSAGE_SEPARATOR, BuiltRecord, bucket_file
from medlc_tasks.loading import build_docs
from medlc_tasks.prompts import continuations, render_prompt

from tasks_support import FIXTURE_EXAM, TASKS_DIR, evaluate, metric

# (id, question, options, key, passages, the pick of `count`, the pick of `retrieve`).
# count: the option named most often in the whole book. retrieve: the passage sharing the
# most question terms comes first; the first ranked passage naming an option decides.
MINI_EXAM = [
    ("m1", "长期服用华法林的患者，调整剂量时首选监测的指标是",
     ("国际标准化比值", "活化部分凝血活酶时间", "血小板计数", "血浆纤维蛋白原"), "A",
     ["长期服用华法林的患者调整剂量时，有人误以为应监测活化部分凝血活酶时间。",
      "维生素K拮抗剂的疗效以国际标准化比值衡量。国际标准化比值过高提示出血风险增加。",
      "高血压患者应限制钠盐摄入。"],
     "A",  # A twice, B once
     "B"),  # passage 0 shares most of the question and names only B; passage 1 shares nothing
    ("m2", "急性胰腺炎早期最具诊断价值的血清学检查是",
     ("血钙", "淀粉酶", "C反应蛋白", "血糖"), "B",
     ["急性胰腺炎早期，血清淀粉酶在发病数小时内升高，最具诊断价值。",
      "C反应蛋白见于多种炎症。C反应蛋白也用于评估感染。C反应蛋白不具特异性。"],
     "C",  # C three times, B once
     "B"),  # passage 0 is the only one sharing question terms
    ("m3", "缺铁性贫血患者口服铁剂后，最早出现升高的指标是",
     ("血红蛋白", "血清铁蛋白", "网织红细胞", "红细胞压积"), "C",
     ["缺铁性贫血患者口服铁剂后，网织红细胞最早升高，网织红细胞高峰约在一周，红细胞压积随后回升。",
      "红细胞压积反映红细胞所占容积。红细胞压积降低见于贫血。红细胞压积升高见于脱水。"],
     "D",  # D four times, C twice
     "C"),  # passage 0 ranks first and names C twice, D once
    ("m4", "成人心肺复苏时，胸外按压的频率应为每分钟",
     ("60至80次", "80至100次", "120至140次", "100至120次"), "D",
     ["成人心肺复苏时，胸外按压的频率应为每分钟多少次，是急救培训必考的内容。",
      "胸外按压不足时，60至80次的节律达不到要求。",
      "指南规定为100至120次，100至120次可保证灌注。"],
     "D",  # D twice, A once
     "A"),  # passage 0 names no option; passage 1 is next and names A; passage 2 shares nothing
    ("m5", "有机磷农药中毒时，用于恢复胆碱酯酶活性的药物是",
     ("氯解磷定", "阿托品", "纳洛酮", "氟马西尼"), "A",
     ["有机磷农药中毒时，恢复胆碱酯酶活性需用氯解磷定。",
      "阿托品可拮抗毒蕈碱样症状。阿托品化的指标包括瞳孔扩大。"],
     "B",  # B twice, A once
     "A"),
]  # fmt: skip
HAND_COUNT = {"count": 2 / 5, "retrieve": 3 / 5}  # count right on m1, m4; retrieve on m2, m3, m5


def mini_record(item: tuple, bucket: str = "1k") -> BuiltRecord:
    item_id, question, options, key, passages, _, _ = item
    closed = bucket == "closed"
    passages = [] if closed else list(passages)
    book = PASSAGE_SEPARATOR.join(passages)
    choices = list(LETTERS[: len(options)])
    return BuiltRecord(
        id=item_id, question=question, choices=choices, options=list(options), answer=key,
        answer_index=choices.index(key), multi_answer=False, department="急诊科", difficulty="",
        counterfactual=False, contradicts_common_knowledge=False, bucket=bucket,
        target_chars=0 if closed else 1000, depth=-1.0 if closed else 0.0, passages=passages,
        gold_index=-1 if closed else 0, book=book, book_chars=len(book),
        gold_char_offset=-1 if closed else 0, passage_sources=[item_id] * len(passages),
    )  # fmt: skip


@pytest.fixture(scope="module")
def mini_exam(tmp_path_factory):
    out = tmp_path_factory.mktemp("mini_exam")
    for bucket, name in (("1k", bucket_file("1k")), ("closed", "closedbook.v1.jsonl")):
        lines = [mini_record(item, bucket).to_json() + "\n" for item in MINI_EXAM]
        (out / name).write_text("".join(lines), encoding="utf-8")
    (out / MANIFEST_FILE).write_text(
        json.dumps({"note": "test_baselines mini exam", "buckets": {"1k": 1000}, "bucket_order": ["1k"]}),
        encoding="utf-8",
    )
    return out


def mini_docs(mini_exam, variant: str = "letter", bucket: str = "1k") -> list[dict]:
    return build_docs(mini_exam, bucket, variant, window=None)[0]


def requests_for(docs: list[dict], variant: str, task: str = "t") -> list[Instance]:
    """The requests lm-eval builds for the docs of one variant."""
    if variant == "gen":
        return [
            Instance("generate_until", doc, (render_prompt(doc, "gen"), {"until": ["\n\n"]}), 0, (task, n, 1))
            for n, doc in enumerate(docs)
        ]
    return [
        Instance("loglikelihood", doc, (render_prompt(doc, variant), cont), i, (task, n, 1))
        for n, doc in enumerate(docs)
        for i, cont in enumerate(continuations(doc, variant))
    ]


def picks(lm: BaselineLM, requests: list[Instance]) -> dict[tuple[str, int], bool]:
    return {
        (r.doc["id"], r.idx): greedy
        for r, (_, greedy) in zip(requests, lm.loglikelihood(requests), strict=True)
    }


def picked_options(lm: BaselineLM, requests: list[Instance]) -> dict[str, int]:
    """Item id -> the option index the LM answered, for log-likelihood or generation requests."""
    if requests[0].request_type == "generate_until":
        answers = lm.generate_until(requests)
        return {r.doc["id"]: r.doc["choices"].index(text) for r, text in zip(requests, answers, strict=True)}
    return {item: option for (item, option), greedy in picks(lm, requests).items() if greedy}


@pytest.mark.parametrize("method", ["count", "retrieve"])
def test_each_rule_picks_the_option_worked_out_by_hand(mini_exam, method):
    expected = {item[0]: item[5 if method == "count" else 6] for item in MINI_EXAM}
    chosen = {doc["id"]: doc["choices"][choose(doc, method, seed=1)[0]] for doc in mini_docs(mini_exam)}
    assert chosen == expected


@pytest.mark.parametrize("method", ["count", "retrieve"])
def test_accuracy_through_lm_eval_equals_the_hand_count(mini_exam, method):
    tasks = ["medlc_openbook_1k", "medlc_openbook_cloze_1k", "medlc_openbook_gen_1k"]
    results = evaluate(tasks, "medlc-baseline", {"method": method}, metadata={"exam_dir": str(mini_exam)})
    assert {task: metric(results, task, "acc") for task in tasks} == pytest.approx(
        dict.fromkeys(tasks, HAND_COUNT[method])
    )
    assert metric(results, "medlc_openbook_cloze_1k", "acc_norm") == pytest.approx(HAND_COUNT[method])


def test_the_retrieval_tokens_are_chinese_bigrams_and_latin_or_number_words():
    tokens = bm25_tokens("胸外按压 100至120次，V1导联ST段")
    assert tokens == ["胸外", "外按", "按压", "100", "至", "120", "次", "v1", "导联", "st", "段"]


def test_count_breaks_a_tie_between_the_most_named_options_with_the_seed():
    item = ("tie", "问题", ("甲药", "乙药", "丙药"), "A", ["甲药与乙药同用。"], "", "")
    doc = mini_record(item).__dict__
    picked = {choose(doc, "count", seed)[0] for seed in range(30)}
    assert picked == {0, 1}
    assert choose(doc, "count", 5) == choose(doc, "count", 5)


def test_with_no_book_retrieve_and_count_answer_as_random_does(mini_exam):
    for doc in mini_docs(mini_exam, bucket="closed"):
        for seed in range(5):
            random_pick = choose(doc, "random", seed)[0]
            assert choose(doc, "retrieve", seed) == (random_pick, "no_passage")
            assert choose(doc, "count", seed) == (random_pick, "named_nowhere")


def test_random_is_uniform_over_the_options_and_fixed_by_the_seed(mini_exam):
    doc = mini_docs(mini_exam)[0]
    counts = [0] * len(doc["options"])
    for seed in range(400):
        counts[choose(doc, "random", seed)[0]] += 1
    assert min(counts) > 70  # 100 expected per option
    assert [choose(doc, "random", 9) for _ in range(3)] == [choose(doc, "random", 9)] * 3


@pytest.mark.parametrize("method", ["count", "retrieve", "random"])
def test_answers_do_not_depend_on_request_order(method):
    docs = build_docs(FIXTURE_EXAM, "8k", "letter", window=None)[0]
    requests = requests_for(docs, "letter")
    shuffled = list(requests)
    random.Random(3).shuffle(shuffled)
    assert picks(BaselineLM(method), requests) == picks(BaselineLM(method), shuffled)


@pytest.mark.parametrize("method", ["count", "retrieve", "random"])
def test_an_item_gets_the_same_answer_in_every_variant(mini_exam, method):
    lm = BaselineLM(method, seed=77)
    letter, cloze, gen = (
        picked_options(lm, requests_for(mini_docs(mini_exam, variant), variant))
        for variant in ("letter", "cloze", "gen")
    )
    assert letter == cloze == gen


def test_exactly_one_option_per_item_gets_log_likelihood_zero(mini_exam):
    results = BaselineLM("count").loglikelihood(requests_for(mini_docs(mini_exam), "letter"))
    lls = [ll for ll, _ in results]
    assert sorted(set(lls)) == [REJECTED_LOGLIKELIHOOD, 0.0]
    assert lls.count(0.0) == len(MINI_EXAM)


def test_a_request_that_is_not_an_option_of_a_medlc_item_is_refused(mini_exam):
    doc = mini_docs(mini_exam)[0]
    with pytest.raises(ValueError, match="expected option 0"):
        BaselineLM("count").loglikelihood([Instance("loglikelihood", doc, ("ctx", " Z"), 0, ("t", 0, 1))])
    with pytest.raises(ValueError, match="medlc exam tasks only.*has no id"):
        BaselineLM("count").loglikelihood(
            [Instance("loglikelihood", {"text": "x"}, ("c", " A"), 0, ("t", 0, 1))]
        )


def test_rolling_log_likelihood_is_refused_with_a_reason():
    with pytest.raises(NotImplementedError, match="perplexity"):
        BaselineLM("count").loglikelihood_rolling([])


def test_an_unknown_method_or_seed_is_refused():
    with pytest.raises(ValueError, match="method='bm25'.*count"):
        BaselineLM("bm25")
    with pytest.raises(ValueError, match="seed='x'"):
        BaselineLM("count", seed="x")


@pytest.fixture(scope="module")
def fixture_run():
    """Every variant on the fixture exam, called as the module docstring documents."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(TASKS_DIR), metadata={"exam_dir": str(FIXTURE_EXAM)})
    return lm_eval.simple_evaluate(
        model="medlc-baseline",
        model_args="method=retrieve,seed=7",
        tasks=["medlc_openbook", "medlc_openbook_cloze", "medlc_openbook_gen", "medlc_closedbook_gen"],
        task_manager=manager,
        bootstrap_iters=0,
    )


def test_lm_eval_runs_every_variant_by_name_and_records_method_and_seed(fixture_run):
    assert fixture_run["config"]["model"] == "medlc-baseline"
    assert fixture_run["config"]["baseline"]["method"] == "retrieve"
    assert fixture_run["config"]["baseline"]["seed"] == 7
    for task in ("medlc_openbook", "medlc_openbook_cloze", "medlc_openbook_gen", "medlc_closedbook_gen"):
        assert 0.0 <= metric(fixture_run, task, "acc") <= 1.0, task


def test_a_baseline_run_counts_every_item_unchecked(fixture_run):
    # no model is named, so the tasks cannot fit books to a window, and say so
    assert metric(fixture_run, "medlc_openbook_32k", "overlength_unchecked") == 7
    assert metric(fixture_run, "medlc_openbook_gen_1k", "overlength_unchecked") == 8


def test_baseline_generations_are_compliant_single_letters(fixture_run):
    assert metric(fixture_run, "medlc_openbook_gen_1k", "format_compliance") == 1.0
