"""Posterior predictive forecasts: intervals, points, extrapolation, no retracing."""

import jax
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.discrepancy import field_discrepancy, resolve_discrepancy
from bayes_scaling.prediction import predictive_draws, resolve_points, widened_draws

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical


def test_intervals_are_nested_and_observed_is_wider(sim_post):
    table = bs.forecast(sim_post, N=[7e10, 1e9], D=[1.4e12, 2e10], key=jax.random.key(0))
    assert len(table) == 4
    for _, row in table.iterrows():
        assert row.lo_95 <= row.lo_90 <= row.lo_50 <= row["median"] <= row.hi_50 <= row.hi_90 \
            <= row.hi_95
    width = table.assign(w=table.hi_90 - table.lo_90).pivot(index="point", columns="quantity",
                                                            values="w")
    assert (width["observed"] > width["expected"]).all()
    # exp of the Student-t observation has no mean: NaN, not a number dominated by a few draws
    mean = table.set_index("quantity")["mean"]
    assert mean["observed"].isna().all() and np.isfinite(mean["expected"]).all()


def test_forecast_matches_law_at_posterior_draws(sim_post):
    """The expected-loss median equals the median over draws of the law, computed by hand."""
    d = sim_post.draws(["E", "A", "alpha", "B", "beta"])
    by_hand = d["E"] + d["A"] * 7e10 ** -d["alpha"] + d["B"] * 1.4e12 ** -d["beta"]
    table = bs.forecast(sim_post, N=7e10, D=1.4e12, key=jax.random.key(0), probs=(0.9,))
    expected = table[table.quantity == "expected"].iloc[0]
    assert expected["median"] == pytest.approx(np.median(by_hand), rel=1e-5)
    assert expected["lo_90"] == pytest.approx(np.quantile(by_hand, 0.05), rel=1e-5)


def test_points_from_any_two_and_extrapolation(sim_post):
    table = bs.forecast(sim_post, N=7e10, C=5.88e23, key=jax.random.key(0))
    assert table["D"].iloc[0] == pytest.approx(1.4e12)
    fitted = sim_post.runs_table
    assert table["C_vs_max"].iloc[0] == pytest.approx(5.88e23 / fitted["C"].max())
    assert table["N_vs_max"].iloc[0] > 1  # 70B is beyond the largest simulated model


@pytest.mark.parametrize("discrepancy, program", [(0, predictive_draws),
                                                   ("field", widened_draws),
                                                   ("sweep", widened_draws)])
def test_repeated_forecasts_do_not_retrace(sim_post, discrepancy, program):
    bs.forecast(sim_post, N=[1e9, 2e9], D=[2e10, 4e10], key=jax.random.key(0),
                discrepancy=discrepancy)
    size = program._cache_size()
    bs.forecast(sim_post, N=[3e9, 5e9], D=[6e10, 1e11], key=jax.random.key(1),
                discrepancy=discrepancy)
    assert program._cache_size() == size


@pytest.mark.parametrize("kwargs, match", [
    ({"N": 1e9}, "give two of"), ({"N": -1, "D": 1e9}, "must be positive"),
    ({"N": 1e9, "D": 1e10, "C": 1e15}, "disagree"), ({"N": [1e9, 2e9], "D": [1, 2, 3]}, "different lengths: N: 2, D: 3")])
def test_bad_points(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resolve_points(**kwargs)


def test_bad_probs(sim_post):
    with pytest.raises(ValueError, match="interval probabilities must lie in"):
        bs.forecast(sim_post, N=1e9, D=1e10, key=jax.random.key(0), probs=(0.5, 1.5))


def test_discrepancy_widens_the_observed_band_beyond_the_data_only(sim_post):
    inside, beyond = 1e9, 1e12  # N; D = 20 N. The largest simulated run is far below 1e12 N
    plain = bs.forecast(sim_post, N=[inside, beyond], D=[20 * inside, 20 * beyond],
                        key=jax.random.key(3), discrepancy=0)
    wide = bs.forecast(sim_post, N=[inside, beyond], D=[20 * inside, 20 * beyond],
                       key=jax.random.key(3), discrepancy=0.05)
    width = {name: (t["hi_90"] - t["lo_90"]).values for name, t in
             (("plain", plain[plain.quantity == "observed"]),
              ("wide", wide[wide.quantity == "observed"]))}
    # inside: the same distribution, sampled by another routine (Monte Carlo error of a 90%
    # interval's width from 2,000 draws is a few percent)
    assert width["wide"][0] == pytest.approx(width["plain"][0], rel=0.1)
    assert width["wide"][1] > 2 * width["plain"][1]
    expected = plain.quantity == "expected"
    # the curve is untouched: the same draws, up to float32 rounding in the two routines
    np.testing.assert_allclose(wide[expected]["median"], plain[expected]["median"], rtol=1e-6)


def test_the_default_forecast_carries_the_learned_discrepancy(sim_post):
    """Fails if the default forecast silently drops the discrepancy, or its update by the fit's
    own internal backtest: beyond the data its observed band is wider than the plain one by
    what that κ predicts, and the table reports the three parts of the spread; inside the data
    nothing changes."""
    inside, beyond = 1e9, 1e12
    points = {"N": [inside, beyond], "D": [20 * inside, 20 * beyond]}
    default = bs.forecast(sim_post, **points, key=jax.random.key(3))
    plain = bs.forecast(sim_post, **points, key=jax.random.key(3), discrepancy=None)
    observed = {name: t[t.quantity == "observed"].reset_index() for name, t in
                (("default", default), ("plain", plain))}
    width = {name: np.log(t["hi_90"] / t["lo_90"]).to_numpy() for name, t in observed.items()}
    assert width["default"][0] == pytest.approx(width["plain"][0], rel=0.1)
    row = observed["default"].iloc[1]
    kappa = resolve_discrepancy("sweep", sim_post)
    assert kappa.source["internal_held_out"] >= 0.2 * len(sim_post.runs)
    assert kappa.values.tolist() != field_discrepancy().values.tolist()
    assert row["distance"] > 3 and row["spread_noise"] == pytest.approx(
        np.median(sim_post.draws(["sigma"])["sigma"]))
    # the median of 4000 draws of κ lies between its 40% and 60% quantiles (12 standard errors)
    assert (kappa.quantile(0.4) <= row["spread_discrepancy"] / row["distance"]
            <= kappa.quantile(0.6))
    assert observed["default"].loc[0, "spread_discrepancy"] == 0
    # The 90% band of log-loss widens by about the discrepancy's own 90% range, whose lower end
    # alone is a floor for the added width.
    floor = 2 * 1.64 * kappa.quantile(0.05) * row["distance"]
    assert width["default"][1] > np.hypot(width["plain"][1], floor) * 0.95
    assert np.array_equal(default.columns, plain.columns)
