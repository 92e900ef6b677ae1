"""`medlc build-exam` and `medlc validate-exam`: argument parsing and rich summaries only."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from medlc_tasks.exam.book import BookError
from medlc_tasks.exam.build import BuildOptions, SourceSpec, build_exam
from medlc_tasks.exam.bundled import BUNDLED_SEED, bundled_exam_dir, bundled_sources, resolve_exam_dir
from medlc_tasks.exam.loaders import FORMATS, parse_mapping
from medlc_tasks.exam.schema import DEFAULT_BUCKETS, MANIFEST_FILE
from medlc_tasks.exam.store import ExamDirError, read_manifest
from medlc_tasks.exam.textnorm import KNOWN_ENCODINGS, SourceError
from medlc_tasks.exam.validate import ACCEPTED, CHECKS, validate_exam

console = Console()
SHOWN_DROPS = 20  # the summary lists this many; manifest.json lists every drop


def register(subparsers: argparse._SubParsersAction) -> None:
    build = subparsers.add_parser(
        "build-exam",
        help="build an open-book exam from exam files (default: the bundled exam)",
        description="Build an open-book exam: a JSONL per length bucket, a closed-book file, manifest.json.",
    )
    build.add_argument(
        "inputs", nargs="*", type=Path, help="exam files (CSV, JSON, JSONL); none: the bundled exam"
    )
    build.add_argument("--format", default="auto", choices=FORMATS, help="input layout (default: detect)")
    build.add_argument(
        "--map",
        dest="mapping",
        default=None,
        help="field mapping, e.g. question=题干,options=选项,answer=答案,evidence=解析",
    )
    build.add_argument(
        "--encoding",
        default="auto",
        choices=KNOWN_ENCODINGS,
        help="input encoding (auto: UTF-8, else GB18030)",
    )
    build.add_argument(
        "--reference",
        nargs="+",
        default=[],
        type=Path,
        metavar="FILE",
        help="reference text files for distractors and missing evidence",
    )
    build.add_argument(
        "--reference-encoding",
        default="auto",
        choices=KNOWN_ENCODINGS,
        help="encoding of the reference files (auto: UTF-8, else GB18030)",
    )
    build.add_argument(
        "--buckets",
        default=",".join(DEFAULT_BUCKETS),
        help="book lengths: 1k,2k,4k or name=chars (default: %(default)s)",
    )
    build.add_argument("--seed", type=int, default=BUNDLED_SEED)
    build.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default for the bundled exam: the medlc cache)",
    )
    build.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stop at the first bad row (default) or drop and count bad rows",
    )
    build.add_argument(
        "--drop-multi-answer",
        action="store_true",
        help="drop multi-answer items (counted) instead of keeping them",
    )
    build.set_defaults(func=run_build)

    check = subparsers.add_parser(
        "validate-exam",
        help="check a built exam and list per-item problems (exit 1 if any)",
        description="Check a built exam: evidence supports the key, no distractor backs another option, "
        "no leaked letters, gold depth, book lengths, file hashes.",
    )
    check.add_argument(
        "exam_dir",
        nargs="?",
        default=None,
        help="a built exam (default: $MEDLC_EXAM_DIR, else the bundled exam)",
    )
    check.add_argument(
        "--skip",
        nargs="+",
        default=[],
        choices=CHECKS,
        metavar="CHECK",
        help=f"checks to skip: {', '.join(CHECKS)}",
    )
    check.add_argument(
        "--show",
        type=int,
        default=50,
        help="problems to list (0: all); the per-check counts always cover all",
    )
    check.set_defaults(func=run_validate)


def parse_buckets(spec: str) -> dict[str, int]:
    """`1k,2k,32k` or `short=1500,long=6000` -> {name: characters}."""
    buckets: dict[str, int] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        name, _, value = part.rpartition("=") if "=" in part else (part, "", part)
        match = re.fullmatch(r"(\d+)(k?)", value.strip().lower())
        if match is None or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise SourceError(
                "--buckets", repr(part), "expected a size such as 4k or 1500, or name=size with a plain name"
            )
        buckets[name] = int(match.group(1)) * (1000 if match.group(2) else 1)
    if not buckets:
        raise SourceError("--buckets", repr(spec), "no buckets given")
    return buckets


def run_build(args: argparse.Namespace) -> int:
    try:
        buckets = parse_buckets(args.buckets)
        mapping = parse_mapping(args.mapping) if args.mapping else None
        options = BuildOptions(
            strict=args.strict,
            drop_multi_answer=args.drop_multi_answer,
            reference_encoding=args.reference_encoding,
        )
        inputs, references = list(args.inputs), list(args.reference)
        if not inputs:
            items, bundled_references = bundled_sources()
            # The cached bundled exam serves only the default build; anything else is built anew.
            if (
                args.out is None
                and args.seed == BUNDLED_SEED
                and not references
                and options == BuildOptions()
            ):
                out = bundled_exam_dir(buckets)
                _print_summary(read_manifest(out), out, "the bundled exam (cached)")
                return 0
            inputs, references = items, bundled_references + references
        if args.out is None:
            raise SourceError(
                "build-exam", "--out", "an output directory is required when building your own exam"
            )
        specs = [SourceSpec(path, args.format, mapping, args.encoding) for path in inputs]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("building", total=None)

            def report(stage: str, done: int, total: int) -> None:
                progress.update(task, description=stage, completed=done, total=total)

            manifest = build_exam(specs, args.out, buckets, args.seed, references, options, report)
    except (SourceError, BookError, ExamDirError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2
    _print_summary(manifest, args.out)
    return 0


def _print_summary(manifest: dict[str, Any], out: Path, what: str = "exam written") -> None:
    counts = manifest["counts"]
    sources = Table(title="sources", title_justify="left")
    for column in ("file", "format", "encoding", "read", "kept", "dropped", "multi-answer", "options"):
        sources.add_column(column, overflow="fold")
    for source in manifest["sources"]:
        options = ", ".join(f"{n}: {c}" for n, c in source["options"].items())
        numbers = (source["rows_read"], source["kept"], source["dropped"], source["multi_answer_kept"])
        _add_row(sources, source["name"], source["format"], source["encoding"], *map(str, numbers), options)
    console.print(sources)
    read, kept, dropped = counts["items_read"], counts["items_kept"], counts["items_dropped"]
    console.print(
        f"items: {read} read, {kept} kept, {dropped} dropped; "
        f"{counts['multi_answer']} multi-answer, {counts['counterfactual']} counterfactual, "
        f"{len(counts['departments'])} departments; leaks scrubbed: {manifest['leaks']['scrubbed']} "
        f"in {manifest['leaks']['items']} items",
        highlight=False,
        soft_wrap=True,
    )
    if manifest["drops"]:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in manifest["drop_kinds"].items())
        drops = Table(title=escape(f"dropped rows ({kinds})"), title_justify="left")
        for column in ("file", "id", "kind", "reason"):
            drops.add_column(column, overflow="fold")
        for drop in manifest["drops"][:SHOWN_DROPS]:
            _add_row(drops, drop["source"], drop["id"], drop["kind"], drop["reason"])
        console.print(drops)
        if len(manifest["drops"]) > SHOWN_DROPS:
            rest = len(manifest["drops"]) - SHOWN_DROPS
            console.print(
                f"{rest} more dropped rows are listed under 'drops' in {out / MANIFEST_FILE}", soft_wrap=True
            )
    stats = Table(title="books", title_justify="left")
    for column in ("bucket", "target", "items", "min", "mean", "max", "passages", "depths 0/.25/.5/.75/1"):
        stats.add_column(column)
    for bucket in manifest["bucket_order"]:
        row = manifest["bucket_stats"][bucket]
        depths = "/".join(str(n) for n in row["depth_counts"].values())
        numbers = ("target_chars", "count", "min_chars", "mean_chars", "max_chars", "mean_passages")
        _add_row(stats, bucket, *(str(row[key]) for key in numbers), depths)
    console.print(stats)
    console.print(f"{what}: {out}", highlight=False, soft_wrap=True)


def _add_row(table: Table, *cells: str) -> None:
    """Cells are data, not markup: a reason such as "keys ['id']" must print as written."""
    table.add_row(*(escape(cell) for cell in cells))


def run_validate(args: argparse.Namespace) -> int:
    try:
        exam_dir = resolve_exam_dir(args.exam_dir)
        problems = validate_exam(exam_dir, skip=tuple(args.skip))
    except (SourceError, BookError, ExamDirError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2
    for check, ids in problems.accepted.items():
        console.print(
            f"accepted: {len(ids)} items under {check}: {ACCEPTED[check]}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if not problems:
        console.print(f"[green]{escape(str(exam_dir))}: no problems[/green]", highlight=False, soft_wrap=True)
        return 0
    by_check = Table(title=escape(f"{len(problems)} problems in {exam_dir}"), title_justify="left")
    by_check.add_column("check")
    by_check.add_column("problems", justify="right")
    by_check.add_column("items", justify="right")
    for check in CHECKS:
        found = [p for p in problems if p.check == check]
        if found:
            by_check.add_row(check, str(len(found)), str(len({p.item_id for p in found if p.item_id})))
    console.print(by_check)
    shown = problems if args.show <= 0 else problems[: args.show]
    listing = Table(show_lines=False)
    for column in ("item", "bucket", "check", "message"):
        listing.add_column(column, overflow="fold")
    for problem in shown:
        _add_row(listing, problem.item_id or "-", problem.bucket, problem.check, problem.message)
    console.print(listing)
    if len(shown) < len(problems):
        console.print(
            f"{len(problems) - len(shown)} more problems not listed; pass --show 0 to list all",
            highlight=False,
            soft_wrap=True,
        )
    return 1
