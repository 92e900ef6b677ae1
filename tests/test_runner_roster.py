"""Roster resolution: checkpoint globs become models whose ratio and volume come from
their mixture manifests, and fingerprints follow content, not location."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medlc.runner.config import ConfigError, parse_config
from medlc.runner.roster import resolve_roster
from reports import leaderboard
from reports.collect import collect

EXAM = Path(__file__).parent / "fixtures" / "report_exam"


def make_adapter(base: Path, out: Path, general_fraction: float, n: int, seed: int) -> Path:
    """A LoRA adapter on the tiny model, laid out as finetune's sweep saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    adapter = out / "adapter"
    model.save_pretrained(adapter)
    manifest = {
        "general_fraction": general_fraction,
        "n": n,
        "seed": seed,
        "counts": {"general": round(n * general_fraction)},
    }
    (adapter / "mixture_manifest.json").write_text(json.dumps(manifest))
    return adapter


@pytest.fixture(scope="module")
def sweep(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    make_adapter(tiny_model_dir, root / "gf0.25_n100", 0.25, 100, seed=1)
    make_adapter(tiny_model_dir, root / "gf0.75_n100", 0.75, 100, seed=2)
    (root / "logs").mkdir()  # not a checkpoint: no manifest
    return root


def sweep_config(root: Path, extra: str = "") -> str:
    return (
        f"settings: {{device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0}}\n"
        f"roster:\n  - name: 'mix-{{parent}}'\n    kind: mixture\n    checkpoints: {root}/*/adapter\n{extra}"
        "tasks: [medlc_closedbook]\n"
    )


def test_checkpoint_glob_expands_to_one_model_per_manifest(sweep):
    models = resolve_roster(parse_config(Path("c.yaml"), sweep_config(sweep)))
    assert [(m.name, m.general_fraction, m.n) for m in models] == [
        ("mix-gf0.25_n100", 0.25, 100),
        ("mix-gf0.75_n100", 0.75, 100),
    ]


def test_adapter_base_model_comes_from_its_adapter_config(sweep, tiny_model_dir):
    model = resolve_roster(parse_config(Path("c.yaml"), sweep_config(sweep)))[0]
    assert Path(model.pretrained) == Path(tiny_model_dir) and model.peft.endswith("gf0.25_n100/adapter")


def test_different_adapters_have_different_fingerprints(sweep):
    a, b = resolve_roster(parse_config(Path("c.yaml"), sweep_config(sweep)))
    assert a.fingerprint != b.fingerprint


def test_moving_a_checkpoint_keeps_its_fingerprint(sweep, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(sweep, moved)
    before = [m.fingerprint for m in resolve_roster(parse_config(Path("c.yaml"), sweep_config(sweep)))]
    after = [m.fingerprint for m in resolve_roster(parse_config(Path("c.yaml"), sweep_config(moved)))]
    assert before == after


def test_changing_dtype_changes_the_fingerprint_but_device_does_not(tiny_model_dir):
    def fingerprint(args: str) -> str:
        text = f"roster: [{{name: a, kind: general, pretrained: {tiny_model_dir}, model_args: {args}}}]\ntasks: [t]\n"
        return resolve_roster(parse_config(Path("c.yaml"), text))[0].fingerprint

    assert fingerprint("{dtype: float32}") != fingerprint("{dtype: bfloat16}")
    assert fingerprint("{dtype: float32}") == fingerprint("{dtype: float32, device: cuda:1}")


def test_manifest_disagreeing_with_the_config_is_an_error(sweep):
    text = sweep_config(sweep, "    general_fraction: 0.5\n")
    with pytest.raises(ConfigError, match=r"disagree with .*mixture_manifest\.json"):
        resolve_roster(parse_config(Path("c.yaml"), text))


def test_glob_matching_no_checkpoint_is_an_error(tmp_path):
    with pytest.raises(
        ConfigError, match=r"roster\[0\]\.checkpoints: expected folders holding mixture_manifest\.json"
    ):
        resolve_roster(parse_config(Path("c.yaml"), sweep_config(tmp_path)))


def test_same_model_listed_twice_is_refused(tiny_model_dir):
    text = (
        f"roster:\n  - {{name: a, kind: general, pretrained: {tiny_model_dir}}}\n"
        f"  - {{name: b, kind: general, pretrained: {tiny_model_dir}}}\ntasks: [t]\n"
    )
    with pytest.raises(ConfigError, match="same model scored the same way"):
        resolve_roster(parse_config(Path("c.yaml"), text))


def test_scored_checkpoints_reach_the_leaderboard_with_ratio_and_volume(sweep, tmp_path):
    from medlc.runner.run import run

    config = parse_config(tmp_path / "c.yaml", sweep_config(sweep))
    run(config, tmp_path / "results")
    rows = leaderboard.build(collect(tmp_path / "results"), iters=50).variants["letter"]
    assert [(r.model, r.kind, r.general_fraction, r.n) for r in rows] == [
        ("mix-gf0.25_n100", "mixture", 0.25, 100),
        ("mix-gf0.75_n100", "mixture", 0.75, 100),
    ]


def test_adapter_folder_as_pretrained_is_fingerprinted_with_its_base(sweep, tiny_model_dir):
    adapter = sweep / "gf0.25_n100" / "adapter"
    text = f"roster: [{{name: a, kind: mixture, pretrained: {adapter}}}]\ntasks: [t]\n"
    (model,) = resolve_roster(parse_config(Path("c.yaml"), text))
    assert (Path(model.pretrained), Path(model.peft)) == (Path(tiny_model_dir), adapter)
    assert set(model.identity) == {"model", "adapter"}
    assert "adapter_model.safetensors" in model.identity["adapter"]["files"]
    assert (model.general_fraction, model.n) == (0.25, 100)  # read from the adapter's manifest
