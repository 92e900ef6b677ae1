"""A config that asks for a GPU stops before it starts on a machine without one, naming what
asked, and runs anyway when told to (`--allow_cpu`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlc.cli import main
from medlc_core import hardware

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without CUDA, whatever it really has."""
    monkeypatch.setattr(hardware, "cuda_visible", lambda: False)
    monkeypatch.chdir(REPO)


def test_gpu_finetune_config_stops_before_training_and_names_what_asked(no_gpu, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["finetune", "finetune/configs/gpu_lora.yaml", "--set", f"output_dir={out}"])
    message = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "finetune/configs/gpu_lora.yaml: runtime.mixed_precision: bf16" in message
    assert "no CUDA device is visible" in message and "--allow_cpu" in message


def test_gpu_sweep_stops_before_any_grid_point_trains(no_gpu, tmp_path, capsys):
    code = main(["sweep", "finetune/configs/sweep_gemma3_grid.yaml", "--output_path", str(tmp_path / "grid")])
    assert code == 2 and not (tmp_path / "grid").exists()
    assert "runtime.mixed_precision: bf16" in capsys.readouterr().err


def test_flash_attention_alone_asks_for_a_gpu(no_gpu, tmp_path, capsys):
    overrides = [
        "--set",
        "model.attn_implementation=flash_attention_2",
        "--set",
        f"output_dir={tmp_path / 'r'}",
    ]
    assert main(["finetune", "finetune/configs/tiny_cpu_smoke.yaml", *overrides]) == 2
    assert "model.attn_implementation: flash_attention_2" in capsys.readouterr().err


@pytest.fixture
def own_precision():
    """accelerate keeps one mixed precision per process: earlier tests' runs set "no", and
    this one's bf16 must not leak into later ones."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def test_allow_cpu_runs_a_bf16_config_on_the_cpu(no_gpu, own_precision, tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    overrides = [f"model.pretrained={tiny_model_dir}", "runtime.mixed_precision=bf16", "optim.max_steps=1"]
    overrides += [f"output_dir={out}", "runtime.save_every=0", "runtime.eval_every=0"]
    args = ["finetune", "finetune/configs/tiny_cpu_smoke.yaml", "--allow_cpu"]
    assert main(args + [x for o in overrides for x in ("--set", o)]) == 0
    assert json.loads((out / "run_result.json").read_text())["steps"] == 1


def test_a_cpu_config_needs_no_flag(no_gpu):
    from finetune.config import gpu_requests, load_config

    assert gpu_requests(load_config(REPO / "finetune/configs/tiny_cpu_smoke.yaml")) == []
