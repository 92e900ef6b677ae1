"""What an item's cloze options cost beyond its book read, on the default model.

    python benchmarks/option_pass_costs.py --json benchmarks/results/option_pass_costs.json

Two measurements, each repeated and the best kept:

1. the output projection (vocabulary x hidden, fp32) over `rows` hidden states at once:
   seconds per scored position as the rows grow, i.e. what batching the option passes of
   several items could save at most;
2. a book of `n` tokens read causally and then ~22 option tokens as a packed pass against
   its cache, against both in one forward with an explicit causal-then-tree mask.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM

from medlc.backend.kv import SharedPrefixCache, cache_argument, new_cache
from medlc_core.models import resolve_pretrained
from medlc_core.provenance import versions


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def head_rows(model, rows: list[int], repeats: int) -> list[dict]:
    weight = model.get_output_embeddings().weight
    out = []
    for m in rows:
        hidden = torch.randn(m, weight.shape[1])
        torch.nn.functional.linear(hidden, weight)
        seconds = best_of(repeats, lambda h=hidden: torch.nn.functional.linear(h, weight))
        out.append({"rows": m, "seconds": round(seconds, 4), "ms_per_position": round(1000 * seconds / m, 2)})
    return out


def read_then_pass(model, lengths: list[int], options: int, repeats: int) -> list[dict]:
    return [one_book(model, n, options, repeats) for n in lengths]


def one_book(model, n: int, options: int, repeats: int) -> dict:
    config = model.config.get_text_config()
    window, kinds, name = config.sliding_window, set(config.layer_types), cache_argument()
    book = torch.randint(10, 20000, (1, n))
    extra = torch.randint(10, 20000, (1, options))
    tail = {
        k: torch.cat(
            [torch.ones(options, n, dtype=torch.bool), torch.ones(options, options).tril().bool()], 1
        )[None, None]
        for k in kinds
    }
    positions = torch.arange(n + options)
    causal = torch.ones(n + options, n + options, dtype=torch.bool).tril()
    sliding = causal & (positions[:, None] - positions[None, :] < window)
    fused_mask = {k: (sliding if k == "sliding_attention" else causal)[None, None] for k in kinds}

    def separate():
        cache = getattr(model(input_ids=book, logits_to_keep=1, use_cache=True, **{name: new_cache()}), name)
        model(
            input_ids=extra,
            position_ids=torch.arange(n, n + options)[None],
            attention_mask=tail,
            logits_to_keep=torch.arange(options - 2),
            use_cache=True,
            **{name: SharedPrefixCache(cache, rows=1)},
        )

    def fused():
        model(
            input_ids=torch.cat([book, extra], 1),
            position_ids=positions[None],
            attention_mask=fused_mask,
            logits_to_keep=torch.arange(n, n + options - 2),
            use_cache=True,
            **{name: new_cache()},
        )

    with torch.inference_mode():
        separate_s, fused_s = best_of(repeats, separate), best_of(repeats, fused)
    return {"book_tokens": n, "read_then_pass_s": round(separate_s, 3), "fused_s": round(fused_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--rows", default="1,20,64,160,320")
    parser.add_argument("--book_tokens", default="900,1800")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        resolve_pretrained(args.model), dtype=torch.float32, attn_implementation="sdpa"
    ).eval()
    with torch.inference_mode():
        head = head_rows(model, [int(r) for r in args.rows.split(",")], args.repeats)
    fuse = read_then_pass(model, [int(n) for n in args.book_tokens.split(",")], 22, args.repeats)
    result = {"args": vars(args), "versions": versions(), "output_head": head, "read_and_options": fuse}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
