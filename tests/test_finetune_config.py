"""The fine-tuning YAML: every shipped example validates, and mistakes name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from finetune.config import ConfigError, load_config
from finetune.sweep import expand, load_sweep

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "finetune" / "configs"
SMOKE = CONFIGS / "tiny_cpu_smoke.yaml"


def _copy_as_bad_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(SMOKE.read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_shipped_config_validates(path, monkeypatch):
    monkeypatch.chdir(REPO)  # sweeps name their base config relative to the repo root
    file = CONFIGS / path
    if "sweep" in path:
        assert expand(load_sweep(file))  # every grid point's config, not only the sweep file
    else:
        load_config(file)


def test_wrong_type_names_file_key_and_expectation(tmp_path):
    bad = _copy_as_bad_yaml(tmp_path)
    with pytest.raises(ConfigError, match=r"bad\.yaml: optim\.lr: expected a number, got 'fast'"):
        load_config(bad, ["optim.lr=fast"])


def test_unknown_key_lists_the_allowed_ones(tmp_path):
    bad = _copy_as_bad_yaml(tmp_path)
    with pytest.raises(ConfigError, match=r"optim\.learning_rate: unknown key; expected one of .*'lr'"):
        load_config(bad, ["optim.learning_rate=0.1"])


def test_csv_source_needs_a_column_mapping():
    expected = r"data\.sources\[3\]\.columns\.response: expected a CSV column name"
    with pytest.raises(ConfigError, match=expected):
        load_config(SMOKE, ["data.sources.3.columns={prompt: ask}"])


def test_fraction_outside_unit_interval_is_refused():
    with pytest.raises(ConfigError, match=r"data\.general_fraction: expected a number in \[0, 1\], got 1\.5"):
        load_config(SMOKE, ["data.general_fraction=1.5"])


def test_override_reaches_nested_and_list_keys():
    config = load_config(
        SMOKE,
        ["optim.lr=1e-4", "data.sources.1.encoding=utf-8-sig", "adapter.target_modules=[q_proj, v_proj]"],
    )
    assert config.optim.lr == 1e-4
    assert config.data.sources[1].encoding == "utf-8-sig"
    assert config.adapter.target_modules == ["q_proj", "v_proj"]


def test_override_without_equals_sign_is_explained():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(SMOKE, ["optim.lr"])


def test_bare_yaml_no_means_no_mixed_precision():
    # YAML 1.1 reads `mixed_precision: no` as false; it must still mean "no".
    assert load_config(SMOKE, ["runtime.mixed_precision=no"]).runtime.mixed_precision == "no"


def test_medical_fraction_without_medical_source_is_refused():
    with pytest.raises(ConfigError, match=r"data\.sources: expected a source with role: medical"):
        load_config(SMOKE, ["data.sources.2.role=general", "data.sources.3.role=general"])


@pytest.mark.parametrize(
    ("name", "distributed_type"),
    [("single_gpu", "NO"), ("multi_gpu_ddp", "MULTI_GPU"), ("fsdp", "FSDP")],
)
def test_shipped_accelerate_configs_load_in_accelerate(name, distributed_type):
    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(CONFIGS / "accelerate" / f"{name}.yaml"))
    assert loaded.distributed_type.value == distributed_type
