"""Exact general:medical mixtures: counts, seeding, held-out rows, too-small sources."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from finetune.config import load_config
from finetune.mixture import (
    SourceTooSmallError,
    build_mixture,
    mixture_manifest,
    plan_mixture,
    split_by_weight,
)

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "finetune" / "configs" / "tiny_cpu_smoke.yaml"
# The smoke config's fixture sources: general alpaca 16 (weight 2) + sharegpt 6;
# medical messages 6 + GB18030 CSV 16 (weight 2).


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the smoke config names its fixtures relative to the repo root


def _config(*overrides: str):
    return load_config(SMOKE, ["data.eval_fraction=0", *overrides])


@pytest.mark.parametrize(
    ("general_fraction", "n", "general"),
    [(0.0, 12, 0), (0.25, 12, 3), (0.5, 13, 7), (0.75, 10, 8), (0.35, 20, 7), (1.0, 12, 12)],
)
def test_mixture_counts_are_exact(general_fraction, n, general):
    config = _config(f"data.general_fraction={general_fraction}", f"data.n={n}")
    mixture = build_mixture(config.data, config.seed)
    assert Counter(mixture.train["role"]) == Counter({"general": general, "medical": n - general}) - Counter()
    per_source = Counter(mixture.train["source"])
    assert {d.name: d.train for d in mixture.plan.draws if d.train} == dict(per_source)


def test_halves_round_up():
    # 13 x 0.5 = 6.5 general -> 7, and 0.35 is taken as written, not as 0.34999...
    config = _config("data.general_fraction=0.5", "data.n=13")
    assert plan_mixture(config.data, {s.name: 100 for s in config.data.sources}).n_general == 7


def test_role_split_follows_weights_and_adds_up():
    assert split_by_weight(8, {"a": 1.0, "b": 2.0}) == {"a": 3, "b": 5}
    assert split_by_weight(7, {"a": 1.0, "b": 1.0, "c": 1.0}) == {"a": 3, "b": 2, "c": 2}


def test_same_seed_draws_the_same_examples():
    config = _config("data.general_fraction=0.5", "data.n=12")
    first = build_mixture(config.data, seed=3).train["id"]
    again = build_mixture(config.data, seed=3).train["id"]
    other = build_mixture(config.data, seed=4).train["id"]
    assert first == again
    assert sorted(first) != sorted(other)


def test_sampling_is_without_replacement():
    config = _config("data.general_fraction=0.5", "data.n=26")
    ids = build_mixture(config.data, config.seed).train["id"]
    assert len(ids) == len(set(ids)) == 26


def test_held_out_rows_are_never_trained_on():
    config = load_config(SMOKE, ["data.eval_fraction=0.25", "data.n=16"])
    mixture = build_mixture(config.data, config.seed)
    assert len(mixture.eval) == 4
    assert not set(mixture.eval["id"]) & set(mixture.train["id"])


def test_adding_a_source_leaves_the_others_draws_unchanged():
    config = _config(
        "data.general_fraction=0.0", "data.n=4", "data.sources.2.weight=1", "data.sources.3.weight=1"
    )
    before = build_mixture(config.data, config.seed)
    # Dropping the alpaca source (general, not drawn at gf=0) must not move the medical draw.
    config.data.sources = config.data.sources[1:]
    after = build_mixture(config.data, config.seed)
    assert before.train["id"] == after.train["id"]


def test_too_small_source_raises_the_documented_error():
    config = _config("data.general_fraction=1.0", "data.n=24")
    with pytest.raises(
        SourceTooSmallError,
        match=r"source 'sharegpt_fixture' \(role general\) has 6 usable examples but the mixture needs 8 .*allow_oversample: true",
    ):
        build_mixture(config.data, config.seed)


def test_oversampling_repeats_rows_and_is_recorded():
    config = _config("data.general_fraction=1.0", "data.n=24", "data.allow_oversample=true")
    mixture = build_mixture(config.data, config.seed)
    manifest = mixture_manifest(mixture, config)
    sharegpt = next(s for s in manifest["sources"] if s["name"] == "sharegpt_fixture")
    assert (sharegpt["train"], sharegpt["available"], sharegpt["passes"], sharegpt["oversampled"]) == (
        8,
        6,
        2,
        True,
    )
    assert manifest["oversampled_sources"] == ["sharegpt_fixture"]
    # Every row once before any row twice.
    counts = Counter(i for i in mixture.train["id"] if i.startswith("sharegpt_fixture:"))
    assert sorted(counts.values()) == [1, 1, 1, 1, 2, 2]


def test_manifest_puts_ratio_and_volume_at_top_level():
    config = _config("data.general_fraction=0.25", "data.n=12")
    manifest = mixture_manifest(build_mixture(config.data, config.seed), config)
    assert (manifest["general_fraction"], manifest["n"], manifest["seed"]) == (0.25, 12, 0)
    assert manifest["counts"]["train"] == {"general": 3, "medical": 9}
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
    assert len(manifest["train_ids_sha256"]) == 64
