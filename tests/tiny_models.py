"""Tiny, randomly initialised causal LMs with an offline-trained tokenizer, for tests.

Nothing here touches a hub: the tokenizer is a byte-level BPE trained with `tokenizers`
on the project's own text, so it encodes any Chinese string, and the model is a
Llama- or Qwen2-style config a few hundred kilobytes large.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|end|>"]


def _training_corpus() -> list[str]:
    """The project's own text: the bundled exam source plus a few fixed lines."""
    lines = [
        "患者，男，45岁，反复上腹痛3年，进食后缓解。",
        "参考资料：以下是与问题有关的资料。问题：答案：A B C D E",
        "请只回答选项字母。The answer is A. 答案：B",
    ]
    bundled = Path(__file__).resolve().parents[1] / "medlc_tasks" / "data" / "bundled"
    for path in sorted(bundled.glob("*")):
        if path.suffix in {".jsonl", ".txt"}:
            lines.extend(path.read_text(encoding="utf-8").splitlines())
    return lines


def build_tokenizer(out_dir: Path, vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_training_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_model(
    out_dir: str | Path,
    arch: str = "llama",
    max_position_embeddings: int = 4096,
    seed: int = 0,
) -> Path:
    """Write a tiny random model + tokenizer to `out_dir` in `save_pretrained` layout."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out_dir)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = LlamaConfig(**common) if arch == "llama" else Qwen2Config(**common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out_dir)
    return out_dir
