"""Confidence intervals and the paired test, computed from per-item scores.

Items are resampled by question: the same question appears once per length bucket, and
those copies are not independent draws, so the bootstrap resamples question ids and
takes every item of a drawn question (a cluster bootstrap). With one item per question it
is the ordinary percentile bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_ITERS = 2000
DEFAULT_SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A mean over items with its bootstrap interval; `n` counts items, not questions."""

    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def _cluster_totals(values: Sequence[float], clusters: Sequence[str], ids: list[str]):
    index = {cid: i for i, cid in enumerate(ids)}
    totals, counts = np.zeros(len(ids)), np.zeros(len(ids))
    for value, cid in zip(values, clusters, strict=True):
        totals[index[cid]] += value
        counts[index[cid]] += 1
    return totals, counts


def _draws(n_clusters: int, iters: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_clusters, size=(iters, n_clusters))


def _interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def mean_ci(
    values: Sequence[float],
    clusters: Sequence[str] | None = None,
    iters: int = DEFAULT_ITERS,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
) -> Estimate:
    """Mean of `values` with a (cluster) percentile bootstrap interval."""
    if len(values) == 0:
        raise ValueError("no items to estimate from")
    clusters = list(clusters) if clusters is not None else [str(i) for i in range(len(values))]
    ids = sorted(set(clusters))
    totals, counts = _cluster_totals(values, clusters, ids)
    draws = _draws(len(ids), iters, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = totals[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = _interval(stats, level)
    return Estimate(float(np.mean(values)), low, high, len(values))


def difference_ci(
    a_values: Sequence[float],
    a_clusters: Sequence[str],
    b_values: Sequence[float],
    b_clusters: Sequence[str],
    iters: int = DEFAULT_ITERS,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
) -> Estimate:
    """mean(a) - mean(b), resampling the questions both share together (paired)."""
    if len(a_values) == 0 or len(b_values) == 0:
        raise ValueError("no items to estimate from")
    ids = sorted(set(a_clusters) | set(b_clusters))
    a_tot, a_cnt = _cluster_totals(a_values, a_clusters, ids)
    b_tot, b_cnt = _cluster_totals(b_values, b_clusters, ids)
    draws = _draws(len(ids), iters, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = a_tot[draws].sum(1) / a_cnt[draws].sum(1) - b_tot[draws].sum(1) / b_cnt[draws].sum(1)
    low, high = _interval(stats, level)
    value = float(np.mean(a_values) - np.mean(b_values))
    return Estimate(value, low, high, len(a_values) + len(b_values))


@dataclass(frozen=True)
class McNemar:
    """Paired comparison of two 0/1 score vectors over the same items."""

    n: int
    baseline_only: int  # right in the baseline, wrong in the candidate
    candidate_only: int  # wrong in the baseline, right in the candidate
    p_worse: float  # one-sided: the candidate is worse

    @property
    def drop(self) -> float:
        """Baseline accuracy minus candidate accuracy."""
        return (self.baseline_only - self.candidate_only) / self.n if self.n else 0.0


def mcnemar_worse(baseline: Sequence[float], candidate: Sequence[float], mid_p: bool = False) -> McNemar:
    """Exact one-sided McNemar test that the candidate is worse (binomial on discordant pairs).

    The mid-p variant subtracts half the probability of the observed count; it keeps the
    size closer to alpha when discordant pairs are few, at the cost of exactness.
    """
    from scipy.stats import binom

    if len(baseline) != len(candidate):
        raise ValueError("paired vectors differ in length")
    b = sum(1 for x, y in zip(baseline, candidate, strict=True) if x >= 0.5 > y)
    c = sum(1 for x, y in zip(baseline, candidate, strict=True) if y >= 0.5 > x)
    discordant = b + c
    if discordant == 0:
        return McNemar(len(baseline), b, c, 1.0)
    p = float(binom.sf(b - 1, discordant, 0.5))  # P(X >= b)
    if mid_p:
        p -= 0.5 * float(binom.pmf(b, discordant, 0.5))
    return McNemar(len(baseline), b, c, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error over the gated tasks)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
