"""Names are data: a model name, path or source file that looks like markup
(`a [b] [/c] |d <e>`) reaches every command's output as written, never as rich markup,
a Markdown table column, HTML or mathtext, and never crashes a command."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from medlc.cli import main
from medlc.runner.config import load_config
from medlc.runner.run import run
from medlc_core.store import ResultStore
from reports.leaderboard import md

from fixtures.harness import one_model_config
from fixtures.report_make_results import rows_for, write_pair

NAME = "a [b] [/c] |d <e>"
FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
ITEMS = [f"q{i:03d}" for i in range(60)]
INFO = {"kind": "general", "general_fraction": None, "n": None}


def one_line(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines; the words are what count


def results(root: Path, name: str = NAME) -> Path:
    store = ResultStore(root)
    for task in ("medlc_closedbook", "medlc_openbook_1k"):
        write_pair(store, name, INFO, task, rows_for(task, set(ITEMS[::2]), ITEMS))
    return root


@pytest.fixture(scope="module")
def config_path(tiny_model_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "names.yaml"
    return one_model_config(path, tiny_model_dir, ["medlc_closedbook"], name=NAME)


def test_run_shows_the_model_name_in_its_live_progress_as_written(config_path, tmp_path):
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200)
    run(load_config(config_path), tmp_path / "results", console=console)
    assert f"{NAME}: loading" in screen.getvalue()


def test_run_prints_a_results_path_that_looks_like_markup_as_written(config_path, tmp_path, capsys):
    out = tmp_path / NAME
    assert main(["run", str(config_path), "--output_path", str(out)]) == 0
    assert f"-> {out}" in one_line(capsys.readouterr().out)


def test_report_prints_the_model_name_as_written(tmp_path, capsys):
    root = results(tmp_path / "results")
    assert (
        main(["report", str(root), "--output_path", str(tmp_path / "report"), "--bootstrap_iters", "20"]) == 0
    )
    assert NAME in capsys.readouterr().out


def test_report_of_a_model_named_with_brackets_does_not_crash(tmp_path):
    root = results(tmp_path / "results", "tiny [v2]")
    assert (
        main(["report", str(root), "--output_path", str(tmp_path / "report"), "--bootstrap_iters", "20"]) == 0
    )


def test_markdown_row_keeps_the_name_in_one_cell_and_shows_it_as_written(tmp_path):
    root = results(tmp_path / "results")
    main(["report", str(root), "--output_path", str(tmp_path / "report"), "--bootstrap_iters", "20"])
    lines = (tmp_path / "report" / "leaderboard.md").read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("| model |"))
    (row,) = [line for line in lines if line.startswith("| a ")]
    cells = re.split(r"(?<!\\)\|", row)
    assert len(cells) == len(re.split(r"(?<!\\)\|", header))
    assert cells[1].strip() == r"a \[b\] \[/c\] \|d &lt;e&gt;" == md(NAME)
    assert "<e>" not in "\n".join(lines)


def test_html_shows_a_bracketed_name_whole_not_split_as_an_interval(tmp_path):
    root = results(tmp_path / "results", "tiny [v2]")
    main(["report", str(root), "--output_path", str(tmp_path / "report"), "--bootstrap_iters", "20"])
    page = (tmp_path / "report" / "leaderboard.html").read_text(encoding="utf-8")
    assert '<td data-v="tiny [v2]">tiny [v2]</td>' in page


def test_html_escapes_a_name_that_looks_like_markup(tmp_path):
    root = results(tmp_path / "results")
    main(["report", str(root), "--output_path", str(tmp_path / "report"), "--bootstrap_iters", "20"])
    page = (tmp_path / "report" / "leaderboard.html").read_text(encoding="utf-8")
    assert "a [b] [/c] |d &lt;e&gt;</td>" in page and "<e>" not in page


def test_a_dollar_sign_in_a_name_is_drawn_not_parsed_as_mathtext(tmp_path):
    root = results(tmp_path / "results", r"m $\unknown$")
    assert (
        main(["report", str(root), "--output_path", str(tmp_path / "report"), "--bootstrap_iters", "20"]) == 0
    )
    assert (tmp_path / "report" / "plots" / "bars.svg").is_file()


def test_check_prints_model_names_as_written(tmp_path, capsys):
    base, cand = results(tmp_path / "base"), results(tmp_path / "cand")
    assert main(["check", "--baseline", str(base), "--candidate", str(cand)]) == 0
    assert f"regression gate: {NAME} vs baseline {NAME}" in one_line(capsys.readouterr().out)


def test_check_refusal_prints_paths_as_written(tmp_path, capsys):
    base = results(tmp_path / NAME)
    assert main(["check", "--baseline", str(base), "--candidate", str(tmp_path / "none [/x]")]) == 2
    assert capsys.readouterr().err == f"medlc check: {tmp_path / 'none [/x]'}: no such results directory\n"


@pytest.mark.parametrize("command", ["lm-eval", "eval"])
def test_lm_eval_and_eval_print_a_markup_like_exam_dir_as_written(command, tiny_model_dir, tmp_path, capsys):
    exam = tmp_path / NAME
    argv = [command, "--model", "medlc-hf", "--model_args", f"pretrained={tiny_model_dir}"]
    argv += ["--tasks", "medlc_closedbook", "--metadata", json.dumps({"exam_dir": str(exam)})]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        err
        == f"medlc {command}: the given exam_dir {str(exam)!r} is not a built exam (no manifest.json); build one with `medlc build-exam`"
    )


def test_build_exam_and_validate_exam_print_markup_like_paths_as_written(tmp_path, capsys):
    source = tmp_path / f"{NAME}.json"  # "[/c]" makes it a folder "a [b] [" holding "c] |d <e>.json"
    source.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "exam_foreign.json", source)
    out = tmp_path / f"exam {NAME}"
    mapping = "id=编号,question=题干,options=选项,answer=答案,evidence=解析,department=科室"
    argv = ["build-exam", str(source), "--map", mapping, "--out", str(out)]
    argv += ["--reference", str(FIXTURES / "exam_reference.txt"), "--buckets", "s=300"]
    assert main(argv) == 0
    assert f"exam written: {out}" in one_line(capsys.readouterr().out)
    assert main(["validate-exam", str(out)]) == 0
    assert f"{out}: no problems" in one_line(capsys.readouterr().out)


def test_finetune_prints_a_markup_like_path_in_its_error_as_written(tmp_path, capsys):
    smoke = REPO / "finetune" / "configs" / "tiny_cpu_smoke.yaml"
    missing = tmp_path / f"{NAME}.jsonl"
    assert main(["finetune", str(smoke), "--set", f"data.sources.0.path={missing}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medlc finetune: ") and str(missing) in err and err.count("\n") == 1


def test_sweep_prints_its_table_when_runs_under_a_markup_like_path_fail(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    sweep = REPO / "finetune" / "configs" / "sweep_tiny_ratio.yaml"
    missing = tmp_path / f"model {NAME}"
    argv = [
        "sweep",
        str(sweep),
        "--output_path",
        str(tmp_path / NAME),
        "--set",
        f"model.pretrained={missing}",
    ]
    assert main(argv) == 1  # every run fails: the model is not there
    table = capsys.readouterr().err
    assert table.count("failed") == 3 and "gf0.50_n16" in table
