"""Saturation over volume: the fit finds where a saturating curve flattens, with an item
bootstrap interval, and says plainly when the data cannot support an estimate."""

from __future__ import annotations

import math

import numpy as np

from reports.saturation import Curve, saturation

VOLUMES = (0, 250, 1000, 4000)


def curve_of(probabilities, volumes=VOLUMES, items: int = 2000, seed: int = 7) -> Curve:
    """One point per volume; each of `items` questions answered right with that probability."""
    rng = np.random.default_rng(seed)
    totals = np.stack([(rng.random(items) < p).astype(float) for p in probabilities])
    return Curve(tuple(volumes), totals, np.ones_like(totals))


def test_a_saturating_curve_flattens_where_it_was_made_to():
    k = 500.0
    truth = k * math.log(10)  # 90% of the change by n = 1151
    fit = saturation(curve_of([0.3 + 0.4 * (1 - math.exp(-n / k)) for n in VOLUMES]), iters=200)
    assert fit.estimated and fit.fits > 150
    assert fit.n90_low <= truth <= (fit.n90_high or math.inf)
    assert abs(fit.n90 - truth) / truth < 0.5


def test_fewer_than_three_tuned_volumes_are_too_few():
    fit = saturation(curve_of([0.3, 0.5, 0.6], volumes=(0, 250, 1000)))
    assert not fit.estimated and fit.reason.startswith("too few volumes: 2 tuned volume(s)")


def test_no_change_with_volume_is_called_flat():
    fit = saturation(curve_of([0.5, 0.5, 0.5, 0.5], items=300), iters=200)
    assert not fit.estimated and fit.reason.startswith("flat: the change from n=0 to n=4000")


def test_a_significant_fall_against_the_overall_rise_is_called_non_monotone():
    fit = saturation(curve_of([0.3, 0.7, 0.2, 0.75]), iters=200)
    assert not fit.estimated and fit.reason.startswith("non-monotone: from n=250 to n=1000")


def test_a_curve_still_rising_at_the_largest_volume_is_not_saturated_within_the_grid():
    fit = saturation(curve_of([0.2 + 0.5 * n / 4000 for n in VOLUMES]), iters=200)
    assert not fit.estimated and fit.reason.startswith("not saturated within the grid")
    assert fit.n90_low == 4000  # all that can be said: beyond the largest volume
