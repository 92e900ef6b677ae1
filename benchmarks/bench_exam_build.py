"""How long building and validating the bundled exam takes (all six buckets, 1k..32k).

    python benchmarks/bench_exam_build.py [--repeat 3]

Prints wall-clock seconds per stage; nothing is asserted, because timings belong to the
machine, not to the test suite.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from medlc_tasks.exam.build import build_exam
from medlc_tasks.exam.bundled import BUNDLED_SEED, bundled_sources
from medlc_tasks.exam.schema import DEFAULT_BUCKETS
from medlc_tasks.exam.validate import validate_exam


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items, references = bundled_sources()
    print(
        f"bundled sources: {len(items)} item files, {len(references)} reference files; cpus: {os.cpu_count()}"
    )
    for run in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "exam"
            start = time.perf_counter()
            manifest = build_exam(items, out, DEFAULT_BUCKETS, BUNDLED_SEED, references)
            built = time.perf_counter()
            problems = validate_exam(out)
            checked = time.perf_counter()
            size = sum(path.stat().st_size for path in out.iterdir())
        print(
            f"run {run}: build {built - start:.2f} s, validate {checked - built:.2f} s; "
            f"{manifest['counts']['items_kept']} items x {len(DEFAULT_BUCKETS)} buckets, "
            f"{size / 1e6:.1f} MB written, {len(problems)} problems"
        )


if __name__ == "__main__":
    main()
