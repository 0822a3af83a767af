"""Compute-optimal allocation: closed form vs numerical optimisation, inverse vs root-finding,
monotonicity and limits, bad input, and the Chinchilla replication."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

import bayes_scaling as bs
from bayes_scaling.discrepancy import KappaDistribution
from bayes_scaling.allocation import (allocation_exponents, compute_for_loss, compute_for_target,
                                      log_spaced_budgets, optimal, optimal_allocation, plan)

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

EPOCH = {"E": 1.817, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3659}
# Hoffmann et al.'s unrounded Approach-3 parameters (Epoch AI's PROVENANCE.md)
HOFFMANN = {"E": 1.6934, "A": 406.40, "alpha": 0.33917084, "B": 410.72, "beta": 0.2849083}
BUDGETS = np.array([1e19, 5.76e23, 1e26])


def law(p, n, d):
    return p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * d ** -p["beta"]


def some_draws(post, count=5):
    draws = post.draws(["E", "A", "alpha", "B", "beta"])
    return [{k: float(v[i]) for k, v in draws.items()} for i in range(0, 2000, 2000 // count)]


@pytest.mark.parametrize("x64", [False, True])
def test_closed_form_matches_numerical_minimisation(sim_post, x64):
    """Per draw and budget, N* minimises the law along N·D = C/6 (scipy, float64)."""
    with jax.enable_x64(x64):
        for p in some_draws(sim_post):
            params = {k: jnp.asarray(v) for k, v in p.items()}
            got = optimal_allocation(params, jnp.asarray(BUDGETS))
            for j, c in enumerate(BUDGETS):
                res = minimize_scalar(lambda log_n: law(p, np.exp(log_n), c / 6 / np.exp(log_n)),
                                      bounds=(np.log(1e3), np.log(c / 6) - np.log(1e3)),
                                      method="bounded", options={"xatol": 1e-10})
                rtol = 1e-8 if x64 else 2e-4
                assert float(got["N"][j]) == pytest.approx(np.exp(res.x), rel=1e-4)
                assert float(got["loss"][j]) == pytest.approx(res.fun, rel=rtol)
                assert float(got["N"][j] * got["D"][j]) == pytest.approx(c / 6, rel=rtol * 10)


@pytest.mark.parametrize("x64", [False, True])
def test_target_inverse_matches_root_finding(sim_post, x64):
    with jax.enable_x64(x64):
        for p in some_draws(sim_post, 3):
            for target in (p["E"] + 0.05, p["E"] + 0.5, 3.0):
                got = compute_for_loss({k: jnp.asarray(v) for k, v in p.items()},
                                       jnp.asarray(target))
                best = lambda log_c: float(optimal_allocation(p, np.exp(log_c))["loss"]) - target
                log_c = brentq(best, np.log(1e10), np.log(1e60), xtol=1e-12)
                assert bool(got["reachable"])
                assert float(got["C"]) == pytest.approx(np.exp(log_c), rel=1e-3 if not x64 else 1e-7)


def test_monotone_and_limits():
    budgets = jnp.geomspace(1e18, 1e30, 40)
    out = optimal_allocation(EPOCH, budgets)
    assert np.all(np.diff(np.asarray(out["N"])) > 0) and np.all(np.diff(np.asarray(out["D"])) > 0)
    assert np.all(np.diff(np.asarray(out["loss"])) < 0)
    with jax.enable_x64(True):
        far = optimal_allocation({k: jnp.float64(v) for k, v in EPOCH.items()}, jnp.float64(1e60))
        assert float(far["loss"]) == pytest.approx(EPOCH["E"], abs=1e-4)
    targets = jnp.linspace(1.9, 3.0, 20)
    compute = np.asarray(compute_for_loss(EPOCH, targets)["C"])
    assert np.all(np.diff(compute) < 0)  # an easier target needs less compute
    below = compute_for_loss(EPOCH, jnp.asarray([1.8, 1.817]))
    assert not np.any(np.asarray(below["reachable"])) and np.all(np.isnan(np.asarray(below["C"])))


def test_epoch_point_estimate_gives_about_20_tokens_per_parameter():
    assert float(optimal_allocation(EPOCH, 5.76e23)["tokens_per_param"]) == pytest.approx(18.3, abs=0.1)
    assert float(optimal_allocation(HOFFMANN, 5.76e23)["tokens_per_param"]) == pytest.approx(59, abs=1)


def test_optimal_table(sim_post):
    table = optimal(sim_post, [1e21, 1e23])
    assert list(table["quantity"].unique()) == ["N", "D", "tokens_per_param", "loss"]
    assert len(table) == 8 and (table["lo_90"] <= table["median"]).all()
    n = table[table.quantity == "N"]["median"].to_numpy()
    assert n[1] > n[0]


def test_allocation_exponents_are_the_slopes_of_the_optimum(sim_post):
    exponents = allocation_exponents(sim_post, prob=0.9).set_index("exponent")
    draws = sim_post.draws()
    a = draws["beta"] / (draws["alpha"] + draws["beta"])
    assert np.isclose(exponents.loc["a", "median"], np.median(a))
    assert np.isclose(exponents.loc["a", "median"] + exponents.loc["b", "median"], 1, atol=1e-3)
    assert (exponents["q0.05"] < exponents["median"]).all()


def test_compute_for_target_counts_unreachable_draws(sim_post):
    e = sim_post.draws(["E"])["E"]
    table = compute_for_target(sim_post, [2.2, float(np.median(e)), 1.0], discrepancy=None)
    by = {t: g for t, g in table.groupby("target")}
    assert (by[0]["p_reachable"] == 1).all() and (by[0]["unreachable_draws"] == 0).all()
    half = by[1]["p_reachable"].iloc[0]
    assert 0.4 < half < 0.6 and by[1]["unreachable_draws"].iloc[0] == round((1 - half) * len(e))
    assert np.isfinite(by[1]["median"]).all()  # intervals over the reachable draws, no inf
    assert (by[2]["p_reachable"] == 0).all() and by[2]["median"].isna().all()
    assert (table["p_reached_below_E"] == 0).all()  # the law as exact: E is the floor
    near = compute_for_target(sim_post, float(np.quantile(e, 0.9)) + 1e-3, discrepancy=None)
    assert np.isfinite(near[["median", "mean", "hi_95"]].to_numpy()).all()  # no float32 overflow


def test_compute_for_target_carries_the_law_error_beyond_the_data(sim_post):
    """By default the law's own error widens the compute needed for a target beyond the data
    (and can keep it out of reach); with a vanishing κ the grid search gives the closed form;
    a target inside the data is untouched. Fails if the default silently drops the error."""
    largest = sim_post.runs_table["C"].max()
    targets = [2.3, 1.95]  # reached inside the data, and beyond it
    exact = compute_for_target(sim_post, targets, discrepancy=None)
    tiny = compute_for_target(sim_post, targets, key=jax.random.key(3),
                              discrepancy=KappaDistribution.fixed(1e-9))
    default = compute_for_target(sim_post, targets, key=jax.random.key(3))
    rows = {name: t[t["quantity"] == "C"].set_index("target") for name, t in
            (("exact", exact), ("tiny", tiny), ("default", default))}
    assert rows["exact"].loc[0, "hi_95"] < largest < rows["exact"].loc[1, "median"]
    for column in ("lo_90", "median", "hi_90"):  # grid 0.04 e-folds apart, interpolated
        np.testing.assert_allclose(rows["tiny"][column], rows["exact"][column], rtol=2e-3)
        assert rows["default"].loc[0, column] == pytest.approx(rows["exact"].loc[0, column],
                                                               rel=2e-3)
    beyond = rows["default"].loc[1]
    assert beyond["lo_90"] < 0.8 * rows["exact"].loc[1, "lo_90"]
    assert beyond["p_reachable"] < 1 and beyond["unreachable_draws"] > 0
    assert (default["p_reached_below_E"] == 0).all()  # both targets above every E
    # Below every draw's E, only the law's error beyond the data reaches it, and it is counted.
    floor = float(sim_post.draws(["E"])["E"].min())
    under = compute_for_target(sim_post, floor - 0.02, key=jax.random.key(3)).iloc[0]
    assert under["p_reachable"] > 0  # some draws do (about 31% here)
    assert under["p_reached_below_E"] == pytest.approx(under["p_reachable"])
    with pytest.raises(ValueError, match="give key="):
        compute_for_target(sim_post, 1.95)


def test_plan_judges_a_run(sim_post):
    table, facts = plan(sim_post, N=70e9, D=1.4e12, key=jax.random.key(0), within=0.1)
    rows = table.set_index("quantity")
    # The run's own loss: around the law's, wider (noise and, beyond the data, the law's error)
    assert rows.loc["planned_observed_loss", "median"] == pytest.approx(
        rows.loc["planned_loss", "median"], rel=0.01)
    observed_width = rows.loc["planned_observed_loss", "hi_90"] - rows.loc["planned_observed_loss", "lo_90"]
    exact, _ = plan(sim_post, N=70e9, D=1.4e12, key=jax.random.key(0), discrepancy=None)
    exact = exact.set_index("quantity").loc["planned_observed_loss"]
    assert observed_width > 2 * (exact["hi_90"] - exact["lo_90"])
    assert facts["C"] == pytest.approx(5.88e23)
    assert rows.loc["wasted_share", "lo_95"] >= -1e-3  # the optimum is never beaten
    assert rows.loc["optimal_loss", "median"] <= rows.loc["planned_loss", "median"]
    assert 0 <= facts["p_within"] <= 1
    # a plan at the posterior-median optimum wastes (almost) nothing
    best = optimal(sim_post, 5.88e23).set_index("quantity")["median"]
    _, at_best = plan(sim_post, N=best["N"], C=5.88e23, key=jax.random.key(0))
    assert at_best["p_within"] > 0.9


@pytest.mark.parametrize("call, match", [
    (lambda p: optimal(p, [1e21, -1]), "budgets .* must be positive"),
    (lambda p: optimal(p, []), "budgets .* must be positive"),
    (lambda p: compute_for_target(p, 0.0), "target losses must be positive"),
    (lambda p: optimal(p, 1e21, flops_per_param_token=0), "flops per parameter"),
    (lambda p: plan(p, N=7e10, D=1.4e12, key=jax.random.key(0), within=1.5),
     "within must be a fraction"),
    (lambda p: plan(p, N=[7e10, 1e9], D=[1.4e12, 2e10], key=jax.random.key(0)),
     "one run at a time")])
def test_bad_input(sim_post, call, match):
    with pytest.raises(ValueError, match=match):
        call(sim_post)


def test_law_without_closed_form(sim_post, monkeypatch):
    other = bs.LAWS["chinchilla"]._replace(name="no-closed-form")
    monkeypatch.setitem(bs.LAWS, other.name, other)
    post = bs.Posterior(sim_post.idata)
    post.law = other
    with pytest.raises(ValueError, match="closed form only for the laws chinchilla"):
        optimal(post, 1e21)


def test_budget_ranges():
    np.testing.assert_allclose(log_spaced_budgets("1e21:1e25:5"), [1e21, 1e22, 1e23, 1e24, 1e25])
    for spec in ("1e21:1e25", "1e21:1e25:x", "0:1e25:3"):
        with pytest.raises(ValueError, match="budget range|cannot read"):
            log_spaced_budgets(spec)


@pytest.mark.slow
def test_chinchilla_compute_optimal_replication(epoch_post):
    table = optimal(epoch_post, 5.76e23, probs=(0.9, 0.95)).set_index("quantity")
    ratio = table.loc["tokens_per_param"]
    epoch_ratio = float(optimal_allocation(EPOCH, 5.76e23)["tokens_per_param"])
    hoffmann_ratio = float(optimal_allocation(HOFFMANN, 5.76e23)["tokens_per_param"])
    assert 14 <= ratio["median"] <= 30
    assert ratio["lo_90"] <= epoch_ratio <= ratio["hi_90"]
    assert not ratio["lo_95"] <= hoffmann_ratio <= ratio["hi_95"]  # Hoffmann's ≈59 is excluded
    a = np.median(epoch_post.draws(["a"])["a"])
    assert a == pytest.approx(0.513, abs=0.04)
