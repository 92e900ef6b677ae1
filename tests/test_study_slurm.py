"""The example Slurm script submits the study's stages as dependent job arrays, one array
task per shard, and each task runs `medlc study` on its `--shard i/N`."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from medlc.cli import build_parser

SCRIPT = Path(__file__).resolve().parents[1] / "harness_configs" / "study_slurm.sh"


def fake(bin_dir: Path, name: str, body: str) -> Path:
    path = bin_dir / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def run_script(tmp_path: Path, *args: str, **env: str) -> list[str]:
    """Run the script with fake `sbatch` and `medlc` that log their arguments."""
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake(bin_dir, "sbatch", f'echo "sbatch $*" >> {log}; echo $(( $(wc -l < {log}) + 100 ))')
    medlc = fake(bin_dir, "medlc-fake", f'echo "medlc $*" >> {log}')
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MEDLC": str(medlc), **env}
    subprocess.run(["bash", str(SCRIPT), *args], check=True, env=environment, capture_output=True)
    return log.read_text(encoding="utf-8").splitlines()


def test_submission_chains_sweep_score_and_report(tmp_path):
    calls = run_script(tmp_path, "s.yaml", "3")
    assert len(calls) == 3
    sweep, score, report = calls
    assert "--array=0-2" in sweep and sweep.endswith("s.yaml 3 sweep")
    assert "--array=0-2 --dependency=afterok:101" in score and score.endswith("s.yaml 3 score")
    assert "--dependency=afterok:102" in report and "--array" not in report and report.endswith("report")


def test_an_array_task_scores_its_own_shard(tmp_path):
    (call,) = run_script(tmp_path, "s.yaml", "3", "score", SLURM_ARRAY_TASK_ID="2")
    args = call.split()[1:]
    assert args == ["study", "s.yaml", "--stage", "score", "--shard", "2/3"]
    parsed = build_parser(["study"]).parse_args(args)
    assert (parsed.stage, parsed.shard) == ("score", "2/3")
