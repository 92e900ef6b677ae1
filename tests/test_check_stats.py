"""The gate's paired test and the report's intervals, against values worked out by hand."""

from __future__ import annotations

import pytest

from reports.stats import difference_ci, holm, mcnemar_worse, mean_ci


def test_mcnemar_five_lost_none_gained_is_half_to_the_fifth():
    baseline = [1] * 5 + [1] * 10 + [0] * 5
    candidate = [0] * 5 + [1] * 10 + [0] * 5
    test = mcnemar_worse(baseline, candidate)
    assert (test.baseline_only, test.candidate_only) == (5, 0)
    assert test.p_worse == pytest.approx(0.5**5)
    assert test.drop == pytest.approx(5 / 20)


def test_mcnemar_counts_only_discordant_items():
    # 3 lost, 1 gained: P(X >= 3 | Binom(4, 1/2)) = 5/16.
    test = mcnemar_worse([1, 1, 1, 0, 1, 0], [0, 0, 0, 1, 1, 0])
    assert test.p_worse == pytest.approx(5 / 16)


def test_mid_p_subtracts_half_the_observed_probability():
    test = mcnemar_worse([1] * 3 + [0], [0] * 3 + [1], mid_p=True)
    assert test.p_worse == pytest.approx(5 / 16 - 0.5 * 4 / 16)


def test_identical_scores_give_p_one():
    assert mcnemar_worse([1, 0, 1], [1, 0, 1]).p_worse == 1.0


def test_holm_multiplies_the_smallest_p_by_the_number_of_tests():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_bootstrap_interval_of_a_fair_coin_over_400_items_is_about_plus_minus_five_points():
    est = mean_ci([1.0, 0.0] * 200, iters=4000)
    assert est.value == 0.5
    assert est.low == pytest.approx(0.45, abs=0.01) and est.high == pytest.approx(0.55, abs=0.01)


def test_bootstrap_is_reproducible_for_a_seed():
    values = [1.0, 0.0, 1.0, 1.0, 0.0]
    assert mean_ci(values, seed=3) == mean_ci(values, seed=3)


def test_copies_of_one_question_widen_the_interval_they_do_not_narrow_it():
    values = [1.0, 0.0] * 50
    independent = mean_ci(values * 4, iters=3000)
    clustered = mean_ci(values * 4, clusters=[str(i % 100) for i in range(400)], iters=3000)
    assert (clustered.high - clustered.low) > 1.5 * (independent.high - independent.low)


def test_difference_of_paired_identical_scores_is_exactly_zero():
    est = difference_ci([1.0, 0.0, 1.0], ["a", "b", "c"], [1.0, 0.0, 1.0], ["a", "b", "c"])
    assert (est.value, est.low, est.high) == (0.0, 0.0, 0.0)
