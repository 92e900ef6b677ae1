"""A single-file HTML leaderboard: sortable tables, figures inlined, no network needed."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from reports import leaderboard
from reports.baselines import ABOVE_COUNT, footnotes
from reports.leaderboard import Leaderboard, Row, cells, columns, split_estimate
from reports.plots import Figure

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d1d1f;max-width:1400px}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #d0d0d7;padding:.3rem .5rem;text-align:right;white-space:nowrap}
th{background:#f2f2f6;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"} th[aria-sort=descending]::after{content:" \\25BC"}
td:first-child,td:nth-child(2),th:first-child{text-align:left}
.ci{color:#6e6e73;font-size:.72rem;display:block}
.scroll{overflow-x:auto}
details pre{background:#f7f7f9;padding:.75rem;font-size:.8rem;white-space:pre-wrap}
.warn{background:#fff4e5;border-left:4px solid #f29900;padding:.5rem 1rem}
figure{display:inline-block;margin:.5rem;vertical-align:top}
figure img{max-width:640px;border:1px solid #e5e5ea}
tr.baseline td{background:#f4f6f8;font-style:italic;color:#3a3a3c}
.mark{color:#b3261e;font-weight:bold}
.notes{font-size:.8rem;color:#3a3a3c;margin:.25rem 0 1rem;padding-left:1.2rem}
footer{margin-top:2rem;font-size:.8rem;color:#6e6e73;border-top:1px solid #d0d0d7;padding-top:.5rem}
"""

# Click a header to sort by it; numbers sort by their point estimate (data-v). A link
# ending in #sort=<column> (or #sort=<column>:asc) opens the page already sorted.
SCRIPT = """
function sortBy(table, col, asc){
  table.querySelectorAll("th").forEach(function(h){h.removeAttribute("aria-sort")});
  table.tHead.rows[0].cells[col].setAttribute("aria-sort", asc ? "ascending" : "descending");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function(a, b){
    var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
    var nx = parseFloat(x), ny = parseFloat(y);
    var cmp = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
    return asc ? cmp : -cmp;
  });
  rows.forEach(function(r){body.appendChild(r)});
}
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.addEventListener("click", function(){
      sortBy(table, col, th.getAttribute("aria-sort") !== "ascending");
    });
  });
});
var wanted = decodeURIComponent(location.hash).match(/^#sort=([^:]+)(:asc)?$/);
if (wanted) {
  document.querySelectorAll("table.sortable").forEach(function(table){
    table.querySelectorAll("th").forEach(function(th, col){
      if (th.textContent === wanted[1]) sortBy(table, col, !!wanted[2]);
    });
  });
}
"""


def _sort_values(row: Row, buckets: list[str]) -> list[str]:
    def v(e):
        return "" if e is None else repr(e.value)

    return (
        [
            row.model,
            row.kind,
            "" if row.general_fraction is None else repr(row.general_fraction),
            "" if row.n is None else str(row.n),
            v(row.closed),
        ]
        + [v(row.open_by_bucket.get(b)) for b in buckets]
        + [
            v(row.open_overall),
            v(row.versus.above_count if row.versus else None),
            v(row.gain),
            v(row.counterfactual),
            v(row.format_compliance),
            ""
            if all(n is None for n in row.over_length.values())
            else str(sum(n or 0 for n in row.over_length.values())),
        ]
    )


def _cell(text: str, sort_value: str, sources: list[str]) -> str:
    # "0.625 [0.51, 0.74]" shows the interval under the value, smaller and grey; any other
    # text (a model named "tiny [v2]") is shown whole. A baseline-matched score's mark stays
    # beside the value. Hovering a cell names the result folders it was computed from.
    estimate = split_estimate(text)
    if estimate is None:
        body = html.escape(text)
    else:
        value, interval, mark = estimate
        body = html.escape(value) + (
            f' <span class="mark">{html.escape(mark.strip())}</span>' if mark else ""
        )
        body += f'<span class="ci">[{html.escape(interval)}]</span>'
    title = f' title="{html.escape(chr(10).join(sources))}"' if sources else ""
    return f'<td data-v="{html.escape(sort_value)}"{title}>{body}</td>'


def _table(board: Leaderboard, variant: str) -> str:
    buckets = board.buckets[variant]
    labels = columns(board, variant)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in labels)
    rows = board.variants[variant]
    body = "".join(
        ('<tr class="baseline">' if row.baseline else "<tr>")
        + "".join(
            _cell(t, s, _hover(row, label))
            for t, s, label in zip(cells(row, buckets), _sort_values(row, buckets), labels, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in footnotes(rows))
    return (
        f'<div class="scroll"><table class="sortable" id="table-{variant}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>" + (f'<ul class="notes">{notes}</ul>' if notes else "")
    )


def _hover(row: Row, label: str) -> list[str]:
    """A cell's tooltip lines: its result folders; for a missing above-count, why."""
    if label == ABOVE_COUNT and row.versus and row.versus.not_comparable:
        return [f"not comparable: {row.versus.not_comparable}"]
    return row.sources.get(label, [])


def _figure(fig: Figure) -> str:
    if fig.svg is None:
        return f"<p><em>{html.escape(fig.title)}</em>: not drawn ({html.escape(fig.note)}).</p>"
    data = base64.b64encode(fig.svg.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(fig.title)}" src="data:image/svg+xml;base64,{data}">'
        f"<figcaption>{html.escape(fig.title)}</figcaption></figure>"
    )


def _footer(board: Leaderboard) -> str:
    p = board.provenance
    lines = [
        f"{lib} {', '.join(v)}"
        for lib, v in p["versions"].items()
        if lib in ("medlc", "lm_eval", "transformers", "torch")
    ]
    lines += [
        f"exam data {', '.join(p['exam_hashes']) or '–'}",
        "task versions " + ", ".join(f"{t} v{v}" for t, v in p["task_versions"].items()),
        f"backend {', '.join(p['backends'])}",
        f"scored {p['scored_from']} to {p['scored_to']}",
        f"report {p['report_date']}",
        f"intervals: {int(board.bootstrap['level'] * 100)}% cluster bootstrap over questions, "
        f"{board.bootstrap['iters']} draws, seed {board.bootstrap['seed']}",
    ]
    return "<footer>" + "<br>".join(html.escape(line) for line in lines) + "</footer>"


def render(board: Leaderboard, figures: list[Figure]) -> str:
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<title>medlc leaderboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>medlc leaderboard</h1>",
        "<p>Click a column header to sort. Cells show the mean and its 95% interval.</p>",
    ]
    parts += [f'<p class="warn">{html.escape(w)}</p>' for w in board.warnings]
    parts += [
        f'<p>See also: <a href="{html.escape(to)}">{html.escape(text)}</a></p>'
        if to
        else f"<p>Next: {html.escape(text)}</p>"
        for text, to in board.links
    ]
    for variant in board.variants:
        parts.append(f"<h2>{html.escape(variant)} variant</h2>")
        parts.append(_table(board, variant))
    parts.append(
        "<details><summary>How each number is computed</summary>"
        f"<pre>{html.escape(leaderboard.__doc__ or '')}</pre></details>"
    )
    if board.other:
        rows = "".join(
            f"<tr><td>{html.escape(o.model)}</td><td>{html.escape(o.task)}</td><td>{html.escape(o.metric)}</td>"
            f'<td data-v="{o.estimate.value!r}">{o.estimate.value:.3f} <span '
            f'class="ci">[{o.estimate.low:.2f}, '
            f"{o.estimate.high:.2f}]</span></td></tr>"
            for o in board.other
        )
        parts.append(
            '<h2>other tasks</h2><table class="sortable"><thead><tr><th>model</th><th>task</th>'
            f"<th>metric</th><th>score</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    parts.append("<h2>figures</h2>")
    parts += [_figure(fig) for fig in figures]
    parts += [_footer(board), f"<script>{SCRIPT}</script></body></html>"]
    return "\n".join(parts)


def write(board: Leaderboard, figures: list[Figure], out: Path) -> Path:
    from medlc_core.atomic import atomic_write

    path = out / "leaderboard.html"
    atomic_write(path, render(board, figures))
    return path
