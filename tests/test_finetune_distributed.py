"""DDP for real: two CPU processes (gloo) under torchrun, as `accelerate launch` runs them on GPUs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from finetune.tracking import read_log

REPO = Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "finetune" / "configs" / "tiny_cpu_smoke.yaml")


def _finetune(launcher: list[str], model: Path, out: Path, *overrides: str) -> None:
    args = [
        f"model.pretrained={model}",
        f"output_dir={out}",
        "adapter.dropout=0",
        "optim.max_steps=6",
        "runtime.save_every=3",
        *overrides,
    ]
    command = [*launcher, "-m", "finetune", SMOKE, *(x for o in args for x in ("--set", o))]
    # ACCELERATE_USE_CPU makes accelerate set up gloo DDP rather than look for GPUs.
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    # The same 4 micro-batches per step: 2 processes x 1, or 1 process accumulating 2 x 2.
    _finetune(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
        tiny_model_dir,
        root / "ddp",
        "optim.grad_accum=1",
    )
    _finetune([sys.executable], tiny_model_dir, root / "single", "optim.grad_accum=2")
    return root / "ddp", root / "single"


def test_two_processes_train_exactly_like_one_accumulating_process(runs):
    ddp, single = runs
    ddp_log = [r for r in read_log(ddp) if r["kind"] == "train"]
    single_log = [r for r in read_log(single) if r["kind"] == "train"]
    assert [r["examples_sha256"] for r in ddp_log] == [r["examples_sha256"] for r in single_log]
    assert [r["loss"] for r in ddp_log] == pytest.approx([r["loss"] for r in single_log], abs=1e-5)


def test_ddp_checkpoint_holds_the_adapter_tensors_and_every_process_rng(runs):
    ddp, _ = runs
    checkpoint = ddp / "checkpoints" / "step_000003"
    saved = load_file(checkpoint / "model.safetensors")
    assert saved and all(".lora_" in name and not name.startswith("module.") for name in saved)
    assert (checkpoint / "random_states_0.pkl").is_file() and (checkpoint / "random_states_1.pkl").is_file()
