"""Forecast scores on cases with known answers."""

import math

import numpy as np
import pytest

from bayes_scaling.validation.scoring import chi2_uniformity, crps, in_interval, log_mean_density


def _normal_crps(y, mu=0.0, sigma=1.0):
    """Closed form for a normal forecast (Gneiting & Raftery 2007)."""
    z = (y - mu) / sigma
    pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return sigma * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


@pytest.mark.parametrize("prob", [0.5, 0.9, 0.95])
def test_interval_coverage_of_a_known_distribution(prob):
    rng = np.random.default_rng(0)
    points = 4000
    draws = rng.normal(size=(2000, points))
    truth = rng.normal(size=points)
    coverage = in_interval(draws, truth, prob).mean()
    # binomial standard error over the points; the ensemble quantiles add a little more
    se = math.sqrt(prob * (1 - prob) / points)
    assert abs(coverage - prob) < 4 * se + 0.01


def test_interval_rejects_bad_probability():
    with pytest.raises(ValueError, match="prob"):
        in_interval(np.zeros((10, 1)), np.zeros(1), 1.5)


@pytest.mark.parametrize("y", [0.0, 0.7, -2.5])
def test_crps_matches_the_normal_closed_form(y):
    m = 20000
    draws = np.random.default_rng(1).normal(size=(m, 1))
    estimate = crps(draws, np.array([y]))[0]
    # Monte Carlo error of E|X - y| dominates: its sd is below sqrt(1 + y^2) / sqrt(m)
    assert abs(estimate - _normal_crps(y)) < 4 * math.sqrt(1 + y * y) / math.sqrt(m)


def test_crps_of_a_point_forecast_is_the_absolute_error():
    draws = np.full((50, 3), 2.0)
    np.testing.assert_allclose(crps(draws, np.array([2.0, 3.0, 0.5])), [0.0, 1.0, 1.5])


def test_crps_equals_the_pairwise_definition():
    rng = np.random.default_rng(2)
    draws, y = rng.gamma(2.0, size=(300, 4)), rng.gamma(2.0, size=4)
    pairwise = (np.abs(draws - y).mean(axis=0)
                - 0.5 * np.abs(draws[:, None, :] - draws[None, :, :]).mean(axis=(0, 1)))
    np.testing.assert_allclose(crps(draws, y), pairwise, rtol=1e-10)


def test_log_mean_density_is_stable_and_exact():
    values = np.array([[-1000.0, 0.0], [-1001.0, np.log(3.0)]])
    expected = [-1000 + np.log((1 + np.exp(-1)) / 2), np.log(2.0)]
    np.testing.assert_allclose(log_mean_density(values), expected)


def test_chi2_uniformity_accepts_uniform_and_rejects_skewed_ranks():
    rng = np.random.default_rng(3)
    uniform = rng.integers(0, 100, size=400)
    assert chi2_uniformity(uniform, 99, 20)[1] > 0.01
    skewed = np.minimum(rng.integers(0, 100, size=400), rng.integers(0, 100, size=400))
    assert chi2_uniformity(skewed, 99, 20)[1] < 1e-6


def test_chi2_uniformity_p_value_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    ranks = np.random.default_rng(4).integers(0, 100, size=200)
    statistic, p_value = chi2_uniformity(ranks, 99, 10)
    assert p_value == pytest.approx(stats.chi2.sf(statistic, 9), rel=1e-4)


def test_chi2_uniformity_is_calibrated_under_the_null():
    # Under uniform ranks the p-value is (nearly) uniform: about 5% fall below 0.05.
    rng = np.random.default_rng(5)
    p_values = np.array([chi2_uniformity(rng.integers(0, 100, 200), 99, 20)[1]
                         for _ in range(2000)])
    share = (p_values < 0.05).mean()
    assert abs(share - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 2000)


def test_chi2_uniformity_checks_its_arguments():
    with pytest.raises(ValueError, match="multiple"):
        chi2_uniformity(np.arange(10), 9, 3)
    with pytest.raises(ValueError, match="0..9"):
        chi2_uniformity(np.array([0, 10]), 9, 5)
