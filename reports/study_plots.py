"""The study report's figures: every metric against general fraction (one line per volume)
and against volume (one line per fraction), 95% intervals, one panel per metric, with the
base and comparison models as reference levels and the saturation fits where there are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reports.leaderboard import Row
from reports.plots import Figure, _err, _save, plt
from reports.saturation import Saturation, curve
from reports.stats import Estimate

Metric = tuple[str, str, Callable[[Row], Estimate | None]]  # (key, label, getter)
LINE_STYLES = ("-", "--", "-.", ":")


def _panel_grid(count: int):
    cols = min(3, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows + 0.8), squeeze=False, sharex=True)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _references(ax, key: str, getter, references: list[Row], first: bool) -> None:
    for j, ref in enumerate(references):
        value = getter(ref)
        if value is None:
            continue
        style = LINE_STYLES[j % len(LINE_STYLES)]
        label = f"{ref.model} ({ref.kind})" if first else None
        ax.axhline(value.value, linestyle=style, color="grey", linewidth=0.9, alpha=0.8, label=label)


def metric_curves(
    checkpoints: list[Row],
    references: list[Row],
    metrics: list[Metric],
    by: str,
    out: Path,
    name: str,
    title: str,
    fits: dict[tuple[float, str], Saturation] | None = None,
) -> Figure:
    """`by` = "general_fraction" (lines per volume) or "n" (lines per fraction)."""
    line_attr = "n" if by == "general_fraction" else "general_fraction"
    if not checkpoints:
        return Figure(name, title, note="no mixture checkpoints with a general fraction and volume")
    fig, axes = _panel_grid(len(metrics))
    keys = sorted({getattr(r, line_attr) for r in checkpoints})
    for index, (ax, (key, label, getter)) in enumerate(zip(axes, metrics, strict=True)):
        for i, line in enumerate(keys):
            points = sorted(
                (r for r in checkpoints if getattr(r, line_attr) == line), key=lambda r: getattr(r, by)
            )
            estimates = [getter(r) for r in points]
            if not any(estimates):
                continue
            xs = [getattr(r, by) for r in points]
            values, err = _err(estimates)
            text = f"n={line}" if line_attr == "n" else f"gf={line:g}"
            ax.errorbar(xs, values, yerr=err, marker="o", capsize=3, color=f"C{i % 10}", label=text)
            fit = (fits or {}).get((line, key)) if by == "n" else None
            if fit is not None and fit.a is not None:
                grid = [x * max(xs) / 100 for x in range(1, 101)]
                ax.plot(grid, curve(grid, fit.a, fit.b, fit.k), color=f"C{i % 10}", alpha=0.4, linewidth=1)
        _references(ax, key, getter, references, first=index == 0)
        if by == "n" and len({r.n for r in checkpoints}) > 2:
            ax.set_xscale("log")
        ax.set_ylim(-1, 1) if key == "gain" else ax.set_ylim(0, 1)
        if key == "gain":
            ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(
            "general fraction of the tuning mix" if by == "general_fraction" else "tuning examples (n)"
        )
    # One legend for every panel: the lines and reference levels are the same in each.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, fontsize=7, loc="lower center", ncol=min(6, len(labels) or 1))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) // 6), 1, 0.97))
    return _save(fig, out, name, title)
