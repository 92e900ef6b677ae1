"""The GPU check's own tools, on CPU: the offline bundle's logic (benchmarks/gpu_bundle.py)
and bench_scorer's child that runs several modes on one loaded model, as it does on CUDA."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAM = Path(__file__).resolve().parent / "fixtures" / "tasks_exam"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bundle():
    return load("gpu_bundle")


def test_closure_follows_requirements_and_their_extras(bundle):
    found = bundle.closure("medlc")
    # direct requirements, and what they need in turn (lm-eval -> evaluate -> dill)
    assert {"lm-eval", "datasets", "transformers", "evaluate", "dill", "bm25s"} <= set(found)
    # only the extras a requirement names: medlc's own `test` extra is not followed
    assert "ruff" not in found and "pytest" not in found
    from importlib.metadata import version

    assert found["lm-eval"] == version("lm-eval")


def test_have_names_reads_words_and_pip_freeze(bundle, tmp_path):
    freeze = tmp_path / "have.txt"
    freeze.write_text("Torch==2.11.0\nhuggingface_hub==1.33.0\n# a comment\nPyYAML\n", encoding="utf-8")
    assert bundle.have_names(str(freeze)) == {"torch", "huggingface-hub", "pyyaml"}
    image = bundle.have_names(None)
    assert {"torch", "transformers", "accelerate", "peft"} <= image
    assert not {"lm-eval", "datasets"} & image  # what the image lacks, so the bundle carries


def test_install_refuses_a_damaged_bundle_naming_the_file(bundle, tmp_path):
    wheels = tmp_path / "b" / "wheels"
    wheels.mkdir(parents=True)
    wheel = wheels / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/__init__.py", "")
    manifest = {"carried": {}, "files": {"wheels/demo-1.0-py3-none-any.whl": {"sha256": "0" * 64}}}
    (tmp_path / "b" / "MANIFEST.json").write_text(json.dumps(manifest), encoding="utf-8")
    args = type("Args", (), {"bundle": str(tmp_path / "b"), "target": str(tmp_path / "site")})
    with pytest.raises(SystemExit, match=r"demo-1\.0-py3-none-any\.whl: sha256 differs"):
        bundle.install(args)
    assert not (tmp_path / "site").exists()


def test_bench_child_runs_several_modes_on_one_model(tiny_model_dir):
    bench = load("bench_scorer")
    spec = {
        "model": str(tiny_model_dir), "gguf_file": None, "device": "cpu", "dtype": "float32",
        "attn": "sdpa", "exam_dir": str(EXAM), "items": 2, "batch_size": 2, "bucket": "1k",
        "modes": ["letter", "gen", "all"],
    }  # fmt: skip
    ours = bench.run_child(spec | {"backend": "ours", "decode_batches": {}})
    stock = bench.run_child(spec | {"backend": "stock", "decode_batches": {}})
    batches = {mode: figures["decode_batches"] for mode, figures in ours.items()}
    floors = bench.run_child(spec | {"backend": "floor", "decode_batches": batches})
    assert list(ours) == list(stock) == list(floors) == ["letter", "gen", "all"]
    for mode in ours:
        agreement = bench.agreement(ours[mode], stock[mode])
        assert agreement["max_abs_loglik_delta"] < 1e-3, mode
        assert ours[mode]["generations"] == stock[mode]["generations"], mode
    letter_requests, _ = bench.mode_requests(EXAM, "1k", "letter", 2)
    assert len(ours["letter"]["loglikelihoods"]) == len(letter_requests) > 2
    assert not ours["letter"]["generations"]
    assert len(ours["gen"]["generations"]) == 2 and not ours["gen"]["loglikelihoods"]
    # each mode gets a backend of its own: the counting wrapper of one mode's generations
    # is gone before the next, so "gen" and "all" count only their own batches
    assert sum(rows for rows, _ in ours["gen"]["decode_batches"]) == 2
    assert sum(rows for rows, _ in ours["all"]["decode_batches"]) == 2
    assert ours["all"]["medlc_report"]["scoring"] is not None
