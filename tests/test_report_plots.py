"""The report draws every figure as PNG and SVG, and says why when one cannot be drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import leaderboard, plots
from reports.collect import collect

FIXTURE = Path(__file__).parent / "fixtures" / "report_results"


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    board = leaderboard.build(collect(FIXTURE), iters=100)
    return plots.draw_all(board, tmp_path_factory.mktemp("plots"))


def by_name(figures, prefix):
    return [f for f in figures if f.name.startswith(prefix)]


@pytest.mark.parametrize("name", ["bars", "ratio", "volume", "gain_vs_closed"])
def test_figure_is_written_as_png_and_svg(figures, name):
    (fig,) = by_name(figures, name)
    assert fig.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in fig.svg.read_bytes()[:2000]


def test_one_length_by_depth_heatmap_per_model(figures):
    assert len(by_name(figures, "heatmap_")) == 4
    assert all(f.png.is_file() and f.svg.is_file() for f in by_name(figures, "heatmap_"))


def test_svg_output_is_reproducible(tmp_path):
    board = leaderboard.build(collect(FIXTURE), iters=100)
    first = plots.bars(board.variants["letter"], tmp_path / "a").svg.read_bytes()
    assert first == plots.bars(board.variants["letter"], tmp_path / "b").svg.read_bytes()


def test_ratio_curve_without_mixture_models_is_explained_not_drawn(tmp_path):
    board = leaderboard.build([r for r in collect(FIXTURE) if r.model.kind != "mixture"], iters=100)
    fig = plots.ratio_curve(board.variants["letter"], tmp_path)
    assert fig.png is None and "mixture" in fig.note
    assert not list(tmp_path.glob("ratio.*"))


def heatmap_labels(row, out: Path) -> list[str]:
    """The cell labels a heatmap's SVG shows (text kept as text, not glyph paths)."""
    import re

    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = plots.heatmap(row, out).svg.read_text(encoding="utf-8")
    return re.findall(r"n=\d+(?: \(&lt;5\))?", svg)


def test_every_heatmap_cell_shows_its_n_and_cells_under_five_items_are_flagged(tmp_path):
    row = leaderboard.Row("m", "0" * 16, "general", None, None, "letter", "acc")
    row.depth_grid = {"1k": {0.0: (0.6, 5), 0.5: (1.0, 2)}, "2k": {0.0: (0.5, 6)}}
    # Row by row (1k, 2k), depth by depth (0.0, 0.5); 2k has no item at depth 0.5.
    assert heatmap_labels(row, tmp_path) == ["n=5", "n=2 (&lt;5)", "n=6", "n=0 (&lt;5)"]
