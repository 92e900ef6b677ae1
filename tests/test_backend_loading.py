"""medlc-hf loads local directories, peft adapters and GGUF files, and scores them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lm_eval.models.huggingface import HFLM

from medlc.backend import MedlcLM
from medlc_core.models import resolve_pretrained

from backend_support import loglikelihood_requests, write_tiny_gguf

TOLERANCE = 1e-3


def lls(lm, requests) -> list[float]:
    return [ll for ll, _ in lm.loglikelihood(requests, disable_tqdm=True)]


@pytest.fixture(scope="module")
def lora_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter with non-zero weights, saved as `finetune/` saves its checkpoints."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    # init_lora_weights=False: B is random too, so the adapter changes every score.
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(0)
    adapter = get_peft_model(base, config)
    out = tmp_path_factory.mktemp("lora")
    adapter.save_pretrained(out)
    return out


def test_peft_adapter_is_applied_and_scores_like_stock_hf(tiny_model_dir, lora_dir):
    requests = loglikelihood_requests("cloze")
    ours = MedlcLM(pretrained=str(tiny_model_dir), peft=str(lora_dir), device="cpu", dtype="float32")
    stock = HFLM(pretrained=str(tiny_model_dir), peft=str(lora_dir), device="cpu", dtype="float32")
    base = MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")
    with_adapter = lls(ours, requests)
    assert all(abs(a - b) <= TOLERANCE for a, b in zip(with_adapter, lls(stock, requests), strict=True))
    assert max(abs(a - b) for a, b in zip(with_adapter, lls(base, requests), strict=True)) > 0.01


@pytest.fixture
def gguf_dir(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLC_CACHE", str(tmp_path / "cache"))
    directory = tmp_path / "gguf"
    directory.mkdir()
    write_tiny_gguf(tiny_model_dir, directory / "tiny-f32.gguf")
    return directory


def test_gguf_file_is_converted_once_and_scores_like_stock_hf(gguf_dir, tmp_path):
    requests = loglikelihood_requests("cloze")
    ours = MedlcLM(pretrained=str(gguf_dir), gguf_file="tiny-f32.gguf", device="cpu", dtype="float32")
    converted = ours.pretrained
    assert converted.startswith(str(tmp_path / "cache"))
    stock = HFLM(pretrained=str(gguf_dir), gguf_file="tiny-f32.gguf", device="cpu", dtype="float32")
    assert all(
        abs(a - b) <= TOLERANCE for a, b in zip(lls(ours, requests), lls(stock, requests), strict=True)
    )
    assert ours.medlc_report()["model"] == {
        "pretrained": str(gguf_dir),
        "gguf_file": "tiny-f32.gguf",
        "resolved": converted,
    }


def test_second_gguf_load_reads_the_cached_conversion(gguf_dir):
    first = resolve_pretrained(str(gguf_dir), "tiny-f32.gguf")
    weights = next(Path(first).glob("*.safetensors"))
    stamp = weights.stat().st_mtime_ns
    again = MedlcLM(pretrained=str(gguf_dir / "tiny-f32.gguf"), device="cpu", dtype="float32")
    assert again.pretrained == first
    assert weights.stat().st_mtime_ns == stamp


def test_dtype_argument_sets_the_weights_dtype(tiny_model_dir):
    lm = MedlcLM(pretrained=str(tiny_model_dir), device="cpu", dtype="bfloat16")
    assert lm.model.dtype == torch.bfloat16
    scores = lm.loglikelihood(loglikelihood_requests("letter"), disable_tqdm=True)
    assert all(ll < 0 for ll, _ in scores)


def test_medlc_hf_is_registered_with_lm_eval():
    import lm_eval.api.registry

    import medlc.backend

    assert lm_eval.api.registry.get_model("medlc-hf") is medlc.backend.MedlcLM


def test_adapter_folder_as_pretrained_loads_its_base_with_the_adapter(tiny_model_dir, lora_dir):
    requests = loglikelihood_requests("cloze")
    folder = MedlcLM(pretrained=str(lora_dir), device="cpu", dtype="float32")
    explicit = MedlcLM(pretrained=str(tiny_model_dir), peft=str(lora_dir), device="cpu", dtype="float32")
    assert lls(folder, requests) == lls(explicit, requests)
    assert folder.medlc_report()["model"]["adapter"] == str(lora_dir)


def test_adapter_folder_in_task_metadata_gives_its_base_models_window(tiny_model_dir, lora_dir):
    from medlc_tasks.loading import model_window

    window = model_window({"pretrained": str(lora_dir)})
    assert window.window == model_window({"pretrained": str(tiny_model_dir)}).window
    assert window.source == str(tiny_model_dir)


def test_lm_eval_front_scores_an_adapter_folder_as_base_plus_peft(tiny_model_dir, lora_dir):
    import argparse

    from medlc.lm_eval_cli import prepare
    from medlc.scoring import tasks_dir

    args = prepare(argparse.Namespace(model_args={"pretrained": str(lora_dir)}, include_path=None))
    assert args.model_args == {"pretrained": str(tiny_model_dir), "peft": str(lora_dir)}
    assert args.include_path == [str(tasks_dir())]
