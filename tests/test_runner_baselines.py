"""A roster entry with `kind: baseline` is a model: `medlc-baseline` with its rule and
seed, fingerprinted by them, scored, stored, resumed and sharded like any other, and
reported beside the models it is the floor for."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from medlc.cli import main
from medlc.runner.config import BaselineMethod, ConfigError, load_config, parse_config
from medlc.runner.roster import resolve_roster
from medlc.runner.run import plan_run, run
from medlc_core.store import ResultStore, read_samples

EXAM = Path(__file__).parent / "fixtures" / "report_exam"
SETTINGS = f"settings: {{device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0}}\n"
BASELINES = (
    "  - {name: count, kind: baseline, method: count}\n"
    "  - {name: retrieve, kind: baseline, method: retrieve}\n"
    "  - {name: random, kind: baseline, method: random, seed: 7}\n"
)


def config_text(roster: str = BASELINES, tasks: str = "[medlc_closedbook, medlc_openbook_1k]") -> str:
    return f"{SETTINGS}roster:\n{roster}tasks: {tasks}\n"


def resolve(text: str, overrides: tuple[str, ...] = ()):
    return resolve_roster(parse_config(Path("c.yaml"), text, overrides))


def test_config_knows_exactly_the_rules_medlc_baseline_applies():
    from medlc.baselines import METHODS

    assert typing.get_args(BaselineMethod) == METHODS


def test_baseline_entry_scores_with_medlc_baseline_and_its_rule():
    count = resolve(config_text())[0]
    assert (count.backend, count.backend_args()) == ("medlc-baseline", {"method": "count", "seed": 1234})


def test_baseline_seed_defaults_to_the_settings_seed():
    (count,) = resolve(
        config_text("  - {name: count, kind: baseline, method: count}\n"), ("settings.seed=5",)
    )
    assert count.baseline == {"method": "count", "seed": 5}


def test_method_and_seed_each_change_the_fingerprint():
    count, retrieve, random7 = resolve(config_text())
    (random1,) = resolve(config_text("  - {name: r, kind: baseline, method: random, seed: 1}\n"))
    assert len({count.fingerprint, retrieve.fingerprint, random7.fingerprint, random1.fingerprint}) == 4


def test_model_settings_leave_a_baseline_fingerprint_alone():
    before = resolve(config_text())[0].fingerprint
    after = resolve(config_text(), ("settings.model_args={dtype: float32}", "settings.batch_size=8"))[0]
    assert after.fingerprint == before and after.model_args == {"method": "count", "seed": 1234}


def test_baseline_fingerprint_records_the_medlc_version():
    count = resolve(config_text())[0]
    assert set(count.identity["baseline"]) == {"method", "seed", "medlc"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: b, kind: baseline}", r"roster\[0\]\.method: expected a baseline rule"),
        (
            "{name: b, kind: baseline, method: count, pretrained: gemma3-270m}",
            r"roster\[0\]\.pretrained: expected no `pretrained` on a `kind: baseline`",
        ),
        (
            "{name: m, kind: general, pretrained: x, method: count}",
            r"roster\[0\]\.method: expected no `method` except",
        ),
        (
            "{name: m, kind: general, pretrained: x, backend: medlc-baseline}",
            r"roster\[0\]\.backend: expected a model's backend; medlc-baseline",
        ),
        (
            "{name: b, kind: baseline, method: count, backend: hf}",
            r"roster\[0\]\.backend: expected no `backend` on a `kind: baseline`",
        ),
        (
            "{name: b, kind: baseline, method: longest}",
            r"roster\[0\]\.method: expected one of \['count', 'retrieve', 'random'\]",
        ),
    ],
    ids=[
        "baseline-without-a-method",
        "baseline-with-a-model",
        "method-on-a-model-entry",
        "model-naming-the-baseline-backend",
        "baseline-with-a-backend",
        "unknown-rule-names-the-choices",
    ],
)
def test_a_roster_entry_mixing_model_and_baseline_fields_is_refused(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(Path("c.yaml"), config_text(f"  - {entry}\n"))


@pytest.fixture(scope="module")
def scored(tiny_model_dir, tmp_path_factory):
    """`medlc run --report` on a tiny model and the three baselines, then run again."""
    root = tmp_path_factory.mktemp("e2e")
    cfg = root / "c.yaml"
    cfg.write_text(
        config_text(f"  - {{name: tiny, kind: general, pretrained: {tiny_model_dir}}}\n{BASELINES}")
    )
    args = ["run", str(cfg), "--output_path", str(root / "results"), "--report", str(root / "report")]
    first = main(args)
    again = run(load_config(cfg), root / "results")
    return root, first, again


def test_medlc_run_scores_every_baseline_pair_and_reports(scored):
    root, first, _ = scored
    assert first == 0 and len(ResultStore(root / "results").done_pairs()) == 4 * 2
    rows = json.loads((root / "report" / "leaderboard.json").read_text())["variants"]["letter"]["rows"]
    assert [(r["model"], r["kind"]) for r in rows] == [
        ("tiny", "general"),
        ("count", "baseline"),
        ("random", "baseline"),
        ("retrieve", "baseline"),
    ]


def test_baseline_pairs_are_stored_with_who_scored_them(scored):
    root, _, _ = scored
    models = [json.loads(p.read_text()) for p in (root / "results").glob("*/model.json")]
    random = next(m for m in models if m["name"] == "random")
    assert (random["kind"], random["backend"], random["baseline"]) == (
        "baseline",
        "medlc-baseline",
        {"method": "random", "seed": 7},
    )


def test_tiny_model_is_above_count_by_its_open_score_minus_counts_on_the_same_items(scored):
    root, _, _ = scored
    rows = json.loads((root / "report" / "leaderboard.json").read_text())["variants"]["letter"]["rows"]
    by_name = {r["model"]: r for r in rows}
    expected = by_name["tiny"]["open"]["value"] - by_name["count"]["open"]["value"]
    assert by_name["tiny"]["above_count"]["value"] == pytest.approx(expected)


def test_second_run_skips_every_baseline_pair(scored):
    _, _, again = scored
    assert again.scored == [] and len(again.skipped) == 8


def test_baselines_shard_like_models(tmp_path):
    config = parse_config(tmp_path / "c.yaml", config_text())
    for i in range(2):
        run(config, tmp_path / "merged", shard=(i, 2))
    done = {p.relative_to(tmp_path / "merged") for p in ResultStore(tmp_path / "merged").done_pairs()}
    assert done == {p.key.relpath() for p in plan_run(config).pairs}


def test_baselines_and_models_are_scored_on_the_same_sampled_items(scored, tiny_model_dir, tmp_path):
    roster = f"  - {{name: tiny, kind: general, pretrained: {tiny_model_dir}}}\n{BASELINES}"
    config = parse_config(
        tmp_path / "c.yaml", config_text(roster, "[medlc_openbook_1k]"), ("settings.sample_items=3",)
    )
    run(config, tmp_path / "results")
    items = {
        tuple(row["doc"]["id"] for row in read_samples(p))
        for p in ResultStore(tmp_path / "results").done_pairs()
    }
    assert len(items) == 1 and len(next(iter(items))) == 3
