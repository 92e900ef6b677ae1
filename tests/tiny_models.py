"""Tiny, randomly initialised causal LMs with an offline-trained tokenizer, for tests.

Nothing here touches a hub: the tokenizer is a byte-level BPE trained with `tokenizers`
on the project's own text, so it encodes any Chinese string, and the model is a
Llama-, Qwen2- or Gemma 3-style config a few hundred kilobytes large.
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


# Option letters as the letter variant continues a prompt (" A" after "答案："): repeated
# often enough that BPE merges each into one token, as Gemma's tokenizer has them.
LETTER_LINES = ["答案： A 答案： B 答案： C 答案： D 答案： E"] * 400


def build_tokenizer(out_dir: Path, vocab_size: int = 600, single_token_letters: bool = False):
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
    corpus = _training_corpus() + (LETTER_LINES if single_token_letters else [])
    tokenizer.train_from_iterator(corpus, trainer=trainer)
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


# Gemma 3's layout in miniature: local (sliding-window) layers with a global one between,
# a window far shorter than any open-book prompt.
GEMMA3_SLIDING_WINDOW = 16
GEMMA3_LAYER_TYPES = ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]


def build_tiny_model(
    out_dir: str | Path,
    arch: str = "llama",
    max_position_embeddings: int = 4096,
    seed: int = 0,
    single_token_letters: bool = False,
) -> Path:
    """Write a tiny random model + tokenizer to `out_dir` in `save_pretrained` layout.

    `arch`: "llama", "qwen2" or "gemma3" (Gemma3ForCausalLM with sliding-window layers).
    `single_token_letters`: a tokenizer in which " A" .. " E" are one token each.
    """
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out_dir, single_token_letters=single_token_letters)
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
    if arch == "gemma3":
        config = Gemma3TextConfig(
            **(common | {"num_hidden_layers": len(GEMMA3_LAYER_TYPES)}),
            head_dim=16,
            query_pre_attn_scalar=16,
            sliding_window=GEMMA3_SLIDING_WINDOW,
            layer_types=GEMMA3_LAYER_TYPES,
        )
    else:
        config = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch](**common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out_dir)
    return out_dir
