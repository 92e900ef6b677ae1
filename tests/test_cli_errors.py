"""Every medlc command reports a user's mistake the same way: one line on stderr,
`medlc <command>: <message>`, exit code 2, the message printed exactly as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.cli import main
from medlc_core.config import ConfigError
from medlc_core.errors import print_user_error, reports_user_errors

MARKUP_LIKE = "a [b] [/c] |d <e> :smile: [bold]x"
REPO = Path(__file__).resolve().parents[1]


def test_printer_writes_one_line_naming_the_command_and_returns_2(capsys):
    assert print_user_error("run", ConfigError("cfg.yaml: settings.limit: expected a count,\ngot 'x'")) == 2
    assert capsys.readouterr().err == "medlc run: cfg.yaml: settings.limit: expected a count, got 'x'\n"


def test_printer_shows_text_that_looks_like_markup_verbatim(capsys):
    print_user_error("check", ConfigError(MARKUP_LIKE))
    assert capsys.readouterr().err == f"medlc check: {MARKUP_LIKE}\n"


def test_an_error_that_is_not_the_users_keeps_its_traceback():
    @reports_user_errors("run")
    def broken(_args) -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        broken(None)


def _duplicate_name_config(tmp_path: Path) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "roster:\n"
        f"  - {{name: '{MARKUP_LIKE}', kind: general, pretrained: /m/one}}\n"
        f"  - {{name: '{MARKUP_LIKE}', kind: general, pretrained: /m/two}}\n"
        "tasks: [medlc_closedbook]\n",
        encoding="utf-8",
    )
    return path


def test_run_prints_a_config_error_with_a_markup_like_model_name_verbatim(tmp_path, capsys):
    config = _duplicate_name_config(tmp_path)
    assert main(["run", str(config), "--output_path", str(tmp_path / "results")]) == 2
    assert capsys.readouterr().err == (
        f"medlc run: {config}: roster[1].name: expected a unique display name; "
        f"{MARKUP_LIKE!r} is used twice\n"
    )


@pytest.mark.parametrize(
    ("argv", "command", "says"),
    [
        (["report", "{tmp}/none"], "report", "no such results directory"),
        (
            ["check", "--baseline", "{tmp}/none", "--candidate", "{tmp}/none"],
            "check",
            "no such results directory",
        ),
        (["finetune", "{tmp}/none.yaml"], "finetune", "none.yaml: no such config file"),
        (["sweep", "{tmp}/none.yaml"], "sweep", "none.yaml: no such sweep file"),
        (
            ["sweep", str(REPO / "finetune/configs/sweep_tiny_ratio.yaml"), "--shard", "x"],
            "sweep",
            "--shard 'x'",
        ),
        (["run", "{tmp}/none.yaml"], "run", "none.yaml: no such config file"),
        (["run", "--shard", "4/4"], "run", "--shard '4/4'"),
        (["validate-exam", "{tmp}"], "validate-exam", "not a built exam"),
        (["build-exam", "--buckets", f"x={MARKUP_LIKE}"], "build-exam", MARKUP_LIKE),
    ],
)
def test_every_command_reports_user_errors_as_one_line_and_exit_2(argv, command, says, tmp_path, capsys):
    assert main([arg.replace("{tmp}", str(tmp_path)) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medlc {command}: ") and err.count("\n") == 1
    assert says in err
