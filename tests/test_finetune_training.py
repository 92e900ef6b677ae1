"""The recipe end to end on a tiny model: it learns, it resumes exactly, it saves what the
harness loads."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from finetune.checkpoint import completed_checkpoints
from finetune.config import load_config
from finetune.mixture import MANIFEST_NAME
from finetune.recipe import RunExistsError, train
from finetune.tracking import read_log

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "finetune" / "configs" / "tiny_cpu_smoke.yaml"


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the smoke config names its fixtures relative to the repo root


@pytest.fixture
def smoke(tiny_model_dir, tmp_path):
    """The shipped tiny smoke config on the session's tiny model, writing under tmp_path."""

    def make(*overrides: str, run: str = "run"):
        return load_config(
            SMOKE, [f"model.pretrained={tiny_model_dir}", f"output_dir={tmp_path / run}", *overrides]
        )

    return make


def _losses(output_dir: str) -> list[float]:
    return [r["loss"] for r in read_log(Path(output_dir)) if r["kind"] == "train"]


def test_loss_goes_down_over_a_few_dozen_steps(smoke):
    config = smoke("adapter.method=full", "optim.lr=3e-3", "optim.max_steps=20", "runtime.save_every=0")
    train(config)
    losses = _losses(config.output_dir)
    assert len(losses) == 20
    assert mean(losses[-5:]) < mean(losses[:5]) - 1.0


def test_lora_training_lowers_the_loss(smoke):
    config = smoke("optim.max_steps=20", "runtime.save_every=0")
    train(config)
    losses = _losses(config.output_dir)
    assert mean(losses[-5:]) < mean(losses[:5]) - 0.05


class Killed(Exception):
    """Stands in for SIGKILL: raised mid-run, nothing gets a chance to save."""


def test_resume_after_a_kill_replays_the_same_data_and_reaches_the_same_loss(smoke):
    # LoRA dropout on, so matching losses also need the RNG state restored.
    settings = (
        "optim.max_steps=8",
        "runtime.save_every=3",
        "runtime.keep_checkpoints=3",
        "adapter.dropout=0.1",
    )
    whole = smoke(*settings, run="whole")
    train(whole)

    broken = smoke(*settings, run="broken")

    def kill_at_step_5(record):
        if record["step"] == 5:
            raise Killed

    with pytest.raises(Killed):
        train(broken, on_step=kill_at_step_5)
    assert [p.name for p in completed_checkpoints(Path(broken.output_dir))] == ["step_000003"]
    result = train(broken, resume=True)

    assert result.steps == 8
    whole_log = [r for r in read_log(Path(whole.output_dir)) if r["kind"] == "train"]
    broken_log = [r for r in read_log(Path(broken.output_dir)) if r["kind"] == "train"]
    assert [r["step"] for r in broken_log] == list(range(1, 9))  # steps 4-5 logged once, not twice
    assert [r["examples_sha256"] for r in broken_log] == [r["examples_sha256"] for r in whole_log]
    assert broken_log[-1]["loss"] == pytest.approx(whole_log[-1]["loss"], abs=1e-4)


def test_partial_checkpoint_left_by_a_kill_is_not_resumed_from(tmp_path):
    done = tmp_path / "checkpoints" / "step_000004"
    done.mkdir(parents=True)
    (done / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoints" / "step_000008.partial").mkdir()
    (tmp_path / "checkpoints" / "step_000012").mkdir()  # renamed but no state file: never completed
    assert completed_checkpoints(tmp_path) == [done]


def test_a_finished_run_is_not_overwritten(smoke):
    config = smoke("optim.max_steps=2", "runtime.save_every=0")
    train(config)
    with pytest.raises(RunExistsError, match="pass --resume"):
        train(config)


def test_saved_adapter_loads_with_peft_and_carries_template_and_manifest(smoke, tiny_model_dir):
    config = smoke("optim.max_steps=4", "runtime.save_every=0", "optim.lr=5e-2")
    result = train(config)
    adapter = Path(result.adapter_dir)
    manifest = json.loads((adapter / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert (manifest["general_fraction"], manifest["n"]) == (0.5, 16)
    assert AutoTokenizer.from_pretrained(adapter).chat_template
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.tensor([[5, 6, 7, 8]])
    before = base(ids).logits
    tuned = PeftModel.from_pretrained(base, str(adapter))
    assert not torch.allclose(tuned(ids).logits, before)


def test_merged_model_matches_base_plus_adapter(smoke, tiny_model_dir):
    config = smoke("optim.max_steps=4", "runtime.save_every=0", "optim.lr=5e-2", "adapter.save_merged=true")
    result = train(config)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(result.merged_dir)(ids).logits
        adapted = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_model_dir), result.adapter_dir
        )(ids).logits
    assert torch.allclose(merged, adapted, atol=1e-5)
    assert (Path(result.merged_dir) / MANIFEST_NAME).is_file()


def test_full_fine_tune_saves_a_plain_checkpoint(smoke):
    result = train(smoke("adapter.method=full", "optim.max_steps=2", "runtime.save_every=0"))
    assert result.adapter_dir is None
    model = AutoModelForCausalLM.from_pretrained(result.model_dir)
    assert model.config.use_cache
    assert (Path(result.model_dir) / MANIFEST_NAME).is_file()


def test_eval_loss_is_logged_on_held_out_rows(smoke):
    config = smoke("optim.max_steps=4", "runtime.eval_every=2", "runtime.save_every=0")
    result = train(config)
    evals = [r for r in read_log(Path(config.output_dir)) if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    assert evals[-1]["eval_loss"] == result.eval_loss
    assert evals[-1]["eval_tokens"] > 0
