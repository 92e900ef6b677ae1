"""The fused read, A/B in one process: the floor, `medlc-hf` with reads fused into their
packed pass (the default) and with fusing off, timed in turn on the same items, rep after rep.

    python benchmarks/fused_read_ab.py --buckets 1k --mode cloze --reps 6 \\
        --json benchmarks/results/fused_read_ab_1k_cloze.json

`bench_scorer.py` times each backend once, in a process of its own (for honest peaks), and
on this machine the floor alone moves by 20% from one run to the next, more than the
few percent a fused read saves. Here the three share one loaded model and alternate, in a
rotating order, so a drift in the machine's speed falls on all three; each rep builds a
fresh backend (an empty prefix store). Prints every rep's seconds and the median ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from bench_scorer import floor, longest_prompts, mode_requests
from rich.console import Console
from rich.table import Table
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlc import scoring
from medlc_core.models import resolve_pretrained
from medlc_core.provenance import versions
from medlc_tasks.exam.bundled import resolve_exam_dir

SETTINGS = {"fused": {}, "apart": {"fuse_read_tokens": 0}}


def timed(name: str, model, tokenizer, requests: list, prompts: list[str], warm: list, batch_size: int):
    """Seconds for the floor (one bare read per prompt) or for `medlc-hf` at one setting,
    built afresh and warmed up on `warm`; and that backend's scoring counts."""
    if name == "floor":
        start = time.perf_counter()
        floor(model, tokenizer, torch.device("cpu"), prompts, [])
        return time.perf_counter() - start, None
    shared = {"pretrained": model, "tokenizer": tokenizer} | SETTINGS[name]
    lm = scoring.build_lm("medlc-hf", shared, batch_size=batch_size, device="cpu")
    lm.loglikelihood(warm, disable_tqdm=True)
    lm.pop_medlc_report()
    start = time.perf_counter()
    lm.loglikelihood(requests, disable_tqdm=True)
    seconds = time.perf_counter() - start
    return seconds, lm.medlc_report()["scoring"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--buckets", default="1k")
    parser.add_argument(
        "--mode", default="cloze", choices=["letter", "cloze", "all"],
        help="all: the letter and cloze requests of the items in one call (generation, which starts "
        "from the stored books either way, is left out)",
    )  # fmt: skip
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--json", required=True, type=Path)
    args = parser.parse_args()
    path = resolve_pretrained(args.model, None)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa").eval()
    exam_dir = resolve_exam_dir(None)
    results = {"args": vars(args) | {"json": str(args.json)}, "versions": versions(), "buckets": {}}
    names = ["floor", *SETTINGS]
    table = Table(title=f"fused read A/B, {args.mode}, {args.items} items, seconds per item")
    for column in ("bucket", "rep", "order", *names, "fused/floor", "apart/floor"):
        table.add_column(column, justify="right")
    warm, _ = mode_requests(exam_dir, "closed", args.mode, 1)
    for bucket in args.buckets.split(","):
        requests, _ = mode_requests(exam_dir, bucket, args.mode, args.items)
        prompts = longest_prompts(requests)
        work = (model, tokenizer, requests, prompts, warm, args.batch_size)
        for name in names:  # warm-up: the first forwards at a new length are slower
            timed(name, *work)
        reps = []
        for rep in range(args.reps):
            order = names[rep % 3 :] + names[: rep % 3]
            row: dict = {"order": order}
            for name in order:
                row[name], row[f"{name}_scoring"] = timed(name, *work)
            reps.append(row)
            seconds = [f"{row[n] / args.items:.3f}" for n in names]
            ratios = [f"{row[n] / row['floor']:.3f}" for n in SETTINGS]
            table.add_row(bucket, str(rep), ",".join(order), *seconds, *ratios)
        summary = {}
        for name in names:
            summary[f"{name}_s_per_item_median"] = statistics.median(r[name] for r in reps) / args.items
        for name in SETTINGS:
            ratio = statistics.median(r[name] / r["floor"] for r in reps)
            summary[f"{name}_over_floor_median_of_reps"] = ratio
        tokens = [len(tokenizer(p).input_ids) for p in prompts]
        results["buckets"][bucket] = {"reps": reps, "summary": summary, "prompt_tokens": tokens}
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
        medians = [f"{summary[f'{n}_s_per_item_median']:.3f}" for n in names]
        ratios = [f"{summary[f'{n}_over_floor_median_of_reps']:.3f}" for n in SETTINGS]
        table.add_row(bucket, "median", "", *medians, *ratios)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
