"""Small edges of `medlc report` and the results store: a --variant the results lack is a
clear error, and every file they write gets a new file's usual mode (0666 less the
umask), so a results or report folder is as readable to a group as anything else."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from medlc.cli import main
from medlc_core.store import ResultStore

from fixtures.report_make_results import rows_for, write_pair

IDS = [f"q{i}" for i in range(8)]
INFO = {"kind": "general", "general_fraction": None, "n": None}


def letter_results(root: Path) -> Path:
    store = ResultStore(root)
    for task in ("medlc_closedbook", "medlc_openbook_1k"):
        write_pair(store, "model", INFO, task, rows_for(task, set(IDS[:5]), IDS))
    return root


def report(results: Path, out: Path, *flags: str) -> int:
    return main(["report", str(results), "--output_path", str(out), "--bootstrap_iters", "20", *flags])


def test_a_variant_the_results_lack_is_one_line_and_exit_2(tmp_path, capsys):
    results = letter_results(tmp_path / "results")
    assert report(results, tmp_path / "report", "--variant", "cloze") == 2
    err = capsys.readouterr().err
    assert err == (
        f"medlc report: {results}: --variant cloze: these results hold no cloze tasks; expected one of ['letter']\n"
    )
    assert not (tmp_path / "report").exists()


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_report_files_and_figures_get_the_usual_mode(umask, tmp_path):
    results = letter_results(tmp_path / "results")
    assert report(results, tmp_path / "report") == 0
    found = modes(tmp_path / "report")
    files = {name for name in found if (tmp_path / "report" / name).is_file()}
    assert {
        "leaderboard.md",
        "leaderboard.json",
        "leaderboard.html",
        "plots/bars.png",
        "plots/bars.svg",
    } <= files
    assert {name: found[name] for name in files} == {name: 0o666 & ~umask for name in files}
    assert found["plots"] == 0o777 & ~umask


def test_model_json_pair_folders_and_their_files_get_the_usual_mode(umask, tmp_path):
    root = letter_results(tmp_path / "results")
    found = modes(root)
    folders = {name for name in found if (root / name).is_dir()}
    assert any(name.endswith("model.json") for name in found) and len(ResultStore(root).done_pairs()) == 2
    assert {n: m for n, m in found.items() if n not in folders} == {
        n: 0o666 & ~umask for n in found if n not in folders
    }
    assert {n: found[n] for n in folders} == {n: 0o777 & ~umask for n in folders}
