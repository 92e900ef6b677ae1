"""How many tokens a bucket's prompts are for each model's tokenizer.

    python benchmarks/bucket_tokens.py --models gemma3-270m,smollm2-135m-instruct --buckets closed,1k,2k,4k

Buckets are sized in characters of book, so their length in tokens depends on the
tokenizer: a model whose tokenizer spends more tokens per Chinese character reads a longer
sequence, and pays more, at the same bucket. Prints min / mean / max prompt tokens over the
first `--items` items of each bucket and variant, as the `medlc_*` tasks render them.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table
from transformers import AutoTokenizer

from medlc_core.models import resolve_pretrained
from medlc_tasks.exam.bundled import resolve_exam_dir
from medlc_tasks.loading import build_docs
from medlc_tasks.prompts import render_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--models", default="gemma3-270m,smollm2-135m-instruct")
    parser.add_argument("--buckets", default="closed,1k,2k,4k")
    parser.add_argument("--variant", default="cloze", choices=["letter", "cloze", "gen"])
    parser.add_argument("--items", type=int, default=20, help="items per bucket")
    parser.add_argument("--exam_dir", default=None, help="a built exam (default: the bundled exam)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    exam_dir = resolve_exam_dir(args.exam_dir)
    prompts = {}
    for bucket in args.buckets.split(","):
        docs = build_docs(exam_dir, bucket, args.variant, None)[0]
        prompts[bucket] = [render_prompt(doc, args.variant) for doc in docs]
    rows = []
    for model in args.models.split(","):
        tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(model, None))
        for bucket, texts in prompts.items():
            texts = texts[: args.items]
            counts = [len(tokenizer(text).input_ids) for text in texts]
            chars = statistics.mean(len(text) for text in texts)
            rows.append({
                "model": model, "bucket": bucket, "items": len(texts), "mean_chars": round(chars),
                "min_tokens": min(counts), "mean_tokens": round(statistics.mean(counts)),
                "max_tokens": max(counts), "tokens_per_char": round(statistics.mean(counts) / chars, 3),
            })  # fmt: skip
    table = Table(title=f"prompt tokens per bucket ({args.variant} variant, {exam_dir.name})")
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    Console(width=160).print(table)
    if args.json:
        figures = {"exam": str(exam_dir), "args": vars(args), "rows": rows}
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
