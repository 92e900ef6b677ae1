"""What a study file implies: the fine-tuning base config and sweep it trains, and the
harness config that scores the result.

The derived files are written under `<output_dir>/study/` before they are used, so every
checkpoint and result points at a file a user can read and rerun by hand
(`medlc sweep <output_dir>/study/sweep.yaml`, `medlc run <output_dir>/study/harness.yaml`).
The roster is derived from the sweep's own runs: each checkpoint is scored from the folder
`finetune.recipe.saved_model_dir` names for that run's config, the one place both read.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from finetune.sweep import SweepRun, expand, load_sweep
from medlc.runner.config import ConfigError, HarnessConfig, parse_config
from medlc.study.config import StudyConfig
from medlc_core.atomic import atomic_write


@dataclass(frozen=True)
class Layout:
    """Where a study keeps everything, under its output_dir."""

    root: Path
    scratch: Path | None = None  # the dry run writes its derived files here, not under root

    @property
    def derived(self) -> Path:
        return self.scratch or self.root / "study"

    @property
    def finetune_base(self) -> Path:
        return self.derived / "finetune_base.yaml"

    @property
    def sweep(self) -> Path:
        return self.derived / "sweep.yaml"

    @property
    def harness(self) -> Path:
        return self.derived / "harness.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def report(self) -> Path:
        return self.root / "report"


def _dump(data: Any, header: str) -> str:
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)
    return f"# {header}\n{body}"


def finetune_base(study: StudyConfig, layout: Layout) -> dict[str, Any]:
    """The finetune config every grid point starts from (the sweep sets gf, n, output_dir)."""
    base, tune = study.base_model, study.finetune
    model = {"pretrained": base.pretrained, **({"gguf_file": base.gguf_file} if base.gguf_file else {})}
    return {
        "run_name": "",
        "output_dir": str(layout.checkpoints / "base"),
        "seed": tune.seed,
        "model": {**model, **tune.model},
        "data": {**study.data, "general_fraction": study.grid.general_fractions[0], "n": study.grid.ns[0]},
        "adapter": dataclasses.asdict(tune.adapter),
        "optim": dataclasses.asdict(tune.optim),
        "runtime": dataclasses.asdict(tune.runtime),
    }


def write_sweep(study: StudyConfig, layout: Layout) -> list[SweepRun]:
    """Write the base config and sweep file; return every grid point's validated config."""
    header = f"derived from {study.path} by `medlc study`; edit the study file, not this one"
    atomic_write(layout.finetune_base, _dump(finetune_base(study, layout), header))
    sweep = {
        "base_config": str(layout.finetune_base),
        "output_dir": str(layout.checkpoints),
        "general_fractions": list(study.grid.general_fractions),
        "ns": list(study.grid.ns),
    }
    atomic_write(layout.sweep, _dump(sweep, header))
    try:
        return expand(load_sweep(layout.sweep))
    except ConfigError as err:
        raise ConfigError(f"{study.path}: the fine-tuning config it implies is not valid: {err}") from err


def checkpoint_name(study: StudyConfig, run: SweepRun) -> str:
    return f"{study.base_name}-{run.name}"


def baseline_name(method: str) -> str:
    return f"{method} baseline"


@dataclass(frozen=True)
class Entry:
    """One roster entry the study derives, and the study key it comes from (for errors)."""

    key: str
    spec: dict[str, Any]
    run: SweepRun | None = None  # the grid point, for a checkpoint

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def kind(self) -> str:
        return self.spec["kind"]


def roster_entries(study: StudyConfig, runs: list[SweepRun]) -> list[Entry]:
    """Every model the study scores, in scoring order: the base, its checkpoints (grid
    order), the comparison models, the baselines."""
    from finetune.recipe import saved_model_dir

    base = study.base_model

    def common() -> dict[str, Any]:
        # Fresh objects per entry, so the written YAML repeats them instead of YAML anchors.
        out: dict[str, Any] = {"model_args": dict(base.model_args), "requires": list(base.requires)}
        if base.apply_chat_template is not None:
            out["apply_chat_template"] = base.apply_chat_template
        return out

    source = {"pretrained": base.pretrained, "gguf_file": base.gguf_file, "revision": base.revision}
    source = {k: v for k, v in source.items() if v is not None}
    entries = [Entry("base_model", {"name": study.base_name, "kind": base.kind, **source, **common()})]
    for run in runs:
        saved = str(saved_model_dir(run.config))
        # A LoRA adapter is scored on the base the study names (fingerprinted by its
        # content); a fully tuned model is its own folder.
        lora = run.config.adapter.method == "lora"
        weights = {**source, "peft": saved} if lora else {"pretrained": saved}
        spec = {"name": checkpoint_name(study, run), "kind": "mixture", **weights, **common()}
        entries.append(Entry(f"grid point {run.name}", spec, run))
    entries += [Entry(f"compare[{i}]", dict(spec)) for i, spec in enumerate(study.compare)]
    for i, method in enumerate(study.baselines):
        spec = {
            "name": baseline_name(method),
            "kind": "baseline",
            "method": method,
            "seed": study.settings.seed,
        }
        entries.append(Entry(f"baselines[{i}]", spec))
    return entries


def harness_text(study: StudyConfig, entries: list[Entry]) -> str:
    """The harness config's YAML text over `entries`."""
    settings = dataclasses.asdict(study.settings)
    config = {
        "name": study.name,
        "description": study.description or f"the models of study {study.name}",
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "roster": [entry.spec for entry in entries],
        "tasks": list(study.tasks),
    }
    header = f"derived from {study.path} by `medlc study` once the sweep has run; edit the study file"
    return _dump(config, header)


def harness_config(
    study: StudyConfig, entries: list[Entry], layout: Layout, write: bool = False
) -> HarnessConfig:
    """The harness config that scores `entries`, validated; an error names the study key."""
    text = harness_text(study, entries)
    try:
        config = parse_config(layout.harness, text)
    except ConfigError as err:
        message = str(err).replace(str(layout.harness), str(study.path))
        message = re.sub(r"roster\[(\d+)\]", lambda m: entries[int(m.group(1))].key, message)
        raise ConfigError(message) from err
    if write:
        atomic_write(layout.harness, text)
    return config
