"""`medlc build-exam` and `medlc validate-exam`: argument parsing and rich summaries only."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from medlc_core.errors import print_user_error
from medlc_tasks.exam.balance import BucketFigures
from medlc_tasks.exam.book import BookError
from medlc_tasks.exam.build import AUTO_BUCKETS, BuildOptions, EmptyExamError, SourceSpec, build_exam
from medlc_tasks.exam.bundled import (
    BUNDLED_LIMITS,
    BUNDLED_OPTIONS,
    BUNDLED_SEED,
    bundled_exam_dir,
    bundled_sources,
    resolve_exam_dir,
)
from medlc_tasks.exam.loaders import FORMATS, parse_mapping
from medlc_tasks.exam.schema import DEFAULT_BUCKETS, MANIFEST_FILE
from medlc_tasks.exam.store import ExamDirError, read_manifest
from medlc_tasks.exam.textnorm import KNOWN_ENCODINGS, SourceError
from medlc_tasks.exam.validate import (
    ACCEPTED,
    CHECKS,
    SHORTCUT_FIX,
    ShortcutReport,
    shortcut_report,
    validate_exam,
)

console = Console()
SHOWN_DROPS = 20  # the summary lists this many; manifest.json lists every drop


def register(subparsers: argparse._SubParsersAction) -> None:
    build = subparsers.add_parser(
        "build-exam",
        allow_abbrev=False,
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
        default=AUTO_BUCKETS,
        help=f"book lengths: 1k,2k,4k or name=chars, all required; or {AUTO_BUCKETS} (the default): "
        f"{','.join(DEFAULT_BUCKETS)} as far as the pool can fill them, the rest skipped and listed",
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
        allow_abbrev=False,
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


def parse_buckets(spec: str) -> dict[str, int] | None:
    """`1k,2k,32k` or `short=1500,long=6000` -> {name: characters}; `auto` -> None (plan from the pool)."""
    if spec.strip().lower() == AUTO_BUCKETS:
        return None
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
            options = dataclasses.replace(options, shortcut_limits=BUNDLED_LIMITS)
            # The cached bundled exam serves only the default build; anything else is built anew.
            if (
                args.out is None
                and args.seed == BUNDLED_SEED
                and not references
                and options == BUNDLED_OPTIONS
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
    except EmptyExamError as err:
        _print_drops(err.summary, None)
        return print_user_error("build-exam", err)
    except (SourceError, BookError, ExamDirError) as err:
        return print_user_error("build-exam", err)
    _print_summary(manifest, args.out)
    return 0


def _print_summary(manifest: dict[str, Any], out: Path, what: str = "exam written") -> None:
    """Sources, items, drops and their commonest reasons, books per bucket, skipped buckets, advice."""
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
    _say(
        f"items: {read} read, {kept} kept, {dropped} dropped; "
        f"{counts['multi_answer']} multi-answer, {counts['counterfactual']} counterfactual, "
        f"{len(counts['departments'])} departments; leaks scrubbed: {manifest['leaks']['scrubbed']} "
        f"in {manifest['leaks']['items']} items; {counts['items_with_siblings']} items with siblings "
        f"({counts['sibling_passages_excluded']} sibling passages kept out of their books)"
    )
    _print_drops(manifest, out)
    stats = Table(title="books", title_justify="left")
    for column in ("bucket", "target", "items", "min", "mean", "max", "passages", "depths 0/.25/.5/.75/1"):
        stats.add_column(column)
    for bucket in manifest["bucket_order"]:
        row = manifest["bucket_stats"][bucket]
        depths = "/".join(str(n) for n in row["depth_counts"].values())
        numbers = ("target_chars", "count", "min_chars", "mean_chars", "max_chars", "mean_passages")
        _add_row(stats, bucket, *(str(row[key]) for key in numbers), depths)
    console.print(stats)
    stats = manifest["bucket_stats"]
    _print_figures({bucket: BucketFigures.from_dict(stats[bucket]) for bucket in manifest["bucket_order"]})
    _say(f"buckets built: {', '.join(manifest['bucket_order'])}")
    for skipped in manifest["buckets_skipped"].values():
        _say(f"[yellow]skipped[/yellow] {escape(skipped['message'])}", markup=True)
    _print_missing_decoys(manifest)
    for line in manifest["advice"]:
        _say(f"to get more: {line}")
    _say(f"{what}: {out}")


def _print_drops(summary: dict[str, Any], out: Path | None) -> None:
    """The dropped rows (the first SHOWN_DROPS) and the commonest reasons."""
    if not summary["drops"]:
        return
    kinds = ", ".join(f"{kind}: {count}" for kind, count in summary["drop_kinds"].items())
    drops = Table(title=escape(f"dropped rows ({kinds})"), title_justify="left")
    for column in ("file", "id", "kind", "reason"):
        drops.add_column(column, overflow="fold")
    for drop in summary["drops"][:SHOWN_DROPS]:
        _add_row(drops, drop["source"], drop["id"], drop["kind"], drop["reason"])
    console.print(drops)
    if len(summary["drops"]) > SHOWN_DROPS:
        where = f" in {out / MANIFEST_FILE}" if out is not None else ""
        _say(f"{len(summary['drops']) - SHOWN_DROPS} more dropped rows are listed under 'drops'{where}")
    for reason in summary["drop_reasons_top"]:
        _say(f"most common: {reason['kind']} x{reason['count']}: {reason['reason']}")


def _print_missing_decoys(manifest: dict[str, Any]) -> None:
    """Items whose books lack a decoy for some option, or name the key more than any other option."""
    short = {
        item_id: info
        for item_id, info in manifest["items"].items()
        if info["decoys_missing"] or info["key_named_most"]
    }
    if not short:
        return
    table = Table(title=f"items short of decoys ({len(short)})", title_justify="left")
    for column in ("item", "options without a decoy, per bucket", "key named most in"):
        table.add_column(column, overflow="fold")
    for item_id, info in list(short.items())[:SHOWN_DROPS]:
        missing = "; ".join(f"{b}: {''.join(letters)}" for b, letters in info["decoys_missing"].items())
        _add_row(table, item_id, missing or "-", ", ".join(info["key_named_most"]) or "-")
    console.print(table)
    if len(short) > SHOWN_DROPS:
        _say(
            f"{len(short) - SHOWN_DROPS} more are listed in manifest.json "
            "(items.<id>.decoys_missing, key_named_most)"
        )


def _print_figures(figures: dict[str, BucketFigures]) -> None:
    """One row per bucket: what the count rule scores, how often only the key is named, decoy coverage."""
    table = Table(
        title="answering without reading (count rule: pick the most-named option)", title_justify="left"
    )
    for column in ("bucket", "single-answer items", "count rule", "key only named", "decoy coverage"):
        table.add_column(column, justify="right")
    for bucket, row in figures.items():
        cells = (row.single_answer_items, f"{row.count_accuracy:.3f}", f"{row.key_only_share:.1%}")
        _add_row(table, bucket, *map(str, cells), f"{row.decoy_coverage:.1%}")
    console.print(table)


def _say(text: str, markup: bool = False) -> None:
    """One line of the summary; text is data unless `markup` says the caller escaped it."""
    console.print(text, highlight=False, soft_wrap=True, markup=markup)


def _add_row(table: Table, *cells: str) -> None:
    """Cells are data, not markup: a reason such as "keys ['id']" must print as written."""
    table.add_row(*(escape(cell) for cell in cells))


def run_validate(args: argparse.Namespace) -> int:
    try:
        exam_dir = resolve_exam_dir(args.exam_dir)
        shortcuts = shortcut_report(exam_dir)
        problems = validate_exam(exam_dir, skip=tuple(args.skip), shortcuts=shortcuts)
    except (SourceError, BookError, ExamDirError) as err:
        return print_user_error("validate-exam", err)
    _print_shortcuts(shortcuts)
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
        _say(f"{len(problems) - len(shown)} more problems not listed; pass --show 0 to list all")
    return 1


def _print_shortcuts(report: ShortcutReport) -> None:
    """Per bucket: the count rule's accuracy, the only-key share and decoy coverage, with the limits.

    Where the exam does not enforce the limits (a user's exam), a breach is a warning with the fix.
    """
    limits = report.limits
    _print_figures(report.figures)
    enforced = "enforced" if limits.enforce else "not enforced for this exam: warnings only"
    _say(
        f"limits ({enforced}): count rule <= {limits.max_count_accuracy:.2f}, key only named <= "
        f"{limits.max_key_only_share:.0%}, decoy coverage >= {limits.min_decoy_coverage:.0%}"
    )
    if report.breaches and not limits.enforce:
        for breach in report.breaches:
            _say(f"warning: {breach.bucket}: {breach.check}: {breach.message}")
        _say(f"fix: {SHORTCUT_FIX}")
