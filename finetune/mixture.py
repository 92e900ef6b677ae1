"""Exact general:medical mixtures, and the manifest that says how one was drawn.

The rule, so a checkpoint can be plotted by ratio and volume without being told:

- training examples: `round(n × general_fraction)` general, the rest (`n − that`) medical,
  where round takes halves up (n=5, 0.5 -> 3 general, 2 medical);
- within a role, examples are split across its sources in proportion to `weight` by the
  largest-remainder method, so the per-source counts add up exactly;
- held-out eval examples, `round(n × eval_fraction)`, are split the same way, drawn from
  each source first and never trained on;
- each source is permuted with its own generator seeded by (seed, source name), so adding a
  source never changes what another source contributes; sampling is without replacement;
- a source with fewer usable rows than it must give raises `SourceTooSmallError`, unless
  `allow_oversample` is set: then its training rows are repeated in fresh permutations
  (every row once per pass, the last pass partial) and the manifest records the passes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from finetune.config import DataConfig, FinetuneConfig
from finetune.data import LoadedSource, load_source, quiet_datasets
from medlc_core.errors import UserError
from medlc_core.provenance import sha256_text

MANIFEST_NAME = "mixture_manifest.json"


class SourceTooSmallError(UserError, ValueError):
    """A source has fewer usable examples than the mixture asks of it."""


@dataclass
class SourceDraw:
    name: str
    role: str
    available: int
    train: int
    eval: int
    passes: int = 1  # > 1 only when oversampled

    @property
    def oversampled(self) -> bool:
        return self.passes > 1


@dataclass
class MixturePlan:
    n: int
    general_fraction: float
    n_general: int
    n_medical: int
    eval_n: int
    draws: list[SourceDraw]


@dataclass
class Mixture:
    plan: MixturePlan
    train: datasets.Dataset  # columns: id, messages, source, role
    eval: datasets.Dataset
    sources: list[LoadedSource]


def round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def exact(value: float) -> Fraction:
    """A YAML number as the decimal the user wrote (0.35 stays 35/100, not 0.34999...)."""
    return Fraction(str(value))


def split_by_weight(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer shares of `total` in proportion to `weights` that sum to `total` exactly."""
    if not weights:
        return {}
    norm = sum(exact(w) for w in weights.values())
    quotas = {name: total * exact(w) / norm for name, w in weights.items()}
    counts = {name: math.floor(q) for name, q in quotas.items()}
    leftover = total - sum(counts.values())
    # Largest remainder first; ties go to the source listed first, so the split is stable.
    order = sorted(quotas, key=lambda name: -(quotas[name] - counts[name]))
    for name in order[:leftover]:
        counts[name] += 1
    return counts


def plan_mixture(data: DataConfig, available: dict[str, int]) -> MixturePlan:
    """Per-source train/eval counts; raises SourceTooSmallError where a source runs short."""
    n_general = round_half_up(data.n * exact(data.general_fraction))
    eval_n = round_half_up(data.n * exact(data.eval_fraction))
    eval_general = round_half_up(eval_n * exact(data.general_fraction))
    totals = {
        "general": (n_general, eval_general),
        "medical": (data.n - n_general, eval_n - eval_general),
    }
    draws = []
    for role, (train_total, eval_total) in totals.items():
        weights = {s.name: s.weight for s in data.sources if s.role == role}
        train_counts = split_by_weight(train_total, weights)
        eval_counts = split_by_weight(eval_total, weights)
        for name in weights:
            draw = SourceDraw(name, role, available[name], train_counts[name], eval_counts[name])
            _check_size(draw, data)
            draws.append(draw)
    return MixturePlan(data.n, data.general_fraction, n_general, data.n - n_general, eval_n, draws)


def _check_size(draw: SourceDraw, data: DataConfig) -> None:
    pool = draw.available - draw.eval
    if draw.train <= pool:
        return
    need = (
        f"source {draw.name!r} (role {draw.role}) has {draw.available} usable examples but the "
        f"mixture needs {draw.train} for training + {draw.eval} held out for eval "
        f"(n={data.n}, general_fraction={data.general_fraction}, eval_fraction={data.eval_fraction})"
    )
    if not data.allow_oversample:
        raise SourceTooSmallError(
            need + "; lower data.n, add data, or set data.allow_oversample: true to repeat its "
            "examples (the repeats are recorded in mixture_manifest.json)"
        )
    if pool < 1:
        raise SourceTooSmallError(
            need + "; even with allow_oversample nothing is left to train on after eval"
        )
    draw.passes = math.ceil(draw.train / pool)


def source_rng(seed: int, name: str) -> np.random.Generator:
    name_key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng([seed, name_key])


def draw_indices(draw: SourceDraw, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, eval indices) into the source's rows for one planned draw."""
    rng = source_rng(seed, draw.name)
    order = rng.permutation(draw.available)
    eval_rows = order[: draw.eval].tolist()
    pool = order[draw.eval :]
    train_rows: list[int] = []
    while len(train_rows) < draw.train:
        take = pool if not train_rows else rng.permutation(pool)
        train_rows.extend(take[: draw.train - len(train_rows)].tolist())
    return train_rows, eval_rows


def _tagged(source: LoadedSource, rows: list[int]) -> datasets.Dataset:
    picked = source.dataset.select(rows)
    return picked.add_column("source", [source.config.name] * len(rows)).add_column(
        "role", [source.config.role] * len(rows)
    )


def build_mixture(data: DataConfig, seed: int) -> Mixture:
    """Load every source and draw the exact training and eval mixtures."""
    with quiet_datasets():
        sources = [load_source(s) for s in data.sources]
        plan = plan_mixture(data, {s.config.name: s.available for s in sources})
        train_parts, eval_parts = [], []
        by_name = {d.name: d for d in plan.draws}
        for source in sources:
            train_rows, eval_rows = draw_indices(by_name[source.config.name], seed)
            train_parts.append(_tagged(source, train_rows))
            eval_parts.append(_tagged(source, eval_rows))
        train = datasets.concatenate_datasets(train_parts)
        held_out = datasets.concatenate_datasets(eval_parts)
    return Mixture(plan, train, held_out, sources)


def ids_sha256(ids: list[str]) -> str:
    """Order-free fingerprint of a selection (duplicates from oversampling count)."""
    return sha256_text("\n".join(sorted(ids)))


def mixture_manifest(mixture: Mixture, config: FinetuneConfig) -> dict[str, Any]:
    """What the mixture is, where it came from and how it was drawn."""
    plan = mixture.plan
    draws = {d.name: d for d in plan.draws}
    counts: dict[str, dict[str, int]] = {"train": {}, "eval": {}}
    for d in plan.draws:
        counts["train"][d.role] = counts["train"].get(d.role, 0) + d.train
        counts["eval"][d.role] = counts["eval"].get(d.role, 0) + d.eval
    sources = []
    for loaded in mixture.sources:
        draw = draws[loaded.config.name]
        sources.append(
            {
                **asdict(loaded.config),
                "resolved_path": str(Path(loaded.config.path).resolve()),
                "sha256": loaded.sha256,
                "records": loaded.records,
                "invalid_skipped": loaded.invalid_count,
                "invalid_examples": loaded.invalid,
                "available": loaded.available,
                "train": draw.train,
                "eval": draw.eval,
                "oversampled": draw.oversampled,
                "passes": draw.passes,
            }
        )
    return {
        "general_fraction": plan.general_fraction,
        "n": plan.n,
        "seed": config.seed,
        "run_name": config.run_name,
        "counts": counts,
        "allow_oversample": config.data.allow_oversample,
        "oversampled_sources": [d.name for d in plan.draws if d.oversampled],
        "sources": sources,
        "train_ids_sha256": ids_sha256(mixture.train["id"]),
        "eval_ids_sha256": ids_sha256(mixture.eval["id"]),
    }
