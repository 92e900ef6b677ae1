"""Shared by tests/test_backend_*.py: hand-written exam records, lm-eval requests built from
them exactly as the medlc tasks build theirs, and a GGUF writer for the tiny test model."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from lm_eval.api.instance import Instance

from medlc_tasks.exam.schema import PASSAGE_SEPARATOR, BuiltRecord
from medlc_tasks.fitting import FITTER_FIELD, fitter_reference
from medlc_tasks.prompts import continuations, render_prompt

# Three items written for these tests; the distractor passages are about other topics.
_ITEMS = [
    (
        "b01",
        "患者女，34岁，多饮多尿两周，空腹血糖9.8 mmol/L。首选的检查是",
        ["糖化血红蛋白", "甲状腺功能", "头颅磁共振", "胃镜", "骨密度"],
        0,
        [
            "糖化血红蛋白反映近两到三个月的平均血糖水平，可用于确认糖尿病诊断。",
            "骨折后早期应制动并抬高患肢，以减轻肿胀和疼痛。",
            "慢性阻塞性肺疾病患者长期家庭氧疗可改善生存。",
            "儿童发热伴皮疹时应注意观察皮疹出现的顺序和分布。",
        ],
        1,
    ),
    (
        "b02",
        "服用华法林的患者复查时最需要监测的指标是",
        ["血小板计数", "国际标准化比值", "血清钾", "尿酸", "肌酸激酶"],
        1,
        [
            "急性阑尾炎典型表现为转移性右下腹痛。",
            "华法林的抗凝强度以国际标准化比值评估，通常目标范围为二到三。",
            "缺铁性贫血时血清铁蛋白降低。",
        ],
        1,
    ),
    (
        "b03",
        "某虚构药物“舒络平”的成人每日最大剂量为",
        ["10毫克", "20毫克", "40毫克", "80毫克"],
        2,
        [
            "新生儿黄疸多在出生后两到三天出现。",
            "甲状腺功能亢进可表现为心悸、多汗和体重下降。",
            "舒络平为本资料虚构的药物，成人每日最大剂量为40毫克，超过此量可致心律失常。",
        ],
        2,
    ),
]


def record(index: int, bucket: str = "1k", with_book: bool = True) -> BuiltRecord:
    item_id, question, options, answer, passages, gold = _ITEMS[index]
    passages = passages if with_book else []
    book = PASSAGE_SEPARATOR.join(passages)
    letters = [chr(ord("A") + i) for i in range(len(options))]
    return BuiltRecord(
        id=item_id,
        question=question,
        choices=letters,
        options=options,
        answer=letters[answer],
        answer_index=answer,
        multi_answer=False,
        department="内科",
        difficulty="",
        counterfactual=item_id == "b03",
        contradicts_common_knowledge=False,
        bucket=bucket if with_book else "closed",
        target_chars=len(book),
        depth=gold / max(1, len(passages) - 1) if with_book else -1.0,
        passages=passages,
        gold_index=gold if with_book else -1,
        book=book,
        book_chars=len(book),
        gold_char_offset=sum(len(p) + len(PASSAGE_SEPARATOR) for p in passages[:gold]) if with_book else -1,
        passage_sources=[item_id] * len(passages),
    )


def docs(with_book: bool = True, variant: str = "letter") -> list[dict]:
    """The items as the medlc task loader hands them to lm-eval, naming the exam's fitter."""
    hook = {FITTER_FIELD: fitter_reference(variant)}
    return [asdict(record(i, with_book=with_book)) | hook for i in range(len(_ITEMS))]


def loglikelihood_requests(
    variant: str, with_book: bool = True, task: str = "backend_test"
) -> list[Instance]:
    """Every option of every item, as lm-eval's multiple_choice tasks request them."""
    requests = []
    for doc_id, doc in enumerate(docs(with_book, variant)):
        context = render_prompt(doc, variant)
        for option, continuation in enumerate(continuations(doc, variant)):
            requests.append(
                Instance("loglikelihood", doc, (context, continuation), option, (task, doc_id, 1))
            )
    return requests


def generation_requests(gen_kwargs: dict, task: str = "backend_test") -> list[Instance]:
    return [
        Instance("generate_until", doc, (render_prompt(doc, "gen"), dict(gen_kwargs)), 0, (task, doc_id, 1))
        for doc_id, doc in enumerate(docs(variant="gen"))
    ]


def write_tiny_gguf(model_dir: Path, out_file: Path) -> Path:
    """The tiny Llama from tests/tiny_models.py as an F32 GGUF file (llama.cpp layout)."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    writer = gguf.GGUFWriter(str(out_file), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(config.get("rope_parameters", {}).get("rope_theta", 10000.0))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    tokens = [""] * len(tokenizer["model"]["vocab"])
    for token, token_id in tokenizer["model"]["vocab"].items():
        tokens[token_id] = token
    special = {added["id"]: added["content"] for added in tokenizer["added_tokens"]}
    for token_id, content in special.items():
        tokens[token_id] = content
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if i in special else 1 for i in range(len(tokens))])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tokenizer["model"]["merges"]])
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_pad_token_id(config["pad_token_id"])

    def rope_permute(weight, heads):
        # llama.cpp stores q/k rows interleaved per rotary pair; transformers undoes this on load.
        return (
            weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:])
            .swapaxes(1, 2)
            .reshape(weight.shape)
        )

    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
        "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }  # fmt: skip
    for layer in range(config["num_hidden_layers"]):
        for hf, gg in per_layer.items():
            names[f"model.layers.{layer}.{hf}.weight"] = f"blk.{layer}.{gg}.weight"
    for name, tensor in load_file(model_dir / "model.safetensors").items():
        tensor = tensor.float()
        if name.endswith("q_proj.weight"):
            tensor = rope_permute(tensor, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            tensor = rope_permute(tensor, config["num_key_value_heads"])
        writer.add_tensor(names[name], tensor.numpy().astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file


def distinct_prefix_tokens(lm, requests: list[Instance]) -> int:
    """How many token positions a scorer that runs every shared prefix once must run: the
    distinct prefixes of the requests' `context + continuation[:-1]` (what stock `hf` feeds)."""
    prefixes = set()
    for request in requests:
        context, continuation = lm._encode_pair(*request.args)
        sequence = (*context, *continuation[:-1])
        prefixes.update(sequence[: i + 1] for i in range(len(sequence)))
    return len(prefixes)
