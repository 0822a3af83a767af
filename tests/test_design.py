"""Which run next (bayes_scaling.design): preposterior ranking and greedy batches.

One session fit (``sim_post``: 245 simulated Chinchilla runs, largest compute 2.3e23 FLOP) and
a target 40x beyond it; every ranking below scores the same 22 candidates (so the scoring
program compiles once per band): the default isoFLOP grid at a 1e22 budget, a run beyond the
data towards the target and a tiny run inside the data.
"""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from bayes_scaling.design import (candidate_grid, check_candidates, propose_batch,
                                  rank_candidates, target_point, weighted_interval)
from bayes_scaling.prediction import posterior_params

# Runs the sampler (the session fit): replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

BUDGET = 1e22
NEAR = {"N": 3e10, "D": 3e12}  # 5.4e23 FLOP: beyond the largest fitted N, D and C
FAR = {"N": 1e8, "D": 2e9}  # 1.2e18 FLOP: among the smallest fitted runs
# A one-sided check at Z standard errors per candidate: 22 candidates at 4 s.e. leave a chance
# of about 22 x 3e-5 that a true claim fails by Monte-Carlo noise, provided the effect is well
# above 4 s.e. With the library's 64 outcomes the near run's gain over the far one was only
# 3-5.5 s.e. (measured on 7 keys), so the claim failed by chance on some; 256 outcomes halve the
# standard errors (8.7-11.9 s.e. on 4 keys).
Z = 4.0
OUTCOMES = 256


@pytest.fixture(scope="module")
def target(sim_post):
    return target_point(sim_post, flops=1e25)


@pytest.fixture(scope="module")
def candidates(sim_post):
    grid = candidate_grid(sim_post, BUDGET)
    extra = pd.DataFrame({"N": [NEAR["N"], FAR["N"]], "D": [NEAR["D"], FAR["D"]]})
    return pd.concat([grid[["N", "D"]], extra], ignore_index=True)


@pytest.fixture(scope="module")
def rankings(sim_post, candidates, target):
    """The candidates ranked for the expected band (parameters alone, no discrepancy) and for
    the default observed band (noise and the field's discrepancy)."""
    return {band: rank_candidates(sim_post, candidates, target=target, key=jax.random.key(3),
                                  band=band, discrepancy=discrepancy, outcomes=OUTCOMES)
            for band, discrepancy in (("expected", None), ("observed", "field"))}


def row_of(table, point):
    rows = table[np.isclose(table["N"], point["N"]) & np.isclose(table["D"], point["D"])]
    assert len(rows) == 1
    return rows.iloc[0]


def test_weighted_interval_is_hazen_quantiles_and_splits_the_weight():
    values = jax.random.normal(jax.random.key(0), (501,))
    lo, hi = weighted_interval(values, jnp.full(501, 1 / 501), 0.9)
    expected = np.quantile(np.asarray(values), [0.05, 0.95], method="hazen")
    np.testing.assert_allclose([lo, hi], expected, rtol=1e-5)
    # unequal weights: the weight below each bound is its tail's share, to within the largest
    # single weight (the bound interpolates between two values)
    weights = jax.random.gamma(jax.random.key(1), 0.5, (501,))
    weights = weights / weights.sum()
    lo, hi = weighted_interval(values, weights, 0.8)
    below_lo = float(weights[values < lo].sum())
    above_hi = float(weights[values > hi].sum())
    largest = float(weights.max())
    assert abs(below_lo - 0.1) <= largest and abs(above_hi - 0.1) <= largest


def test_target_from_compute_alone_is_the_compute_optimal_run(sim_post, target):
    assert target["C"] == 1e25
    np.testing.assert_allclose(6 * target["N"] * target["D"], 1e25, rtol=1e-9)
    # the law's optimum for Epoch's parameters (the simulation's truth) at 1e25 has N* ~ 3e11
    assert 1e11 < target["N"] < 1e12
    assert target_point(sim_post, flops=1e25, N=70e9)["D"] == pytest.approx(1e25 / (6 * 70e9))


def test_default_grid_is_isoflop_lines_below_the_budget(sim_post):
    grid = candidate_grid(sim_post, BUDGET)
    assert sorted(set(grid["C"])) == pytest.approx([BUDGET / 4 ** j for j in (3, 2, 1, 0)])
    np.testing.assert_allclose(6 * grid["N"] * grid["D"], grid["C"], rtol=1e-9)
    assert len(grid) == 20
    limited = candidate_grid(sim_post, BUDGET, max_params=5e9, max_tokens=2e11)
    assert 0 < len(limited) < 20
    assert limited["N"].max() <= 5e9 and limited["D"].max() <= 2e11


@pytest.mark.parametrize("band", ["expected", "observed"])
def test_expected_spread_after_a_run_never_exceeds_the_spread_now(sim_post, rankings, band):
    """The law of total variance, which holds exactly for reweighted draws when the outcome is
    simulated from the same draws without the discrepancy: every candidate for the law's band,
    the candidates inside the fitted data for the observed band (design's docstring)."""
    table = rankings[band]
    assert len(table) == 22 and table["gain_per_flop"].is_monotonic_decreasing
    assert (table["width_before"] > 0).all() and (table["sd_after_se"] > 0).all()
    if band == "observed":
        fitted = sim_post.runs_table
        table = table[(table["N"] <= fitted["N"].max()) & (table["D"] <= fitted["D"].max())
                      & (table["C"] <= fitted["C"].max())]
        assert len(table) >= 10
    grows = table["sd_after"] - table["sd_before"]
    assert (grows <= Z * table["sd_after_se"]).all(), table[grows > Z * table["sd_after_se"]]
    assert table["ess_ok"].all()


def test_expected_regret_of_the_allocation_never_grows(rankings):
    """The regret of the Bayes allocation is a minimum of expectations, concave in the weights:
    its expectation after a run is at most its value now (design's docstring)."""
    table = rankings["expected"]
    assert (table["regret_before"] > 0).all()
    grows = table["regret_after"] - table["regret_before"]
    bound = Z * table["regret_after_se"]
    assert (grows <= bound).all(), table[grows > bound]


@pytest.mark.parametrize("band", ["expected", "observed"])
def test_a_run_near_the_target_narrows_it_more_than_a_run_far_from_it(rankings, band):
    near, far = row_of(rankings[band], NEAR), row_of(rankings[band], FAR)
    margin = Z * np.hypot(near["gain_se"], far["gain_se"])
    assert near["gain"] - far["gain"] > margin
    assert near["gain"] > Z * near["gain_se"]  # a real narrowing, not Monte-Carlo noise


def test_observed_band_includes_the_laws_error_beyond_the_data(rankings):
    """The field's discrepancy makes the observed band at 1e25 far wider than the law's band,
    and a run beyond the data shrinks it by moving the data's edge towards the target."""
    observed, expected = rankings["observed"], rankings["expected"]
    assert observed["width_before"].iloc[0] > 5 * expected["width_before"].iloc[0]
    near = row_of(observed, NEAR)
    inside = observed[observed["C"] <= BUDGET]
    assert near["gain"] > 10 * inside["gain"].max()


def test_greedy_batch_fits_the_budget_and_conditions_on_earlier_runs(sim_post, candidates,
                                                                     target):
    budget = 3e21
    design = propose_batch(sim_post, candidates, target=target, budget=budget,
                           key=jax.random.key(4), count=3, band="expected", discrepancy=None)
    props = design.proposals
    assert design.method == "greedy" and 1 <= len(props) <= 3
    assert props["cumulative_C"].iloc[-1] <= budget
    np.testing.assert_allclose(props["cumulative_C"], np.cumsum(props["C"]))
    assert props["step"].tolist() == list(range(1, len(props) + 1))
    assert not props[["N", "D"]].duplicated().any()
    # each proposal is a candidate, each expected to narrow the target beyond Monte-Carlo error
    for _, row in props.iterrows():
        row_of(candidates.assign(C=6 * candidates["N"] * candidates["D"]), row)
    assert (props["gain"] > 2 * props["gain_se"]).all()
    # a step starts from the histories the step before ended in: its width before is the
    # previous step's expected width after (the same simulated outcomes, reweighted alike)
    np.testing.assert_allclose(props["width_before"].iloc[1:], props["width_after"].iloc[:-1],
                               rtol=1e-4)
    assert design.width_now == pytest.approx(props["width_before"].iloc[0])
    assert len(design.ranking) == len(candidates)
    # the notes say what the batch spends, and that the target lies far beyond the data
    spent = props["cumulative_C"].iloc[-1]
    assert design.notes[0] == (f"the {len(props)} proposed run(s) spend {spent:.3g} of the "
                               f"3e+21 FLOP budget ({budget - spent:.3g} left)")
    assert any(note.startswith("the target lies ") and "beyond the largest fitted compute"
               in note for note in design.notes)
    assert design.objective == "width"


def test_a_batch_that_spends_the_whole_budget_says_so(sim_post, target):
    near = pd.DataFrame([NEAR])
    budget = float(6 * near["N"].iloc[0] * near["D"].iloc[0])  # the one run costs it all
    design = propose_batch(sim_post, near, target=target, budget=budget, key=jax.random.key(4),
                           count=2, band="expected", discrepancy=None)
    assert len(design.proposals) == 1
    assert "stopped after 1 run(s): the budget is spent" in design.notes


def test_ranking_by_gain_chooses_the_largest_affordable_gain_first(sim_post, candidates,
                                                                   target):
    """rank="gain": the first run is the affordable candidate of largest expected gain clear of
    Monte-Carlo error, whatever its cost; per FLOP (the default) the one of largest gain per
    FLOP. The same key gives both the same first ranking."""
    budget = 3e21
    by = {rank: propose_batch(sim_post, candidates, target=target, budget=budget,
                              key=jax.random.key(4), count=1, band="expected", discrepancy=None,
                              rank=rank) for rank in ("gain", "per-flop")}
    ranking = by["gain"].ranking
    pd.testing.assert_frame_equal(
        ranking.sort_values(["N", "D"]).reset_index(drop=True),
        by["per-flop"].ranking.sort_values(["N", "D"]).reset_index(drop=True))
    assert ranking["gain"].is_monotonic_decreasing
    assert by["per-flop"].ranking["gain_per_flop"].is_monotonic_decreasing
    eligible = ranking[(ranking["C"] <= budget) & (ranking["gain"] > 2 * ranking["gain_se"])]
    for rank, column in (("gain", "gain"), ("per-flop", "gain_per_flop")):
        first = by[rank].proposals.iloc[0]
        best = eligible.loc[eligible[column].idxmax()]
        assert (first["N"], first["D"]) == pytest.approx((best["N"], best["D"]))
    # on this grid the two rules disagree: the largest gain costs more than the best per FLOP
    assert by["gain"].proposals["C"].iloc[0] > by["per-flop"].proposals["C"].iloc[0]
    with pytest.raises(ValueError, match="rank must be one of"):
        propose_batch(sim_post, candidates, target=target, budget=budget, key=jax.random.key(4),
                      rank="cost")


def test_decision_objective_proposes_runs_that_lower_the_regret(sim_post, candidates, target):
    design = propose_batch(sim_post, candidates, target=target, budget=3e21,
                           key=jax.random.key(5), count=2, band="expected", discrepancy=None,
                           objective="decision")
    props = design.proposals
    assert 1 <= len(props) <= 2 and props["cumulative_C"].iloc[-1] <= 3e21
    np.testing.assert_allclose(props["gain"], props["regret_before"] - props["regret_after"],
                               rtol=1e-6, atol=1e-12)
    assert (props["gain"] > 2 * props["gain_se"]).all()
    # the ranking orders by the regret's fall per FLOP
    ranking = design.ranking
    np.testing.assert_allclose(ranking["gain"], ranking["regret_before"] - ranking["regret_after"],
                               rtol=1e-6, atol=1e-12)


def test_bad_inputs_get_clear_errors(sim_post, candidates, target):
    with pytest.raises(ValueError, match="smaller than every candidate run"):
        propose_batch(sim_post, candidates, target=target, budget=1e17, key=jax.random.key(0))
    with pytest.raises(ValueError, match="budget must be positive"):
        propose_batch(sim_post, candidates, target=target, budget=-1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="budget must be positive"):
        candidate_grid(sim_post, 0.0)
    with pytest.raises(ValueError, match="N must be positive"):
        check_candidates([-1e8, 1e9], [1e9, 1e10])
    with pytest.raises(ValueError, match="no candidate run is left"):
        check_candidates([1e9], [1e10], max_params=1e8)
    with pytest.raises(ValueError, match="compute must be positive"):
        target_point(sim_post, flops=0.0)
    with pytest.raises(ValueError, match="candidates need columns N and D"):
        rank_candidates(sim_post, {"params": [1e9]}, target=target, key=jax.random.key(0))
    with pytest.raises(ValueError, match="outcomes must be"):
        rank_candidates(sim_post, candidates, target=target, key=jax.random.key(0), outcomes=1)
    with pytest.raises(ValueError, match="objective must be one of"):
        rank_candidates(sim_post, candidates, target=target, key=jax.random.key(0),
                        objective="regret")
    with pytest.raises(ValueError, match="band must be one of"):
        rank_candidates(sim_post, candidates, target=target, key=jax.random.key(0), band="law")


def test_refitting_agrees_with_reweighting(sim_post, target):
    """``refit=True`` conditions on each simulated outcome by a full refit (`fit_many`) instead
    of reweighting the draws; on the same outcomes the two expected widths agree to within
    their Monte-Carlo errors. Those are: the spread over outcomes of each (each refit has its
    own sampling noise), and the error of the fit's own width, which every reweighted width
    shares (ArviZ's MCSE of the interval's two quantiles). The refits use the fit's sampler
    settings."""
    points = pd.DataFrame([NEAR, FAR])
    table = rank_candidates(sim_post, points, target=target, key=jax.random.key(5), outcomes=6,
                            band="expected", discrepancy=None, refit=True)
    assert len(table) == 2 and (table["refit_gate_ok"] == 1.0).all()
    params = posterior_params(sim_post)
    log_target = {name: jnp.log(jnp.asarray(target[name])) for name in ("N", "D", "C")}
    chains = sim_post.idata.posterior.sizes["chain"]
    loss = np.exp(np.asarray(sim_post.law.log_loss(params, log_target))).reshape(chains, -1)
    shared = np.hypot(*(az.mcse(loss, method="quantile", prob=p) for p in (0.05, 0.95)))
    gap = (table["width_after"] - table["width_after_reweighted"]).abs()
    bound = Z * np.sqrt(table["width_after_se"] ** 2 + table["width_after_se_reweighted"] ** 2
                        + shared ** 2)
    assert (gap <= bound).all(), table
    # the refits are of the runs with the candidate added: their widths differ from the fit's
    assert (table["width_after"] != table["width_before"]).all()
