"""Study files are validated on load: each section keeps its schema from finetune and the
runner, and a mistake names the study file and the key as the study spells it."""

from __future__ import annotations

import json

import pytest
from study_support import REPO, write_study

from medlc.cli import main
from medlc.study.config import ConfigError, load_study
from medlc.study.derived import Layout, write_sweep
from medlc.study.plan import plan_study

SHIPPED = ["study_cpu_smoke", "study_gpu", "paper_study"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_study_validates_down_to_each_grid_point(name, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    study = load_study(REPO / "harness_configs" / f"{name}.yaml", [f"output_dir={tmp_path}"])
    runs = write_sweep(study, Layout(study.root))
    assert len(runs) == len(study.grid.general_fractions) * len(study.grid.ns)


@pytest.fixture
def study_path(tiny_model_dir, tmp_path):
    return write_study(tmp_path / "s.yaml", tiny_model_dir, tmp_path / "out")


def test_the_grid_owns_general_fraction_and_n(study_path):
    with pytest.raises(ConfigError, match=r"s\.yaml: data\.n: expected no value here: the grid sets it"):
        load_study(study_path, ["data.n=5"])


def test_a_finetune_key_is_checked_with_finetune_schema(study_path):
    with pytest.raises(ConfigError, match=r"s\.yaml: finetune\.adapter\.r: expected an integer, got 'big'"):
        load_study(study_path, ["finetune.adapter.r=big"])


def test_a_data_source_is_checked_with_finetune_schema(study_path):
    expected = r"s\.yaml: data\.sources\[0\]\.role: expected one of \['general', 'medical'\], got 'both'"
    with pytest.raises(ConfigError, match=expected):
        load_study(study_path, ["data.sources.0.role=both"])


def test_a_comparison_model_error_names_its_study_key(study_path):
    served = "compare=[{name: big, kind: general, backend: local-completions, pretrained: m, model_args: {base_url: 'http://h:1/v1/completions'}}]"
    study = load_study(study_path, [served])
    with pytest.raises(
        ConfigError,
        match=r"s\.yaml: compare\[0\]\.model_args\.tokenizer: expected the served model's tokenizer",
    ):
        plan_study(study)


def test_a_mixture_cannot_be_a_comparison_model(study_path):
    with pytest.raises(ConfigError, match=r"compare\[0\]\.kind: expected general, medical or baseline"):
        load_study(study_path, ["compare=[{name: m, kind: mixture, pretrained: x}]"])


def test_dry_run_prints_the_plan_as_json_without_training_or_writing(study_path, tmp_path, capsys):
    assert main(["study", str(study_path), "--dry_run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in plan["points"]] == ["gf0.00_n8", "gf1.00_n8"]
    assert [m["name"] for m in plan["models"]] == [
        "tiny",
        "tiny-gf0.00_n8",
        "tiny-gf1.00_n8",
        "count baseline",
    ]
    assert len(plan["pairs"]) == 8 and plan["estimate"]["total_seconds"] > 0
    assert not (tmp_path / "out").exists()
