"""Stock lm-eval `hf` vs `medlc-hf` vs the physical floor, on the same model and exam items.

    python benchmarks/bench_scorer.py --buckets 4k --items 5
    python benchmarks/bench_scorer.py --buckets 8k --items 2 --json results/bench_8k.json

All three run in this one process on one loaded model (HFLM and medlc-hf both accept a
model object), items interleaved (floor, ours, stock for item 1, then item 2, ...) so load
from other processes hits all three alike. The floor is one bare forward pass over each
context with `logits_to_keep=1`: no scorer can read the book in less.

Per variant and bucket it prints wall seconds per item, peak memory above the level before
the call (on CPU the process's resident set sampled every millisecond, with glibc told to
return every freed block of 64 KiB or more to the system at once, so memory one backend
freed does not hide the next one's use; on CUDA `torch.cuda.max_memory_allocated`), the
stock/ours and ours/floor ratios, and per-item agreement of ours with stock (same predicted
option; largest log-likelihood difference).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import torch
from lm_eval.api.instance import Instance
from rich.console import Console
from rich.table import Table

from medlc import scoring
from medlc.backend import MedlcLM
from medlc_core.models import resolve_pretrained
from medlc_core.provenance import versions
from medlc_tasks.exam.bundled import resolve_exam_dir
from medlc_tasks.loading import build_docs
from medlc_tasks.prompts import continuations, render_prompt


class PeakMemory:
    """Peak memory above the level at entry, during a `with` block."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.peak_bytes = 0

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        self._process = psutil.Process()
        self._start = self._process.memory_info().rss
        self._peak = self._start
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self._peak = max(self._peak, self._process.memory_info().rss)
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated() - self._start
            return
        self._running = False
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.peak_bytes = self._peak - self._start


@dataclass
class Cell:
    """One backend on one (bucket, variant): per-item wall seconds and peak memory."""

    seconds: list[float] = field(default_factory=list)
    peak_bytes: list[int] = field(default_factory=list)

    @property
    def per_item(self) -> float:
        return statistics.mean(self.seconds)

    @property
    def peak_gib(self) -> float:
        return max(self.peak_bytes) / 2**30


def item_requests(doc: dict, doc_id: int, variant: str, task: str) -> list[Instance]:
    context = render_prompt(doc, variant)
    return [
        Instance("loglikelihood", doc, (context, continuation), i, (task, doc_id, 1))
        for i, continuation in enumerate(continuations(doc, variant))
    ]


def floor(lm: MedlcLM, requests: list[Instance]) -> None:
    """One bare forward over the context, logits for its last position only."""
    ids = torch.tensor([lm.tok_encode(requests[0].args[0].rstrip())], device=lm.device)
    with torch.inference_mode():
        lm.model(input_ids=ids, logits_to_keep=1)


def timed(run, device: torch.device) -> tuple[float, int, object]:
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        out = run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return seconds, memory.peak_bytes, out


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": os.getloadavg(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _return_freed_memory_to_the_system() -> None:
    """Re-run this script with glibc's mmap threshold at 64 KiB: large blocks are then
    unmapped when freed, so the resident set follows live tensors and peaks compare."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(64 * 1024)
        os.execv(sys.executable, [sys.executable, *sys.argv])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="gemma3-270m", help="bundled name, hub id or local dir")
    parser.add_argument("--gguf_file", default=None)
    parser.add_argument(
        "--exam_dir", default=None, help="a built exam (default: $MEDLC_EXAM_DIR or the bundled exam)"
    )
    parser.add_argument("--buckets", default="4k", help="comma-separated, e.g. 4k,8k")
    parser.add_argument("--variants", default="letter,cloze")
    parser.add_argument("--items", type=int, default=5, help="items per bucket and variant")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--attn_implementation", default="sdpa")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    console = Console(width=200)
    device = torch.device(args.device)
    if device.type == "cpu":
        _return_freed_memory_to_the_system()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_pretrained(args.model, args.gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = (
        AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, args.dtype), attn_implementation=args.attn_implementation
        )
        .to(device)
        .eval()
    )
    # Both backends wrap the one loaded model, built as every medlc entry point builds an LM.
    shared = {"pretrained": model, "tokenizer": tokenizer}
    stock = scoring.build_lm("hf", shared, batch_size=1, device=args.device)
    ours = scoring.build_lm("medlc-hf", shared, batch_size=1, device=args.device)
    exam_dir = resolve_exam_dir(args.exam_dir)
    floor(ours, item_requests(build_docs(exam_dir, "closed", "letter", None)[0][0], 0, "letter", "warmup"))

    figures = {
        "machine": machine(),
        "args": vars(args),
        "exam_dir": str(exam_dir),
        "model_path": path,
        "versions": versions(),
        "cells": [],
    }
    rows = []
    for bucket in args.buckets.split(","):
        for variant in args.variants.split(","):
            docs = build_docs(exam_dir, bucket, variant, None)[0][: args.items]
            cells = {name: Cell() for name in ("floor", "ours", "stock")}
            agree, worst_delta, tokens = 0, 0.0, []
            for doc_id, doc in enumerate(docs):
                requests = item_requests(doc, doc_id, variant, f"bench_{bucket}_{variant}")
                tokens.append(len(ours.tok_encode(requests[0].args[0])))
                results = {}
                for name, run in (
                    ("floor", lambda requests=requests: floor(ours, requests)),
                    ("ours", lambda requests=requests: ours.loglikelihood(requests, disable_tqdm=True)),
                    ("stock", lambda requests=requests: stock.loglikelihood(requests, disable_tqdm=True)),
                ):
                    seconds, peak, results[name] = timed(run, device)
                    cells[name].seconds.append(seconds)
                    cells[name].peak_bytes.append(peak)
                ours_ll = [ll for ll, _ in results["ours"]]
                stock_ll = [ll for ll, _ in results["stock"]]
                agree += ours_ll.index(max(ours_ll)) == stock_ll.index(max(stock_ll))
                worst_delta = max(
                    worst_delta, max(abs(a - b) for a, b in zip(ours_ll, stock_ll, strict=True))
                )
                console.log(f"{bucket} {variant} item {doc_id}: {tokens[-1]} tokens, "
                            + ", ".join(f"{n} {c.seconds[-1]:.2f}s" for n, c in cells.items()))  # fmt: skip
            cell = {
                "bucket": bucket,
                "variant": variant,
                "items": len(docs),
                "mean_context_tokens": round(statistics.mean(tokens)),
                "agreement": f"{agree}/{len(docs)}",
                "max_abs_loglik_delta": worst_delta,
            }
            for name, c in cells.items():
                cell[f"{name}_s_per_item"] = round(c.per_item, 3)
                cell[f"{name}_peak_gib"] = round(c.peak_gib, 3)
                cell[f"{name}_seconds"] = [round(s, 3) for s in c.seconds]
            cell["stock_over_ours"] = round(cells["stock"].per_item / cells["ours"].per_item, 2)
            cell["ours_over_floor"] = round(cells["ours"].per_item / cells["floor"].per_item, 3)
            cell["memory_stock_over_ours"] = round(
                cells["stock"].peak_gib / max(cells["ours"].peak_gib, 1e-9), 1
            )
            figures["cells"].append(cell)
            rows.append(cell)
    figures["machine"]["load_average_at_end"] = os.getloadavg()

    table = Table(title=f"scorer benchmark: {args.model} on {args.device} ({args.dtype})")
    columns = [
        ("bucket", "bucket"), ("variant", "variant"), ("items", "items"), ("ctx tok", "mean_context_tokens"),
        ("stock s/item", "stock_s_per_item"), ("ours s/item", "ours_s_per_item"),
        ("floor s/item", "floor_s_per_item"),
        ("stock/ours", "stock_over_ours"), ("ours/floor", "ours_over_floor"),
        ("stock peak GiB", "stock_peak_gib"), ("ours peak GiB", "ours_peak_gib"),
        ("floor peak GiB", "floor_peak_gib"),
        ("same argmax", "agreement"), ("max |Δll|", "max_abs_loglik_delta"),
    ]  # fmt: skip
    for title, _ in columns:
        table.add_column(title, justify="right")
    for row in rows:
        table.add_row(
            *(f"{row[key]:.2e}" if key == "max_abs_loglik_delta" else str(row[key]) for _, key in columns)
        )
    console.print(table)
    console.print(f"machine: {figures['machine']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
