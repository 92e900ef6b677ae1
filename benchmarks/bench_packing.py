"""Packing on vs off: training tokens per second and the fraction of padding tokens.

Runs the real recipe (finetune.recipe.train) twice on the same mixture, once padding each
micro-batch to its longest example and once packing examples into max_length rows, and
prints one row per mode. Tokens per second counts real (non-pad) tokens only, so it is the
rate at which training data gets through; padding fraction is pad tokens / tensor tokens.

    python benchmarks/bench_packing.py                        # tiny random Llama, CPU
    python benchmarks/bench_packing.py --model gemma3-270m --steps 4 --max-length 512

Data defaults to ../shared (alpaca_zh_demo + the GB18030 internal-medicine CSV); pass
--fixtures to use the small test fixtures instead. CPU timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "tests"))


def shared_sources() -> list[str]:
    general, medical = (
        SHARED / "general" / "alpaca_zh_demo.json",
        SHARED / "medical" / "toyhom_internal_medicine_sample.csv",
    )
    return [
        f"data.sources=[{{name: alpaca_zh_demo, path: {general}, role: general, format: alpaca}}, "
        f"{{name: toyhom, path: {medical}, role: medical, format: csv, encoding: gb18030, "
        "columns: {prompt: [title, ask], response: answer}}]"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="pretrained name/path; default: a tiny random Llama")
    parser.add_argument(
        "--fixtures", action="store_true", help="use tests/fixtures data instead of ../shared"
    )
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from finetune.config import load_config
    from finetune.recipe import train

    work = Path(tempfile.mkdtemp(prefix="bench_packing_"))
    model = args.model
    if model is None:
        from tiny_models import build_tiny_model

        model = str(build_tiny_model(work / "tiny-llama"))
    data = [] if args.fixtures else shared_sources()
    n = min(args.n, 16) if args.fixtures else args.n
    rows = []
    for packing in (False, True):
        config = load_config(
            REPO / "finetune" / "configs" / "tiny_cpu_smoke.yaml",
            [
                f"model.pretrained={model}",
                f"output_dir={work / ('packed' if packing else 'padded')}",
                f"run_name=bench_{'packed' if packing else 'padded'}",
                *data,
                f"data.n={n}",
                "data.eval_fraction=0",
                f"data.max_length={args.max_length}",
                f"optim.micro_batch_size={args.micro_batch}",
                "optim.grad_accum=1",
                f"optim.max_steps={args.steps}",
                "runtime.save_every=0",
                f"runtime.packing={str(packing).lower()}",
            ],
        )
        result = train(config)
        rows.append(
            {
                "model": model if args.model else "tiny-llama (random, 2 layers, hidden 64)",
                "packing": packing,
                "steps": result.steps,
                "micro_batch": args.micro_batch,
                "max_length": args.max_length,
                "tokens": result.tokens_seen,
                "tokens_per_second": round(result.tokens_per_second, 1),
                "padding_fraction": round(result.padding_fraction, 4),
                "wall_seconds": round(result.wall_seconds, 2),
            }
        )
    table = Table("packing", "steps", "real tokens", "tokens/s", "padding", "wall s")
    for row in rows:
        table.add_row(
            "on" if row["packing"] else "off",
            str(row["steps"]),
            f"{row['tokens']:,}",
            f"{row['tokens_per_second']:,.0f}",
            f"{row['padding_fraction']:.1%}",
            f"{row['wall_seconds']:.1f}",
        )
    Console().print(table)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
