"""Where gains flatten with tuning volume: a saturating curve fitted over volume, with an
item bootstrap for its uncertainty, or a plain statement of why the data cannot say.

The curve is y(n) = a + b (1 - exp(-n / k)): y(0) = a (the base model, tuned on nothing),
y -> a + b as the volume grows, monotone in n whatever the sign of b. It reaches 90% of
its total change at n90 = k ln 10, which the report calls the volume at which gains
flatten. Uncertainty comes from resampling questions (every model's items of a drawn
question together, as in stats.py) and refitting.

No estimate is given, and the reason is said, when:
  * fewer than MIN_VOLUMES distinct volumes were tuned (three parameters need more points);
  * the change from the smallest to the largest volume cannot be told from zero (flat);
  * a step between neighbouring volumes goes significantly against the overall change
    (non-monotone: a saturating curve is the wrong model);
  * the fitted n90 lies beyond the largest volume tuned (not saturated within the grid;
    the fit would be an extrapolation), in which case only that lower bound is stated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_VOLUMES = 3  # distinct tuned volumes, besides the base at n = 0
LEVEL = 0.95
FLAT_SHARE = 0.9  # n90: the volume reaching this share of the fitted change


@dataclass(frozen=True)
class Curve:
    """One line over volume: per point the volume and per-cluster totals and counts."""

    volumes: tuple[int, ...]  # sorted; 0 is the base model
    totals: np.ndarray  # (points, clusters): summed item scores per question
    counts: np.ndarray  # (points, clusters): items per question
    minus_totals: np.ndarray | None = None  # a subtracted metric (gain = open - closed)
    minus_counts: np.ndarray | None = None

    def values(self, weights: np.ndarray) -> np.ndarray:
        """The metric at every point for cluster weights (draws, clusters) -> (draws, points)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            y = (weights @ self.totals.T) / (weights @ self.counts.T)
            if self.minus_totals is not None:
                y = y - (weights @ self.minus_totals.T) / (weights @ self.minus_counts.T)
        return y


@dataclass(frozen=True)
class Saturation:
    """The fit, or why there is none (`reason`)."""

    volumes: tuple[int, ...]
    values: tuple[float, ...]
    reason: str | None = None  # None: n90 is estimated
    n90: float | None = None
    n90_low: float | None = None
    n90_high: float | None = None  # None with n90_low set: unbounded above within the grid's reach
    a: float | None = None
    b: float | None = None
    k: float | None = None
    fits: int = 0  # bootstrap refits that converged

    @property
    def estimated(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


def curve(volumes: Sequence[float], a: float, b: float, k: float) -> np.ndarray:
    return a + b * (1 - np.exp(-np.asarray(volumes, dtype=float) / k))


def fit(volumes: Sequence[int], values: Sequence[float]) -> tuple[float, float, float] | None:
    """Least-squares (a, b, k) of the saturating curve; None when it does not converge."""
    from scipy.optimize import least_squares

    x, y = np.asarray(volumes, dtype=float), np.asarray(values, dtype=float)
    if not np.all(np.isfinite(y)):
        return None
    positive = x[x > 0]
    low, high = math.log(positive.min() / 100), math.log(positive.max() * 100)
    start = [y[0], y[-1] - y[0], min(max(math.log(float(np.median(positive))), low), high)]

    def residuals(p: np.ndarray) -> np.ndarray:
        return curve(x, p[0], p[1], math.exp(p[2])) - y

    result = least_squares(residuals, start, bounds=([-np.inf, -np.inf, low], [np.inf, np.inf, high]))
    if not result.success:
        return None
    a, b, log_k = result.x
    return float(a), float(b), math.exp(log_k)


def _interval(samples: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _fmt_delta(values: np.ndarray) -> str:
    low, high = _interval(values)
    return f"[{low:+.3f}, {high:+.3f}]"


def saturation(line: Curve, iters: int = 500, seed: int = 0) -> Saturation:
    """Fit `line` and bootstrap n90, or say why the data cannot support it."""
    points = np.ones((1, line.totals.shape[1]))
    observed = line.values(points)[0]
    volumes, values = line.volumes, tuple(float(v) for v in observed)
    tuned = [v for v in volumes if v > 0]
    if len(set(tuned)) < MIN_VOLUMES:
        return Saturation(
            volumes,
            values,
            reason=f"too few volumes: {len(set(tuned))} tuned volume(s); a saturating curve needs "
            f"at least {MIN_VOLUMES} besides the base",
        )
    rng = np.random.default_rng(seed)
    clusters = line.totals.shape[1]
    draws = rng.integers(0, clusters, size=(iters, clusters))
    weights = np.stack([np.bincount(row, minlength=clusters) for row in draws]).astype(float)
    boot = line.values(weights)  # (iters, points)
    change = boot[:, -1] - boot[:, 0]
    low, high = _interval(change)
    if low <= 0 <= high:
        return Saturation(
            volumes,
            values,
            reason=f"flat: the change from n={volumes[0]} to n={volumes[-1]}, "
            f"{values[-1] - values[0]:+.3f} {_fmt_delta(change)}, cannot be told from zero",
        )
    direction = np.sign(values[-1] - values[0])
    for i in range(len(volumes) - 1):
        step = boot[:, i + 1] - boot[:, i]
        s_low, s_high = _interval(step)
        if (direction > 0 and s_high < 0) or (direction < 0 and s_low > 0):
            return Saturation(
                volumes,
                values,
                reason=f"non-monotone: from n={volumes[i]} to n={volumes[i + 1]} it moves "
                f"{values[i + 1] - values[i]:+.3f} {_fmt_delta(step)}, against the overall change; "
                "a saturating curve does not describe it",
            )
    fitted = fit(volumes, values)
    if fitted is None:
        return Saturation(volumes, values, reason="the curve fit did not converge")
    a, b, k = fitted
    n90 = k * math.log(1 / (1 - FLAT_SHARE))
    refits = [fit(volumes, row) for row in boot]
    n90s = np.array([r[2] * math.log(1 / (1 - FLAT_SHARE)) for r in refits if r is not None])
    n90_low, n90_high = _interval(n90s) if len(n90s) else (None, None)
    base = Saturation(volumes, values, None, n90, n90_low, n90_high, a, b, k, len(n90s))
    largest = max(tuned)
    if n90 > largest:
        return Saturation(
            volumes,
            values,
            reason=f"not saturated within the grid: the fit puts {FLAT_SHARE:.0%} of the change beyond "
            f"the largest volume, n={largest} (the estimate, n={n90:.0f}, would be an extrapolation)",
            n90_low=float(largest),
            a=a,
            b=b,
            k=k,
            fits=len(n90s),
        )
    if n90_high is not None and n90_high > largest:
        # The interval reaches past the grid: its upper end is an extrapolation, not a bound.
        return Saturation(**{**base.as_dict(), "n90_high": None})
    return base
