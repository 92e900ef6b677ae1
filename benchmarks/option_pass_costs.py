"""What an item's cloze options cost beyond its book read, on the default model: the output
projection (vocabulary x hidden, fp32) over `rows` hidden states at once, in seconds per
scored position as the rows grow, i.e. what batching the option passes of several items
could save at most. Each size repeated, the best kept.

    python benchmarks/option_pass_costs.py --json benchmarks/results/option_pass_costs.json

What running a short book's read and its options as one forward saves is measured inside
the scorer, by `fused_read_ab.py`.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--rows", default="1,20,64,160,320")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        resolve_pretrained(args.model), dtype=torch.float32, attn_implementation="sdpa"
    ).eval()
    with torch.inference_mode():
        head = head_rows(model, [int(r) for r in args.rows.split(",")], args.repeats)
    result = {"args": vars(args), "versions": versions(), "output_head": head}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
