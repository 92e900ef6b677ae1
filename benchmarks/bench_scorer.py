"""Stock lm-eval `hf` vs `medlc-hf` vs the floor, per variant and for all three together.

    python benchmarks/bench_scorer.py --buckets 4k --items 5 --modes letter,cloze
    python benchmarks/bench_scorer.py --buckets 2k,4k --items 3 --modes letter,cloze,gen,all \\
        --stock_modes all --json benchmarks/results/scorer_variants_cpu.json

A *mode* is what one evaluation hands the backend for the same exam items: `letter`,
`cloze` or `gen` alone, or `all` -- the letter and cloze requests of every item in one
log-likelihood call, then the generative ones in one generation call, as lm-eval does when
a run names the three tasks. Each backend runs in a child process of its own that loads the
model, then per mode builds the backend afresh, warms it up on one closed-book item
(generating too where the mode generates), and times the mode once, so its peak memory is
its own. On CPU a child runs one (bucket, mode), as its `ru_maxrss` is the process's
lifetime peak (the resident set after loading and warm-up is given beside it); on CUDA one
child runs every mode of a bucket, each mode's peak being `torch.cuda.max_memory_allocated`
after `reset_peak_memory_stats` (the memory still allocated when it starts, the weights, is
given beside it), which saves a model load per mode.

The floor is the least any backend must run: one bare forward pass per item over its
longest prompt of the mode (one read per book), logits of the last position only, plus,
for generation, one cached single-token step per token after the first, batched as
`medlc-hf` batched its generations (the same rows, the same number of tokens). It leaves
out the option tokens of the cloze variant, which every exact scorer must also run.
medlc-hf runs at `--batch_size` (default 8), stock `hf` at 1 (see `--help`).

Per mode it prints seconds per item, peaks, stock/ours and ours/floor, and the agreement
of ours with stock where stock ran: same predicted option per item and variant, the
largest log-likelihood difference, identical generations.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import torch
from lm_eval.api.instance import Instance
from rich.console import Console
from rich.table import Table

from medlc import scoring
from medlc.backend.kv import cache_argument, left_padded, new_cache
from medlc_core.models import resolve_pretrained
from medlc_core.provenance import versions
from medlc_tasks.exam.bundled import resolve_exam_dir
from medlc_tasks.loading import build_docs
from medlc_tasks.prompts import GEN_MAX_TOKENS, GEN_STOP, continuations, render_prompt

MODES = {"letter": ("letter",), "cloze": ("cloze",), "gen": ("gen",), "all": ("letter", "cloze", "gen")}
GEN_KWARGS = {"until": GEN_STOP, "max_gen_toks": GEN_MAX_TOKENS, "do_sample": False, "temperature": 0.0}


def mode_requests(exam_dir: Path, bucket: str, mode: str, items: int) -> tuple[list, list]:
    """(log-likelihood, generation) Instances of `items` items, as the medlc tasks build them."""
    loglik, gen = [], []
    for variant in MODES[mode]:
        task = f"bench_{bucket}_{variant}"
        for doc_id, doc in enumerate(build_docs(exam_dir, bucket, variant, None)[0][:items]):
            prompt = render_prompt(doc, variant)
            if variant == "gen":
                gen.append(Instance("generate_until", doc, (prompt, dict(GEN_KWARGS)), 0, (task, doc_id, 1)))
                continue
            for i, continuation in enumerate(continuations(doc, variant)):
                loglik.append(Instance("loglikelihood", doc, (prompt, continuation), i, (task, doc_id, 1)))
    return loglik, gen


def longest_prompts(requests: list) -> list[str]:
    """Each item's longest prompt, in item order: what the floor reads once per book."""
    longest: dict[int, str] = {}
    for request in requests:
        prompt = request.args[0]
        if len(prompt) > len(longest.get(request.doc_id, "")):
            longest[request.doc_id] = prompt
    return [longest[d] for d in sorted(longest)]


def floor(model, tokenizer, device, prompts: list[str], batches: list[list[int]]) -> None:
    """One bare read of each prompt, logits of its last position only; then, for each
    `[rows, tokens]` of `batches`, the next `rows` prompts (longest first) decode `tokens`
    tokens together from their reads: one batched single-token step per token after the
    first, as `medlc-hf`'s generation batches did."""
    name = cache_argument()
    prompts = sorted(prompts, key=lambda p: -len(tokenizer(p).input_ids)) if batches else prompts
    reads = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
            # A cache of full layers (`new_cache`), as medlc-hf keeps, so reads can be batched.
            kv = {name: new_cache()} if batches else {}
            out = model(input_ids=ids, logits_to_keep=1, use_cache=bool(batches), **kv)
            if batches:
                reads.append((getattr(out, name), ids.shape[1], out.logits[:, -1:].argmax(-1)))
        start = 0
        for rows, tokens in batches:
            group, start = reads[start : start + rows], start + rows
            width = max(length for _, length, _ in group)
            pads = [width - length for _, length, _ in group]
            cache = left_padded([kv for kv, _, _ in group], pads, width)
            mask = torch.tensor([[0] * pad + [1] * (width - pad) for pad in pads], device=device)
            token = torch.cat([first for _, _, first in group])
            positions = torch.tensor([[length] for _, length, _ in group], device=device)
            for _ in range(tokens - 1):
                mask = torch.cat([mask, mask.new_ones((len(group), 1))], dim=1)
                out = model(
                    input_ids=token, attention_mask=mask, position_ids=positions, logits_to_keep=1,
                    use_cache=True, **{name: cache},
                )  # fmt: skip
                cache, token, positions = getattr(out, name), out.logits[:, -1:].argmax(-1), positions + 1


def run_child(spec: dict) -> dict:
    """Load the model once, then run each of `spec["modes"]` of one bucket on one backend,
    each with a backend of its own; {mode: figures}."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = torch.device(spec["device"])
    path = resolve_pretrained(spec["model"], spec["gguf_file"])
    tokenizer = AutoTokenizer.from_pretrained(path)
    dtype = getattr(torch, spec["dtype"])
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=spec["attn"])
    model = model.to(device).eval()
    figures = {}
    for mode in spec["modes"]:
        figures[mode] = run_mode(model, tokenizer, device, spec, mode)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return figures


def run_mode(model, tokenizer, device: torch.device, spec: dict, mode: str) -> dict:
    """Warm up, then time one (bucket, mode) on one backend; the figures."""
    exam_dir = Path(spec["exam_dir"])
    loglik, gen = mode_requests(exam_dir, spec["bucket"], mode, spec["items"])
    # Warm-up on one closed-book item, generation included where the mode generates: the
    # first `generate` of a process costs seconds of one-off set-up.
    warm_loglik, warm_gen = mode_requests(exam_dir, "closed", "all", 1)
    warm_gen = warm_gen if gen else []
    backend = spec["backend"]
    lm = None
    if backend != "floor":
        shared = {"pretrained": model, "tokenizer": tokenizer}
        if backend == "stock":
            lm = scoring.build_lm("hf", shared, device=spec["device"])
        else:
            for name in ("prefix_cache_gib", "fuse_read_tokens"):
                if spec.get(name) is not None:
                    shared[name] = spec[name]
            lm = scoring.build_lm("medlc-hf", shared, batch_size=spec["batch_size"], device=spec["device"])
        lm.loglikelihood(warm_loglik, disable_tqdm=True)
        if warm_gen:
            lm.generate_until(warm_gen, disable_tqdm=True)
        if hasattr(lm, "pop_medlc_report"):
            lm.pop_medlc_report()
    else:
        floor(model, tokenizer, device, [warm_loglik[0].args[0]], [[1, 4]] if gen else [])
    batches: list[list[int]] = []
    if lm is not None:  # count what generation costs, for the floor
        generate = lm.model.generate

        def counted(*args, **kwargs):
            out = generate(*args, **kwargs)
            batches.append([out.shape[0], out.shape[1] - kwargs["input_ids"].shape[1]])
            return out

        lm.model.generate = counted
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    allocated_before = torch.cuda.memory_allocated() if device.type == "cuda" else None
    rss_before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    loglikelihoods, generations, report = [], [], None
    if lm is None:
        floor(model, tokenizer, device, longest_prompts(loglik + gen), spec["decode_batches"][mode])
    else:
        if loglik:
            loglikelihoods = [ll for ll, _ in lm.loglikelihood(loglik, disable_tqdm=True)]
        if gen:
            generations = lm.generate_until(gen, disable_tqdm=True)
        if hasattr(lm, "medlc_report"):
            report = lm.medlc_report()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if lm is not None:
        del lm.model.generate  # the instance attribute `counted`; the class's method again
    return {
        "seconds": seconds,
        "items": spec["items"],
        "ru_maxrss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "rss_before_gib": rss_before / 2**30,
        "cuda_peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
        "cuda_allocated_before_gib": None if allocated_before is None else allocated_before / 2**30,
        "prompt_tokens": [len(tokenizer(r.args[0]).input_ids) for r in gen + loglik if r.idx == 0],
        "requests": [[r.task_name, r.doc_id, r.idx] for r in loglik],
        "loglikelihoods": loglikelihoods,
        "generations": generations,
        "decode_batches": batches,
        "medlc_report": report,
    }


def spawn(spec: dict) -> dict:
    """`run_child(spec)` in a fresh Python process."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, __file__, "--child", json.dumps(spec), "--json", str(out)]
        subprocess.run(command, check=True)
        return json.loads(out.read_text(encoding="utf-8"))


def agreement(ours: dict, stock: dict) -> dict:
    """Same predicted option per (task, item); largest |Δ log-likelihood|; same generations."""

    def picks(figures: dict) -> dict:
        best: dict = {}
        for (task, doc, idx), ll in zip(figures["requests"], figures["loglikelihoods"], strict=True):
            if (task, doc) not in best or ll > best[(task, doc)][0]:
                best[(task, doc)] = (ll, idx)
        return {key: idx for key, (_, idx) in best.items()}

    ours_picks, stock_picks = picks(ours), picks(stock)
    deltas = [abs(a - b) for a, b in zip(ours["loglikelihoods"], stock["loglikelihoods"], strict=True)]
    same_gen = sum(a == b for a, b in zip(ours["generations"], stock["generations"], strict=True))
    return {
        "same_argmax": f"{sum(ours_picks[k] == stock_picks[k] for k in stock_picks)}/{len(stock_picks)}",
        "max_abs_loglik_delta": max(deltas, default=0.0),
        "same_generations": f"{same_gen}/{len(stock['generations'])}",
    }


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
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def cell(bucket: str, mode: str, figures: dict) -> dict:
    """One table row from the children's figures of one (bucket, mode)."""
    ours, floor_figures, stock = figures["ours"], figures["floor"], figures.get("stock")
    row = {"bucket": bucket, "mode": mode, "items": ours["items"]}
    row["mean_prompt_tokens"] = round(sum(ours["prompt_tokens"]) / len(ours["prompt_tokens"]))
    peak_key = "cuda_peak_gib" if ours["cuda_peak_gib"] is not None else "ru_maxrss_gib"
    for name, f in figures.items():
        row[f"{name}_s_per_item"] = round(f["seconds"] / f["items"], 3)
        row[f"{name}_peak_gib"] = round(f[peak_key], 3)
        row[f"{name}_rss_before_gib"] = round(f["rss_before_gib"], 3)
    row["ours_over_floor"] = round(ours["seconds"] / floor_figures["seconds"], 3)
    if stock is not None:
        row["stock_over_ours"] = round(stock["seconds"] / ours["seconds"], 2)
        row |= agreement(ours, stock)
    row["prefix_cache"] = (ours["medlc_report"] or {}).get("prefix_cache")
    row["scoring"] = (ours["medlc_report"] or {}).get("scoring")
    return row


def print_table(rows: list[dict], title: str, console: Console) -> None:
    columns = [
        ("bucket", "bucket"), ("mode", "mode"), ("items", "items"), ("prompt tok", "mean_prompt_tokens"),
        ("stock s/item", "stock_s_per_item"), ("ours s/item", "ours_s_per_item"),
        ("floor s/item", "floor_s_per_item"), ("stock/ours", "stock_over_ours"),
        ("ours/floor", "ours_over_floor"), ("stock peak GiB", "stock_peak_gib"),
        ("ours peak GiB", "ours_peak_gib"), ("floor peak GiB", "floor_peak_gib"),
        ("same argmax", "same_argmax"), ("max |Δll|", "max_abs_loglik_delta"),
        ("same gen", "same_generations"),
    ]  # fmt: skip
    table = Table(title=title)
    for name, _ in columns:
        table.add_column(name, justify="right")
    for row in rows:
        values = [row.get(key, "–") for _, key in columns]
        table.add_row(*(f"{v:.1e}" if isinstance(v, float) and k == "max_abs_loglik_delta" else str(v)
                        for v, (_, k) in zip(values, columns, strict=True)))  # fmt: skip
    console.print(table)
    for row in rows:
        if row["mode"] == "all":
            letter = next((r for r in rows if r["bucket"] == row["bucket"] and r["mode"] == "letter"), None)
            if letter:
                ratio = row["ours_s_per_item"] / letter["ours_s_per_item"]
                console.print(f"{row['bucket']}: ours, all three variants / letter alone = {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="gemma3-270m", help="bundled name, hub id or local dir")
    parser.add_argument("--gguf_file", default=None)
    parser.add_argument("--exam_dir", default=None, help="a built exam (default: the bundled exam)")
    parser.add_argument("--buckets", default="4k", help="comma-separated, e.g. closed,2k,4k")
    parser.add_argument("--modes", default="letter,cloze", help=f"comma-separated, of {','.join(MODES)}")
    parser.add_argument("--stock_modes", default=None, help='modes stock runs (default: --modes; "": none)')
    parser.add_argument("--items", type=int, default=5, help="items per bucket")
    parser.add_argument(
        "--batch_size", default=8, type=_batch_size,
        help="medlc-hf's batch_size, an int or auto; stock `hf` runs at 1, as its batches hold "
        "full-vocabulary logits for every token (8 rows of the 4k bucket: 8 x 3.3k x 262k floats, 27 GiB)",
    )  # fmt: skip
    parser.add_argument(
        "--prefix_cache_gib", type=float, default=None,
        help="medlc-hf's store cap (default: the backend's); a small one shows what an exam larger "
        "than the store costs, whose first books are gone when generation starts",
    )  # fmt: skip
    parser.add_argument(
        "--fuse_read_tokens", type=int, default=None,
        help="medlc-hf's longest read fused with its packed pass (default: the backend's; 0: never)",
    )  # fmt: skip
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--attn_implementation", default="sdpa")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.json).write_text(json.dumps(run_child(json.loads(args.child))), encoding="utf-8")
        return

    console = Console(width=220)
    modes = args.modes.split(",")
    stock_modes = (args.modes if args.stock_modes is None else args.stock_modes).split(",")
    common = {
        "model": args.model, "gguf_file": args.gguf_file, "device": args.device, "dtype": args.dtype,
        "attn": args.attn_implementation, "exam_dir": str(resolve_exam_dir(args.exam_dir)),
        "items": args.items, "batch_size": args.batch_size, "prefix_cache_gib": args.prefix_cache_gib,
        "fuse_read_tokens": args.fuse_read_tokens,
    }  # fmt: skip
    started = {"load_average": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    rows, raw = [], []
    # On CPU one child per (mode, bucket, backend), as a process's ru_maxrss is its
    # lifetime's peak; mode-major, so both buckets of a mode run close together in time (the
    # machine's load drifts). On CUDA the peak is reset per mode, so one child per (bucket,
    # backend) loads the model once and runs every mode. The figures are written after every
    # group, so a stopped run keeps them.
    buckets = args.buckets.split(",")
    if args.device.startswith("cuda"):
        groups = [(bucket, modes) for bucket in buckets]
    else:
        groups = [(bucket, [mode]) for mode in modes for bucket in buckets]
    for bucket, group in groups:
        spec = common | {"bucket": bucket, "modes": group, "decode_batches": {}}
        ours = spawn(spec | {"backend": "ours"})
        batches = {mode: figures["decode_batches"] for mode, figures in ours.items()}
        floors = spawn(spec | {"backend": "floor", "decode_batches": batches})
        stock_group = [mode for mode in group if mode in stock_modes]
        stock = spawn(spec | {"backend": "stock", "modes": stock_group}) if stock_group else {}
        for mode in group:
            figures = {"ours": ours[mode], "floor": floors[mode]} | (
                {"stock": stock[mode]} if mode in stock else {}
            )
            rows.append(cell(bucket, mode, figures))
            raw.append({"bucket": bucket, "mode": mode, "children": figures})
            console.log(
                f"{bucket} {mode}: "
                + ", ".join(f"{n} {f['seconds']:.1f}s" for n, f in figures.items())
                + f"; load average {os.getloadavg()}"
            )
        if args.json:
            write_figures(args, started, rows, raw, Path(args.json))
    title = f"scorer benchmark: {args.model} on {args.device} ({args.dtype}, {args.attn_implementation})"
    print_table(rows, title, console)
    console.print(f"machine: {machine()}; load average {started['load_average']} -> {os.getloadavg()}")


def write_figures(
    args: argparse.Namespace, started: dict, rows: list[dict], raw: list[dict], path: Path
) -> None:
    """The run so far, with the machine, versions and load, as JSON."""
    figures = {
        "machine": machine(),
        "started": started,
        "load_average_at_end": os.getloadavg(),
        "args": vars(args),
        "model_path": resolve_pretrained(args.model, args.gguf_file),
        "versions": versions(),
        "cells": rows,
        "raw": raw,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


def _batch_size(text: str) -> int | str:
    if text == "auto" or text.startswith("auto:") or (text.isdigit() and int(text) > 0):
        return int(text) if text.isdigit() else text
    raise argparse.ArgumentTypeError(f"expected a positive integer, auto or auto:N, got {text!r}")


if __name__ == "__main__":
    main()
