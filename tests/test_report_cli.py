"""`medlc report RESULTS --output_path DIR` writes the three leaderboard files, prints the summary
table and the HTML path, and refuses a folder with nothing scored."""

from __future__ import annotations

from pathlib import Path

from medlc.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "report_results"


def test_report_writes_files_and_prints_table_and_html_path(tmp_path, capsys):
    assert main(["report", str(FIXTURE), "--output_path", str(tmp_path), "--bootstrap_iters", "100"]) == 0
    out = capsys.readouterr().out
    written = {p.name for p in tmp_path.iterdir()}
    assert written == {"leaderboard.md", "leaderboard.json", "leaderboard.html", "plots"}
    assert "medlc leaderboard (letter variant" in out and "alpha" in out and "0.625" in out
    assert f"HTML report: {(tmp_path / 'leaderboard.html').resolve()}" in out


def test_report_on_a_folder_without_results_exits_2_with_the_reason(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--output_path", str(tmp_path / "out")]) == 2
    assert "no completed pairs" in capsys.readouterr().err
