"""What one exam item costs per bucket, scored the way the README's lm_eval commands score it.

    python benchmarks/bench_buckets.py --buckets closed,1k,2k,4k --items 5
    python benchmarks/bench_buckets.py --backends medlc-hf,hf --variant letter --json results/buckets.json

Each backend loads the model once; then every bucket's task is built (the task loader
reads and fits all of the bucket's items whatever the limit: a fixed cost per task and
call) and scored through `medlc.scoring.evaluate` on its first `--items` items (the
commands' `--limit`); scoring time is divided by the items. Stock `hf` reads the converted safetensors folder
(`medlc_core.models.resolve_pretrained`), the same weights `pretrained=gemma3-270m` gives
`medlc-hf`. The one-time GGUF conversion happens before any timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from medlc import scoring
from medlc_core.models import resolve_pretrained
from medlc_core.provenance import versions


def task_name(variant: str, bucket: str) -> str:
    suffix = "" if variant == "letter" else f"_{variant}"
    return f"medlc_closedbook{suffix}" if bucket == "closed" else f"medlc_openbook{suffix}_{bucket}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="gemma3-270m", help="bundled name, hub id or local dir")
    parser.add_argument("--backends", default="medlc-hf", help="comma-separated: medlc-hf, hf")
    parser.add_argument("--variant", default="cloze", choices=["letter", "cloze", "gen"])
    parser.add_argument("--buckets", default="closed,1k,2k,4k")
    parser.add_argument("--items", type=int, default=5, help="items per bucket (lm-eval's limit)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--exam_dir", default=None, help="a built exam (default: $MEDLC_EXAM_DIR or the bundled exam)"
    )
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    console = Console(width=160)
    path = resolve_pretrained(args.model)  # converts a GGUF once, before anything is timed
    options = scoring.ScoringOptions(limit=args.items, bootstrap_iters=0)
    rows = []
    figures = {
        "args": vars(args),
        "model_path": path,
        "versions": versions(),
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "cells": rows,
    }
    for backend in args.backends.split(","):
        model_args = {"pretrained": args.model if backend == "medlc-hf" else path}
        started = time.perf_counter()
        lm = scoring.build_lm(backend, model_args, device=args.device)
        load_seconds = time.perf_counter() - started
        metadata = model_args | ({"exam_dir": args.exam_dir} if args.exam_dir else {})
        manager = scoring.task_manager(metadata)
        # One untimed item first: the first forward passes pay one-off allocation costs.
        warmup = task_name(args.variant, args.buckets.split(",")[0])
        one_item = scoring.ScoringOptions(limit=1, bootstrap_iters=0)
        scoring.evaluate(lm, [warmup], manager, one_item, backend, model_args)
        for bucket in args.buckets.split(","):
            task = task_name(args.variant, bucket)
            started = time.perf_counter()
            task_obj = manager.load([task])["tasks"][task]
            build_seconds = time.perf_counter() - started
            started = time.perf_counter()
            results = scoring.evaluate(lm, [task_obj], manager, options, backend, model_args)
            seconds = time.perf_counter() - started
            samples = results["samples"][task]
            tokens = [s["doc"].get("prompt_tokens") for s in samples if s["doc"].get("prompt_tokens")]
            rows.append({
                "backend": backend, "task": task, "items": len(samples),
                "mean_prompt_tokens": round(statistics.mean(tokens)) if tokens else None,
                "seconds_per_item": round(seconds / len(samples), 2),
                "task_build_seconds": round(build_seconds, 1),
                "model_load_seconds": round(load_seconds, 1),
            })  # fmt: skip
            console.log(rows[-1])
        del lm
    figures["load_average_at_end"] = os.getloadavg()

    table = Table(title=f"cost per bucket: {args.model}, {args.variant} variant, {args.device}")
    for column in ("backend", "task", "items", "prompt tokens", "s / item", "task build s", "model load s"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["backend"],
            row["task"],
            str(row["items"]),
            str(row["mean_prompt_tokens"]),
            f"{row['seconds_per_item']:.2f}",
            f"{row['task_build_seconds']:.1f}",
            f"{row['model_load_seconds']:.1f}",
        )
    console.print(table)
    console.print(
        f"cores {figures['cores']}, load average {figures['load_average_at_start']} -> "
        f"{figures['load_average_at_end']}"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
