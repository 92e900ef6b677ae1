"""The report's figures, each written as PNG and SVG (matplotlib, Agg backend).

A figure that has nothing to show (e.g. the ratio curve without mixture checkpoints) is
not drawn; `draw_all` returns a note saying why, and the report prints it. Model-free
baselines are drawn like models and marked: hatched grey bars, "(baseline)" in labels.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from medlc_core.atomic import atomic_write  # noqa: E402
from reports.leaderboard import Leaderboard, Row  # noqa: E402
from reports.stats import Estimate  # noqa: E402

# A heatmap cell with fewer items than this is hatched and its n flagged: its accuracy is
# a handful of coin flips.
FEW_ITEMS = 5
BASELINE_HATCH = "//"

# Same inputs give byte-identical SVGs: no timestamps, fixed element ids.
matplotlib.rcParams["svg.hashsalt"] = "medlc"
# Labels are names (models, buckets): a `$` in one is a dollar sign, not mathtext.
matplotlib.rcParams["text.parse_math"] = False
SAVE_META = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    png: Path | None = None
    svg: Path | None = None
    note: str = ""  # why it was not drawn, when png is None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _save(fig, out: Path, name: str, title: str) -> Figure:
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    for path, options in ((png, {"dpi": 120}), (svg, {})):
        buffer = io.BytesIO()  # written whole, like every report file (atomic_write)
        fig.savefig(
            buffer,
            format=path.suffix[1:],
            bbox_inches="tight",
            metadata=SAVE_META[path.suffix[1:]],
            **options,
        )
        atomic_write(path, buffer.getvalue())
    plt.close(fig)
    return Figure(name, title, png, svg)


def label(row: Row) -> str:
    """A row's name in a figure; baselines say so."""
    return f"{row.model} (baseline)" if row.baseline else row.model


def _err(estimates: list[Estimate | None]) -> tuple[list[float], list[list[float]]]:
    values = [e.value if e else float("nan") for e in estimates]
    lows = [e.value - e.low if e else 0.0 for e in estimates]
    highs = [e.high - e.value if e else 0.0 for e in estimates]
    return values, [lows, highs]


def bars(rows: list[Row], out: Path) -> Figure:
    """Closed- and open-book accuracy per model with 95% intervals (baselines hatched grey)."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 3.6))
    width = 0.38
    xs = range(len(rows))
    for offset, book, key, color in (
        (-width / 2, "closed book", "closed", "C0"),
        (width / 2, "open book", "open_overall", "C1"),
    ):
        values, err = _err([getattr(r, key) for r in rows])
        drawn = ax.bar([x + offset for x in xs], values, width, yerr=err, capsize=3, label=book, color=color)
        for bar, row in zip(drawn, rows, strict=True):
            if row.baseline:
                bar.set(hatch=BASELINE_HATCH, facecolor="lightgrey", edgecolor=color)
    ax.set_xticks(list(xs), [label(r) for r in rows], rotation=30, ha="right")
    ax.set_ylabel(f"accuracy ({rows[0].metric})")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title("Accuracy per model (95% bootstrap CI)")
    return _save(fig, out, "bars", "Accuracy per model")


def _mixture_rows(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.general_fraction is not None and r.n is not None and r.open_overall]


def _curves(
    rows: list[Row], out: Path, x_attr: str, line_attr: str, name: str, title: str, xlabel: str
) -> Figure:
    mixed = _mixture_rows(rows)
    if not mixed:
        return Figure(
            name,
            title,
            note="no models with a general fraction and volume (mixture checkpoints) in these results",
        )
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    lines = sorted({getattr(r, line_attr) for r in mixed})
    for i, key in enumerate(lines):
        points = sorted((r for r in mixed if getattr(r, line_attr) == key), key=lambda r: getattr(r, x_attr))
        xs = [getattr(r, x_attr) for r in points]
        color = f"C{i % 10}"
        values, err = _err([r.open_overall for r in points])
        ax.errorbar(
            xs, values, yerr=err, marker="o", capsize=3, color=color, label=f"{line_attr}={key:g} open"
        )
        closed = [r.closed for r in points]
        if any(closed):
            values, _ = _err(closed)
            ax.plot(
                xs,
                values,
                linestyle="--",
                marker="x",
                color=color,
                alpha=0.7,
                label=f"{line_attr}={key:g} closed",
            )
    # The base and medical models are the reference levels the mixtures move between.
    for j, ref in enumerate(r for r in rows if r.general_fraction is None and r.open_overall):
        ax.axhline(
            ref.open_overall.value,
            linestyle=":",
            color=f"C{(len(lines) + j) % 10}",
            label=f"{label(ref)} open" if ref.baseline else f"{ref.model} ({ref.kind}) open",
        )
    if x_attr == "n" and len({r.n for r in mixed}) > 2 and min(r.n for r in mixed) > 0:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"accuracy ({mixed[0].metric})")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title(title)
    return _save(fig, out, name, title)


def ratio_curve(rows: list[Row], out: Path) -> Figure:
    return _curves(
        rows,
        out,
        "general_fraction",
        "n",
        "ratio",
        "Accuracy vs general fraction",
        "general fraction of the tuning mix",
    )


def volume_curve(rows: list[Row], out: Path) -> Figure:
    return _curves(
        rows, out, "n", "general_fraction", "volume", "Accuracy vs tuning volume", "tuning examples (n)"
    )


def heatmap(row: Row, out: Path) -> Figure:
    """Open-book accuracy by book length and gold depth for one model; every cell shows its
    n, and a cell of fewer than FEW_ITEMS items is hatched and its n flagged."""
    name, title = f"heatmap_{_slug(row.model)}_{row.fingerprint[:6]}", f"Length x depth: {label(row)}"
    if not row.depth_grid:
        return Figure(name, title, note=f"{row.model}: no open-book items with a recorded depth")
    buckets = list(row.depth_grid)
    depths = sorted({d for cells in row.depth_grid.values() for d in cells})
    grid = [[row.depth_grid[b].get(d, (float("nan"), 0))[0] for d in depths] for b in buckets]
    fig, ax = plt.subplots(figsize=(1.1 * len(depths) + 2, 0.6 * len(buckets) + 1.6))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, b in enumerate(buckets):
        for j, d in enumerate(depths):
            acc, n = row.depth_grid[b].get(d, (float("nan"), 0))
            few = n < FEW_ITEMS
            if few:
                ax.add_patch(
                    Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="red", linewidth=0)
                )
            ax.text(
                j,
                i,
                (f"{acc:.2f}\n" if n else "") + f"n={n}" + (" (<5)" if few else ""),
                ha="center",
                va="center",
                fontsize=7,
                color="black" if few or acc >= 0.6 else "white",
                fontweight="bold" if few else "normal",
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "pad": 0.2} if few else None,
            )
    ax.set_xticks(range(len(depths)), [f"{d:g}" for d in depths])
    ax.set_yticks(range(len(buckets)), buckets)
    ax.set_xlabel(f"gold passage depth (hatched: fewer than {FEW_ITEMS} items)")
    ax.set_ylabel("book length")
    fig.colorbar(image, ax=ax, label="accuracy")
    ax.set_title(title, fontsize=9)
    return _save(fig, out, name, title)


def gain_vs_closed(rows: list[Row], out: Path) -> Figure:
    """Reading (open - closed) against knowing (closed), one point per model."""
    name, title = "gain_vs_closed", "Open-book gain vs closed-book accuracy"
    points = [r for r in rows if r.gain and r.closed]
    if not points:
        return Figure(name, title, note="no model has both closed- and open-book scores")
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    for i, r in enumerate(points):
        ax.errorbar(
            r.closed.value,
            r.gain.value,
            xerr=[[r.closed.value - r.closed.low], [r.closed.high - r.closed.value]],
            yerr=[[r.gain.value - r.gain.low], [r.gain.high - r.gain.value]],
            marker="x" if r.baseline else "o",
            capsize=3,
            color="grey" if r.baseline else f"C{i % 10}",
        )
        ax.annotate(
            label(r), (r.closed.value, r.gain.value), textcoords="offset points", xytext=(5, 5), fontsize=7
        )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("closed-book accuracy (knowing)")
    ax.set_ylabel("open - closed (reading)")
    ax.set_title(title)
    return _save(fig, out, name, title)


def primary_variant(board: Leaderboard, wanted: str | None = None) -> str:
    if wanted:
        if wanted not in board.variants:
            raise ValueError(f"variant {wanted!r} not in these results; have {sorted(board.variants)}")
        return wanted
    return next(iter(board.variants))


def draw_all(board: Leaderboard, out: Path, variant: str | None = None) -> list[Figure]:
    """Every figure for one variant (default: the first present of letter, cloze, gen)."""
    if not board.variants:
        return [Figure("bars", "Accuracy per model", note="no medlc tasks in these results")]
    rows = board.variants[primary_variant(board, variant)]
    figures = [bars(rows, out), ratio_curve(rows, out), volume_curve(rows, out), gain_vs_closed(rows, out)]
    figures += [heatmap(row, out) for row in rows]
    return figures
