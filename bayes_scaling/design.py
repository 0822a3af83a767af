"""Which run to train next: Bayesian design of the next scaling experiments.

Preposterior analysis. For a candidate run (N, D) and the existing fit:

1. simulate the candidate's outcome from the fit's posterior predictive (a posterior draw, then
   its observed log-loss: the likelihood's noise and, beyond the fitted data, the
   extrapolation discrepancy, exactly as `prediction.forecast` predicts a new run);
2. condition on that outcome by *importance reweighting* of the posterior draws: each draw's
   weight is the likelihood (`likelihood.observation`, scale σ: once trained, the run is part
   of the data) of the simulated outcome. This is the posterior a full refit with the run added
   would give, up to importance-sampling error; the effective sample size of the weights
   (ESS = 1 / Σ w²) says how far it can be trusted (``ess_ok``), and
   ``benchmarks/bench_design.py`` measures its agreement with full refits. Or, with
   ``rank_candidates(..., refit=True)``, condition by refitting: every candidate x outcome is
   one fit of one `fit_many` call (the fit's priors and sampler settings), the accelerator's
   way; the table keeps the reweighted estimate of the same outcomes beside it;
3. measure the target forecast's spread after it: the width of the central ``prob`` interval
   (90% by default) of the target's predicted loss, by weighted quantiles of the reweighted
   draws. The band is the forecast's ``"observed"`` one by default (noise and the
   discrepancy, whose distance beyond the data shrinks when the candidate lies beyond it) or
   the ``"expected"`` one (the law's value: parameter uncertainty alone);
4. average over simulated outcomes (``outcomes``, 64 by default). The gain of a candidate is
   the current width minus that expected width; ranking is by gain per FLOP, the candidate's
   cost being C = k·N·D of the fit's cost model.

A batch within a budget is chosen *greedily*, not jointly: at each step the affordable
candidate with the largest expected gain per FLOP is added (among those whose gain exceeds
`MIN_GAIN_Z` Monte-Carlo standard errors; none: the batch stops there, and says so), and the
next step conditions on it by carrying the simulated histories forward. Each of the ``outcomes`` histories keeps its own
weights; choosing a run draws one outcome of that run per history from the history's own
reweighted predictive and multiplies its weights by that outcome's likelihood. The expected
width after the batch is therefore the preposterior expectation over the runs' joint outcomes
(not a plug-in approximation), at the cost of one simulated outcome per history and candidate
at every step; the ESS falls as runs are added and is reported per step.

Does a run always narrow the forecast? Its expected *variance* after the run never exceeds the
variance now (the law of total variance; for the reweighted draws exactly so, by the concavity
of the weighted variance in the weights, whenever the outcome is simulated from the same draws
without the discrepancy, i.e. for a candidate inside the fitted data), so the table also gives
the standard deviation of the target's log-loss (about its relative spread) before and after
(``sd_before``, ``sd_after``). The width of a
quantile interval has no such guarantee: for a run that says nothing about the target it can
grow by a second-order amount (measured on a simulated 245-run sweep: up to 0.4% of the
width, 3.7 Monte-Carlo standard errors), which is one reason a run is only proposed when its
gain is clear of the Monte-Carlo error (`MIN_GAIN_Z`).

What it buys, measured (``benchmarks/bench_design.py``: 12 simulated 40-run sweeps whose truth
drifts off the law, a 4e20 FLOP budget, the compute-optimal run at 1e23 FLOP as target; paired
differences against a fixed isoFLOP grid of the same compute, 4 runs on the 1e20 line). No
design beat the grid on the forecast's error; the best matched it.

* For the interval's width, ranked by largest gain: the narrowest observed interval, 1.62 of
  the loss against the grid's 2.16 (-0.54 +/- 0.05), but the error is 4.0% against 1.9%
  (+2.1 +/- 0.7 points); ranked by the law's expected band, 2.9% (+1.0 +/- 0.6). It spends the
  whole budget on the single run at the budget, which moves the data's edge nearest the target
  and, under the model, narrows the forecast most. The study's drift depends on compute alone,
  the same for every run of one isoFLOP line, so the grid's four runs on one line show the
  valley's shape free of it; the width objective cannot value that (the model's discrepancy
  grows with the distance beyond the data, not along compute alone).
* For the allocation decision (``objective="decision"``), ranked by largest gain: error 2.4%
  (+0.5 +/- 0.4 points: no difference measured) with a narrower observed interval, 1.88
  (-0.28 +/- 0.08). In 7 of the 12 sweeps it spread its runs across the valley (3 to 900
  tokens per parameter, mostly on the 2.5e19 and 1e20 lines), as the grid does on one line,
  since where the optimum lies is what its regret measures; in the other 5 it spent the
  budget on one run at 4e20. For a compute-optimal target this is the ranking to use when the
  whole budget will be spent. For a given run it is not: in the retrospective on real sweeps,
  whose targets are their largest runs, it forecast them worse than the width objective
  (results/design_retrospective_cpu.md).
* Ranked by gain per FLOP (the default), either objective stops early or stays cheap: the width
  objective spent a third of the budget (error +2.6 +/- 0.6 points), the decision objective
  30% on runs at or below 1e20 (+1.2 +/- 0.5, and a wider interval).

When the law may drift with compute, keep an isoFLOP line in the plan beside what the design
proposes.

The target is a point (N, D) of the compute-optimal frontier: given only its compute, the
posterior median of the compute-optimal allocation at that compute (Chinchilla's closed form,
`allocation.optimal`); or given explicitly. The same noise draws (common random numbers) serve
the current width and every candidate, so differences between candidates are not swamped by
Monte-Carlo noise; the table reports the Monte-Carlo standard error over outcomes too.

The ``decision`` objective scores a run by how much it is expected to lower the regret of the
allocation decision at the target's compute C_T (laws with a closed-form allocation). The
Bayes decision is the model size N (on a grid at C_T, D = C_T/(k·N)) of least expected loss
under the (reweighted) posterior; its regret is its expected loss in excess of each draw's own
compute-optimal loss, i.e. the expected value of knowing the parameters exactly. The regret's
expectation after a run never exceeds its value now (the minimum of expectations is concave in
the weights), and it is 0 when the posterior agrees on the optimum. The table reports it
(``regret_before``, ``regret_after``) whichever objective ranks.

Example
-------
>>> import jax, bayes_scaling as bs
>>> post = bs.fit(bs.simulate(jax.random.key(0)), key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> target = target_point(post, flops=1e25)           # 40x beyond the largest fitted run
>>> grid = candidate_grid(post, 1e22)                  # isoFLOP lines at 1e22, 2.5e21, ...
>>> design = propose_batch(post, grid, target=target, budget=1e22, key=jax.random.key(2),
...                        count=2, outcomes=16, band="expected")
>>> design.method, bool(design.proposals["cumulative_C"].iloc[-1] <= 1e22)
('greedy', True)
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .allocation import ALLOCATION_LAWS, optimal, optimal_allocation
from .discrepancy import extrapolation_distance, resolve_discrepancy
from .errors import ConvergenceWarning
from .inference.batch import fit_many
from .inference.sampler import SamplerConfig
from .likelihood import noise_quantile, observation
from .prediction import FAR_EXTRAPOLATION, posterior_params, resolve_points

__all__ = ["target_point", "candidate_grid", "check_candidates", "rank_candidates",
           "propose_batch", "reweighted_width", "weighted_interval", "Design",
           "DEFAULT_OUTCOMES", "MIN_ESS", "BANDS"]

DEFAULT_OUTCOMES = 64
# Below this effective sample size the reweighted posterior rests on too few draws to trust its
# quantiles (a 90% interval's tails hold 5% of the weight each: at ESS 100, about 5 draws).
MIN_ESS = 100
# A candidate is ``ess_ok`` when at least this share of its simulated outcomes keep ESS >= MIN_ESS.
ESS_OK_SHARE = 0.9
BANDS = ("observed", "expected")
# The observed band's noise at the target is represented by this many evenly spaced quantiles
# of each draw's noise distribution (at (j + 1/2) / NOISE_NODES).
NOISE_NODES = 20
OBJECTIVES = ("width", "decision")
# How a batch chooses its next run: the ranking table's column. "per-flop" is the default;
# "gain" spends the budget on the most informative runs. On four real sweeps
# (benchmarks/results/design_retrospective_cpu.md) "gain" did as well or better: at the full
# budget on Porian's two sets, error 1.3% and 2.5% against 1.8% and 1.6%, 90% width 19%
# against 26% and 24%; on Chinchilla at half the budget, width 13% with 9 runs against 16%
# with 28. One retrospective per strategy and set: indications, not significant differences.
RANKS = {"per-flop": "gain_per_flop", "gain": "gain"}
# The decision objective's allocations: this many model sizes at the target's compute, log-spaced
# from ALLOCATION_SPAN below the 0.1% quantile of the draws' optimal N* to as far above the 99.9%.
ALLOCATION_GRID = 121
ALLOCATION_SPAN = 1.5
# A run is proposed only when its expected gain exceeds this many Monte-Carlo standard errors
# (with many candidates and no real gain, about 2% pass by chance).
MIN_GAIN_Z = 2.0
# Below this share of the current width, the best gain is called small in the notes.
DOMINATED_SHARE = 0.01
# The default candidates: isoFLOP lines at the budget and GRID_STEP^-1, ^-2, ... below it, with
# model sizes spread GRID_SPAN times either side of the compute-optimal one.
GRID_STEP = 4.0
GRID_SPAN = 4.0
# Without a closed-form allocation, the isoFLOP lines centre on this many tokens per parameter.
DEFAULT_TOKENS_PER_PARAM = 20.0


class Design(NamedTuple):
    """A proposed batch of runs (`propose_batch`).

    Attributes
    ----------
    proposals : pandas.DataFrame
        One row per chosen run, in the order chosen: ``step``, N, D, C, ``cumulative_C``,
        ``width_before`` and ``width_after`` (the expected width of the target's interval before
        and after the run, given the runs chosen before it), ``width_after_se`` (Monte-Carlo
        standard error), ``gain``, ``gain_per_flop``, ``ess_median`` and ``ess_ok``.
    ranking : pandas.DataFrame
        Every candidate as `rank_candidates` scores it before any is chosen, best first.
    target : dict
        The target point: N, D, C.
    width_now : float
        The target interval's width from the fit as it is.
    method : str
        ``"greedy"``: runs are added one at a time (see the module docstring).
    notes : list of str
        What the batch spends of the budget, why it stopped early, candidates whose weights are
        too few to trust, a target far beyond the data, how many refits scored the ranking
        (and failed the gate) with ``refit``, ...
    objective : str
        What the runs were chosen for: ``"width"`` or ``"decision"`` (see `rank_candidates`).
    """

    proposals: pd.DataFrame
    ranking: pd.DataFrame
    target: dict
    width_now: float
    method: str
    notes: list
    objective: str = "width"


def _positive(name, value):
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value:g}")
    return value


def _check_law(post):
    extra = [name for name in post.law.inputs if name not in ("N", "D", "C")]
    if extra:
        raise ValueError(f"design needs a law of N, D and C only; {post.law.name!r} also needs "
                         f"{extra}")


def target_point(post, *, flops=None, N=None, D=None):
    """The point whose forecast the design should sharpen: N, D and C (floats).

    Give two of ``flops``, ``N`` and ``D``; or ``flops`` alone, for the posterior median of the
    compute-optimal allocation at that compute (laws with a closed form, `ALLOCATION_LAWS`).

    >>> import types
    >>> target_point(types.SimpleNamespace(flops_per_param_token=6.0), N=70e9, D=1.4e12)["C"]
    5.88e+23
    """
    k = post.flops_per_param_token
    given = sum(v is not None for v in (flops, N, D))
    if given >= 2:
        N, D, C = (float(v[0]) for v in resolve_points(N, D, flops, k))
        return {"N": N, "D": D, "C": C}
    if flops is None or given != 1:
        raise ValueError("give the target's compute (and optionally its parameters or tokens)")
    flops = _positive("the target's compute", flops)
    if post.law.name not in ALLOCATION_LAWS:
        raise ValueError(f"the compute-optimal point has a closed form only for "
                         f"{', '.join(ALLOCATION_LAWS)}; give the target's parameters or tokens "
                         f"too for a {post.law.name!r} fit")
    table = optimal(post, [flops], probs=(0.9,))
    N = float(table.loc[table["quantity"] == "N", "median"].iloc[0])
    return {"N": N, "D": flops / (k * N), "C": flops}


def check_candidates(N, D, *, flops_per_param_token=6.0, budget=None, max_params=None,
                     max_tokens=None, extra=None):
    """Candidate runs as a table (N, D, C), checked: positive and finite (a `ValueError`
    otherwise), and kept only within ``max_params``, ``max_tokens`` and ``budget`` (FLOPs of
    one run); a `ValueError` that says why when none is left. ``extra`` maps further column
    names to values per candidate, carried along. What was left out, and why, is said in the
    table's ``attrs["left_out"]`` (None when nothing was).

    >>> check_candidates([1e8, 1e9], [2e9, 2e10], budget=1e20)["C"].tolist()
    [1.2e+18]
    """
    N, D, C = resolve_points(N=N, D=D, flops_per_param_token=flops_per_param_token)
    keep = np.ones(len(N), bool)
    reasons = []
    for limit, values, what in ((max_params, N, "parameters"), (max_tokens, D, "tokens"),
                                (budget, C, "FLOPs (the budget)")):
        if limit is None:
            continue
        limit = _positive(f"the most {what}", limit)
        over = values > limit * (1 + 1e-9)
        if over.any():
            reasons.append(f"{int(over.sum())} exceed {limit:.3g} {what}")
        keep &= ~over
    if not keep.any():
        raise ValueError(f"no candidate run is left: of {len(N)}, " + "; ".join(reasons)
                         + f" (the cheapest costs {C.min():.3g} FLOPs, the smallest has "
                           f"{N.min():.3g} parameters and {D.min():.3g} tokens)")
    columns = {"N": N, "D": D, "C": C,
               **{name: np.asarray(v) for name, v in (extra or {}).items()}}
    table = pd.DataFrame({name: v[keep] for name, v in columns.items()})
    table.attrs["left_out"] = (f"{int((~keep).sum())} of {len(N)} candidates left out: "
                               + "; ".join(reasons) if reasons else None)
    return table


def candidate_grid(post, budget, *, levels=4, per_level=5, max_params=None, max_tokens=None):
    """The default candidates: isoFLOP lines at ``budget`` and at 1/4, 1/16, ... of it.

    On each line, ``per_level`` model sizes log-spaced from 1/4 to 4 times the posterior median
    compute-optimal N* at that compute (20 tokens per parameter for a law without a closed
    form), tokens D = C / (k·N). Candidates above ``max_params`` or ``max_tokens`` are left out.

    Returns
    -------
    pandas.DataFrame
        N, D, C and ``level`` (0 at the budget, 1 a quarter of it, ...).
    """
    budget = _positive("the budget", budget)
    if int(levels) < 1 or int(per_level) < 1:
        raise ValueError(f"levels and per_level must be >= 1, got {levels} and {per_level}")
    k = post.flops_per_param_token
    flops = budget / GRID_STEP ** np.arange(int(levels))
    if post.law.name in ALLOCATION_LAWS:
        table = optimal(post, flops, probs=(0.9,))
        centre = table.loc[table["quantity"] == "N", "median"].to_numpy()
    else:
        centre = np.sqrt(flops / (k * DEFAULT_TOKENS_PER_PARAM))
    spread = np.geomspace(1 / GRID_SPAN, GRID_SPAN, int(per_level))
    N = (centre[:, None] * spread[None, :]).ravel()
    C = np.repeat(flops, len(spread))
    return check_candidates(N, C / (k * N), flops_per_param_token=k, max_params=max_params,
                            max_tokens=max_tokens,
                            extra={"level": np.repeat(np.arange(int(levels)), len(spread))})


def weighted_interval(values, weights, prob):
    """Central ``prob`` interval of 1-D ``values`` under normalised ``weights``.

    The weighted empirical distribution with each value at the middle of its weight (Hazen's
    rule; with equal weights the (i − ½)/S quantiles), interpolated linearly.

    >>> lo, hi = weighted_interval(jnp.arange(1.0, 101.0), jnp.full(100, 0.01), 0.9)
    >>> round(float(lo), 3), round(float(hi), 3)
    (5.5, 95.5)
    """
    order = jnp.argsort(values)
    sorted_values, sorted_weights = values[order], weights[order]
    cdf = jnp.cumsum(sorted_weights) - 0.5 * sorted_weights
    return (jnp.interp((1 - prob) / 2, cdf, sorted_values),
            jnp.interp((1 + prob) / 2, cdf, sorted_values))


def _interval_width(log_values, weights, prob):
    """Width of the weighted central interval of exp(log_values) (draws, nodes) for each row of
    ``weights`` (histories, draws), a draw's weight shared equally by its nodes; and the
    weighted standard deviation of the log values (of the loss itself it can overflow: the
    observed band's far tails, κ times many e-folds, reach exp(40))."""
    nodes = log_values.shape[1]
    spread = jnp.repeat(weights / nodes, nodes, axis=-1)
    lo, hi = jax.vmap(weighted_interval, in_axes=(None, 0, None))(
        jnp.exp(log_values).reshape(-1), spread, prob)
    # Centred on the unweighted mean first: in float32, E[x²] − E[x]² of values near 0.7 with a
    # spread near 0.005 would lose a few digits (measured on the loss: a bias of 0.3% in the sd).
    centred = log_values - jnp.mean(log_values)
    mean = weights @ jnp.mean(centred, axis=1)
    second = weights @ jnp.mean(centred ** 2, axis=1)
    return hi - lo, jnp.sqrt(jnp.maximum(second - mean ** 2, 0.0))


def _target_log_loss(mu_target, sigma, kappa, z, distance, band):
    """The target's log-loss per draw (rows) and noise node (columns): the law's value alone
    for the expected band; for the observed one, the law plus the noise (widened by the
    discrepancy at ``distance``) at each draw's noise quantiles ``z``."""
    if band == "expected":
        return mu_target[:, None]
    return mu_target[:, None] + jnp.sqrt(sigma ** 2 + (kappa * distance) ** 2)[:, None] * z


@functools.partial(jax.jit, static_argnames=("law", "likelihood", "prob", "band"))
def _step(params, kappa, z, excess, log_w, cand, target, key, *, law, likelihood, prob, band):
    """One step of the design for every candidate: per candidate and history, simulate an
    outcome, reweight, and measure the target's interval. Returns widths, the target's
    standard deviations, the allocation's regrets, ESS and outcomes, each of shape
    (candidates, histories)."""
    mu_target = law.log_loss(params, target)

    def one(xs):
        log_x, distance, target_distance, k = xs
        mu = law.log_loss(params, log_x)  # (S,)
        scale = jnp.sqrt(params["sigma"] ** 2 + (kappa * distance) ** 2)
        k_draw, k_noise = jax.random.split(k)
        draw = jax.random.categorical(k_draw, log_w, axis=-1)  # one draw per history
        picked = {name: value[draw] for name, value in params.items()}
        outcome = observation(likelihood, mu[draw], picked, scale[draw]).sample(k_noise)
        loglik = observation(likelihood, mu[None, :], {n: v[None, :] for n, v in params.items()}
                             ).log_prob(outcome[:, None])
        new = log_w + loglik
        weights = jax.nn.softmax(new, axis=-1)
        ess = 1.0 / jnp.sum(weights ** 2, axis=-1)
        log_t = _target_log_loss(mu_target, params["sigma"], kappa, z, target_distance, band)
        width, sd = _interval_width(log_t, weights, prob)
        return width, sd, _regret(excess, weights), ess, outcome

    keys = jax.random.split(key, cand["distance"].shape[0])
    return jax.lax.map(one, ({n: cand[n] for n in ("N", "D", "C")}, cand["distance"],
                             cand["target_distance"], keys))


@functools.partial(jax.jit, static_argnames=("law", "likelihood"))
def _condition(params, log_w, log_x, outcomes, *, law, likelihood):
    """Histories' log weights after observing ``outcomes`` (one per history) at ``log_x``."""
    mu = law.log_loss(params, log_x)
    loglik = observation(likelihood, mu[None, :], {n: v[None, :] for n, v in params.items()}
                         ).log_prob(outcomes[:, None])
    new = log_w + loglik
    return new - jax.scipy.special.logsumexp(new, axis=-1, keepdims=True)


@functools.partial(jax.jit, static_argnames=("law", "prob", "band"))
def _width_now(params, kappa, z, excess, log_w, target, target_distance, *, law, prob, band):
    log_t = _target_log_loss(law.log_loss(params, target), params["sigma"], kappa, z,
                             target_distance, band)
    weights = jax.nn.softmax(log_w, axis=-1)
    return (*_interval_width(log_t, weights, prob), _regret(excess, weights))


def _regret(excess, weights):
    """Expected regret of the Bayes allocation under ``weights`` (histories, draws): the
    allocation on the grid with the least expected loss, against each draw's own optimum."""
    return jnp.min(weights @ excess, axis=-1)


class _Setup(NamedTuple):
    params: dict
    kappa: jnp.ndarray
    z: jnp.ndarray
    excess: jnp.ndarray
    target_log_x: dict
    fitted: dict


def _setup(post, target, key, discrepancy, band):
    _check_law(post)
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")
    post.warn_if_unconverged("designing runs", stacklevel=4)
    params = posterior_params(post)
    count = len(params["sigma"])
    kappa_dist = resolve_discrepancy(discrepancy, post)
    dtype = params["sigma"].dtype
    # κ stratified: the distribution's equally likely values spread evenly over the draws, in a
    # random order (the same distribution as `KappaDistribution.sample`, less Monte-Carlo noise).
    kappa = np.asarray(kappa_dist.values, np.float64)[(np.arange(count) * len(kappa_dist.values))
                                                      // count]
    kappa = jax.random.permutation(key, jnp.asarray(kappa, dtype))
    # The target's noise at unit scale, per draw, at NOISE_NODES evenly spaced quantiles (the
    # likelihood is a location-scale family): its interval is then a smooth function of the
    # weights, free of the noise of a single random draw per posterior draw.
    levels = (np.arange(NOISE_NODES) + 0.5) / NOISE_NODES
    unit = {name: np.asarray(value, np.float64) for name, value in params.items()}
    unit["sigma"] = np.ones(count)
    z = jnp.asarray(np.stack([noise_quantile(post.likelihood, q, unit) for q in levels], axis=1),
                    dtype)
    target_log_x = {name: jnp.log(jnp.asarray(target[name], dtype))
                    for name in ("N", "D", "C")}
    table = post.runs_table
    fitted = {name: float(np.nanmax(table[name])) for name in ("N", "D", "C")}
    return _Setup(params, kappa, z, _allocation_excess(post, params, target["C"]), target_log_x,
                  fitted)


def _allocation_excess(post, params, flops):
    """Per draw (rows) and model size of a grid (columns) at compute ``flops``: the law's
    expected loss in excess of the draw's own compute-optimal loss (zeros, one column, for a
    law without a closed-form allocation: no regret to measure)."""
    count = len(params["sigma"])
    if post.law.name not in ALLOCATION_LAWS:
        return jnp.zeros((count, 1), params["sigma"].dtype)
    k = post.flops_per_param_token
    law_params = {name: params[name] for name in post.law.param_names}
    best = optimal_allocation(law_params, jnp.asarray(flops, params["sigma"].dtype), k)
    best_n = np.asarray(best["N"], np.float64)
    lo, hi = np.quantile(best_n, [0.001, 0.999])
    log_n = np.linspace(np.log(lo / ALLOCATION_SPAN), np.log(hi * ALLOCATION_SPAN),
                        ALLOCATION_GRID)
    log_x = {"N": log_n, "D": np.log(flops / k) - log_n, "C": np.full_like(log_n, np.log(flops))}
    loss = jnp.exp(post.law.log_loss({n: v[:, None] for n, v in law_params.items()},
                                     {n: jnp.asarray(v, params["sigma"].dtype)[None, :]
                                      for n, v in log_x.items()}))
    return loss - best["loss"][:, None]


def _candidate_inputs(cands, fitted, target, dtype):
    """Log inputs of the candidates, their distance beyond ``fitted`` (the largest N, D, C so
    far) and the target's distance once each candidate is added."""
    after = {name: np.maximum(fitted[name], cands[name]) for name in ("N", "D", "C")}
    target_distance = np.max([np.maximum(0.0, np.log(target[name] / after[name]))
                              for name in ("N", "D", "C")], axis=0)
    distance = extrapolation_distance({n: cands[n] for n in ("N", "D", "C")},
                                      {n: [fitted[n]] for n in ("N", "D", "C")})
    out = {name: jnp.log(jnp.asarray(cands[name], dtype)) for name in ("N", "D", "C")}
    out["distance"] = jnp.asarray(distance, dtype)
    out["target_distance"] = jnp.asarray(target_distance, dtype)
    return out


def _target_distance(fitted, target):
    return float(max(0.0, *(np.log(target[n] / fitted[n]) for n in ("N", "D", "C"))))


def _score(setup, log_w, cands, target, key, *, law, likelihood, prob, band, min_ess,
           objective):
    """The ranking table (widths now and after, ESS), the simulated outcomes and the width,
    log-loss sd and regret now (per history)."""
    dtype = setup.params["sigma"].dtype
    now = _width_now(setup.params, setup.kappa, setup.z, setup.excess, log_w,
                     setup.target_log_x, jnp.asarray(_target_distance(setup.fitted, target),
                                                     dtype), law=law, prob=prob, band=band)
    inputs = _candidate_inputs(cands, setup.fitted, target, dtype)
    widths, sds, regrets, ess, outcomes = _step(
        setup.params, setup.kappa, setup.z, setup.excess, log_w, inputs, setup.target_log_x,
        key, law=law, likelihood=likelihood, prob=prob, band=band)
    table = _table(cands, now, (widths, sds, regrets), objective=objective,
                   closed_form=setup.excess.shape[1] > 1)
    ess = np.asarray(ess, np.float64)
    table["ess_median"] = np.median(ess, axis=1)
    table["ess_min"] = ess.min(axis=1)
    table["ess_ok"] = (ess >= min_ess).mean(axis=1) >= ESS_OK_SHARE
    return table, np.asarray(outcomes), now


def _table(cands, now, after, *, objective, closed_form):
    """The ranking table from the width, log-loss sd and regret now (each per history) and
    after each candidate (each (candidates, histories))."""
    now, sd_now, regret_now = (np.asarray(a, np.float64) for a in now)
    widths, sds, regrets = (np.asarray(a, np.float64) for a in after)
    num = widths.shape[1]
    # per history: common random numbers
    gains = (regret_now[None, :] - regrets if objective == "decision"
             else now[None, :] - widths)
    table = pd.DataFrame({
        "N": cands["N"], "D": cands["D"], "C": cands["C"],
        "width_before": now.mean(),
        "width_after": widths.mean(axis=1),
        "width_after_se": widths.std(axis=1, ddof=1) / np.sqrt(num) if num > 1 else np.nan,
        "gain": gains.mean(axis=1),
        "gain_se": gains.std(axis=1, ddof=1) / np.sqrt(num) if num > 1 else np.nan,
    })
    table["gain_per_flop"] = table["gain"] / table["C"]
    table["sd_before"] = sd_now.mean()
    table["sd_after"] = sds.mean(axis=1)
    table["sd_after_se"] = (sds - sd_now[None, :]).std(axis=1, ddof=1) / np.sqrt(num)
    table["regret_before"] = regret_now.mean() if closed_form else np.nan
    table["regret_after"] = regrets.mean(axis=1) if closed_form else np.nan
    table["regret_after_se"] = ((regrets - regret_now[None, :]).std(axis=1, ddof=1)
                                / np.sqrt(num)) if closed_form else np.nan
    return table


def _refit(post, cands, outcomes, target, key, *, kappa, prob, band, config):
    """What `_step` estimates by reweighting, by refitting instead: for each candidate (rows)
    and simulated log-loss outcome (columns), the runs with that run added are fitted again
    (one `fit_many` call, the fit's own priors and sampler settings unless ``config``), and
    the target's interval measured on the refit's draws. Returns the width, log-loss sd and
    regret after, each (candidates, outcomes), and each refit's gate (the same shape)."""
    count, histories = outcomes.shape
    runs = post.runs
    sets = [runs.extended([cands["N"][i]], [cands["D"][i]], [np.exp(y)])
            for i in range(count) for y in np.asarray(outcomes[i], np.float64)]
    batch = fit_many(sets, key=key, law=post.law, priors=post.priors,
                     likelihood=post.likelihood,
                     config=config or SamplerConfig(**post.attrs["sampler"]))
    after = np.empty((3, len(sets)))
    with warnings.catch_warnings():
        # `fit_many` has warned once; each refit's gate is in the table (``refit_gate_ok``).
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j in range(len(sets)):
            refit = batch[j]
            setup = _setup(refit, target, jax.random.fold_in(key, j), kappa, band)
            dtype = setup.params["sigma"].dtype
            values = _width_now(setup.params, setup.kappa, setup.z, setup.excess,
                                jnp.zeros((1, len(setup.z)), dtype), setup.target_log_x,
                                jnp.asarray(_target_distance(setup.fitted, target), dtype),
                                law=post.law, prob=prob, band=band)
            after[:, j] = [float(v[0]) for v in values]
    gates = np.asarray(batch.check()["ok"], bool)
    return after.reshape(3, count, histories), gates.reshape(count, histories)


def _with_refits(post, setup, table, cands, outcomes, now, target, key, *, discrepancy, prob,
                 band, objective, config):
    """A scored table (`_score`'s) whose ``_after`` columns and gains are those of full refits
    on the same simulated ``outcomes`` (`_refit`), the reweighting's beside them
    (``_reweighted``), and ``refit_gate_ok``, the share of each candidate's refits that pass
    the gate."""
    after, gates = _refit(post, cands, outcomes, target, key,
                          kappa=resolve_discrepancy(discrepancy, post), prob=prob, band=band,
                          config=config)
    refitted = _table(cands, now, after, objective=objective,
                      closed_form=setup.excess.shape[1] > 1)
    reweighted = table[["width_after", "width_after_se", "gain"]].add_suffix("_reweighted")
    table = pd.concat([refitted, reweighted, table[["ess_median", "ess_min", "ess_ok"]]], axis=1)
    table["refit_gate_ok"] = gates.mean(axis=1)
    return table


def _refit_notes(ranking, outcomes):
    """What a ranking scored by refits says of itself: how many fits, and how many failed."""
    fits = len(ranking) * outcomes
    notes = [f"the ranking's gains are full refits' ({fits} fits; the reweighting's estimates "
             f"beside them, _reweighted); the batch was chosen by reweighting"]
    failed = round(float(((1 - ranking["refit_gate_ok"]) * outcomes).sum()))
    if failed:
        notes.append(f"{failed} of the {fits} refits failed the diagnostics gate: their "
                     f"candidates' gains are rough (refit_gate_ok < 1)")
    return notes


def _as_candidates(candidates, k):
    if isinstance(candidates, pd.DataFrame):
        frame = candidates
    else:
        frame = pd.DataFrame(candidates)
    missing = [name for name in ("N", "D") if name not in frame.columns]
    if missing:
        raise ValueError(f"candidates need columns N and D (C is derived); missing {missing}")
    table = check_candidates(frame["N"].to_numpy(float), frame["D"].to_numpy(float),
                             flops_per_param_token=k)
    return {name: table[name].to_numpy() for name in ("N", "D", "C")}


def _check_options(post, outcomes, prob, min_ess, objective):
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "decision" and post.law.name not in ALLOCATION_LAWS:
        raise ValueError(f"the decision objective needs a compute-optimal allocation in closed "
                         f"form ({', '.join(ALLOCATION_LAWS)}); this fit uses "
                         f"{post.law.name!r}: use objective='width'")
    if int(outcomes) != outcomes or outcomes < 2:
        raise ValueError(f"outcomes must be a whole number >= 2, got {outcomes!r}")
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    if not min_ess > 0:
        raise ValueError(f"min_ess must be positive, got {min_ess!r}")


def rank_candidates(post, candidates, *, target, key, outcomes=DEFAULT_OUTCOMES, prob=0.9,
                    band="observed", discrepancy="sweep", min_ess=MIN_ESS, objective="width",
                    refit=False, config=None):
    """Score each candidate run by the expected narrowing of the target forecast (module
    docstring), best gain per FLOP first.

    Parameters
    ----------
    post : Posterior
        The fit so far (a law of N, D and C).
    candidates : pandas.DataFrame or dict
        Columns N and D (C = k·N·D with the fit's k).
    target : dict
        N, D and C of the target (`target_point`).
    key : jax.random key
    outcomes : int
        Simulated outcomes per candidate.
    prob : float
        The central interval whose width is the objective.
    band : {"observed", "expected"}
        The target's observed loss (noise and discrepancy, as `forecast`'s observed band) or
        its expected loss (the law alone).
    discrepancy : "sweep", "field", float, KappaDistribution or None
        The extrapolation discrepancy, as for `forecast`.
    min_ess : float
        ``ess_ok`` is False when more than 10% of a candidate's outcomes leave fewer effective
        draws than this.
    objective : {"width", "decision"}
        What the gain measures: the narrowing of the target's interval (``width``), or the
        fall of the expected regret of the compute-optimal allocation at the target's compute
        (``decision``; module docstring).
    refit : bool
        Condition on each simulated outcome by refitting the runs with it (all candidates x
        outcomes in one `fit_many` call: an accelerator's work, or a CPU's for a few) instead
        of reweighting the draws. The reweighted estimate stays in the table beside it.
    config : SamplerConfig, optional
        The refits' sampler settings (default: the fit's own).

    Returns
    -------
    pandas.DataFrame
        One row per candidate: N, D, C, ``width_before``, ``width_after`` (expected),
        ``width_after_se``, ``gain``, ``gain_se`` (Monte-Carlo standard errors over outcomes),
        ``gain_per_flop``, ``sd_before``, ``sd_after`` and ``sd_after_se`` (the standard
        deviation of the target's log-loss, module docstring), ``regret_before``,
        ``regret_after``, ``regret_after_se`` (NaN for a law without a closed-form
        allocation), ``ess_median``, ``ess_min``, ``ess_ok``; sorted by ``gain_per_flop``.
        With ``refit``, the ``_after`` columns and the gains are the refits', and
        ``width_after_reweighted``, ``width_after_se_reweighted`` and ``gain_reweighted`` the
        reweighting's estimates from the same outcomes, and ``refit_gate_ok`` the share of
        refits that pass the gate.
    """
    _check_options(post, outcomes, prob, min_ess, objective)
    cands = _as_candidates(candidates, post.flops_per_param_token)
    k_setup, k_step = jax.random.split(key)
    setup = _setup(post, target, k_setup, discrepancy, band)
    log_w = jnp.zeros((int(outcomes), len(setup.z)), setup.params["sigma"].dtype)
    table, outcomes_drawn, now = _score(setup, log_w, cands, target, k_step, law=post.law,
                                        likelihood=post.likelihood, prob=float(prob),
                                        band=band, min_ess=min_ess, objective=objective)
    if refit:
        table = _with_refits(post, setup, table, cands, outcomes_drawn, now, target,
                             jax.random.fold_in(key, 1), discrepancy=discrepancy,
                             prob=float(prob), band=band, objective=objective, config=config)
    return table.sort_values("gain_per_flop", ascending=False, kind="stable").reset_index(
        drop=True)


def propose_batch(post, candidates, *, target, budget, key, count=4, outcomes=DEFAULT_OUTCOMES,
                  prob=0.9, band="observed", discrepancy="sweep", min_ess=MIN_ESS,
                  objective="width", rank="per-flop", refit=False, config=None):
    """Choose up to ``count`` runs among ``candidates`` within ``budget`` FLOPs, greedily by
    expected gain per FLOP (or by gain), each conditioned on those chosen before (module
    docstring).

    Parameters are those of `rank_candidates`, and

    budget : float
        Total compute of the batch (FLOPs); every chosen run fits what is left of it.
    count : int
        The most runs to propose.
    rank : {"per-flop", "gain"}
        Choose at each step the affordable run of largest expected gain per FLOP (default), or
        of largest expected gain whatever it costs: when the whole budget will be spent anyway,
        per FLOP is myopic (see `RANKS`).
    refit : bool
        Score the first step's ranking (``Design.ranking``) by full refits of its simulated
        outcomes, as `rank_candidates` does; the runs are still chosen by reweighting.
    config : SamplerConfig, optional
        The refits' sampler settings (default: the fit's own).

    Returns
    -------
    Design
        The proposals, the first step's ranking of every candidate, the target, the current
        width, ``method="greedy"`` and notes (why it stopped early; untrustworthy weights).
        With ``objective="decision"`` the gains are falls of the expected regret (the widths
        are still reported).
    """
    _check_options(post, outcomes, prob, min_ess, objective)
    if rank not in RANKS:
        raise ValueError(f"rank must be one of {tuple(RANKS)}, got {rank!r}")
    budget = _positive("the budget", budget)
    if int(count) != count or count < 1:
        raise ValueError(f"count must be a whole number >= 1, got {count!r}")
    cands = _as_candidates(candidates, post.flops_per_param_token)
    if cands["C"].min() > budget * (1 + 1e-9):
        raise ValueError(f"the budget {budget:.3g} FLOPs is smaller than every candidate run "
                         f"(the cheapest costs {cands['C'].min():.3g})")
    law, likelihood, prob = post.law, post.likelihood, float(prob)
    k_setup, k_steps = jax.random.split(key)
    setup = _setup(post, target, k_setup, discrepancy, band)
    fitted = setup.fitted  # the data's edge before any proposed run
    log_w = jnp.zeros((int(outcomes), len(setup.z)), setup.params["sigma"].dtype)
    chosen, rows, notes, ranking = np.zeros(len(cands["C"]), bool), [], [], None
    spent = 0.0
    for step in range(int(count)):
        # Checked before scoring (no step is scored for nothing); never at the first step,
        # since the cheapest candidate fits the budget.
        left = budget - spent
        open_ = ~chosen & (cands["C"] <= left * (1 + 1e-9))
        if not open_.any():
            notes.append(f"stopped after {step} run(s): " + (
                "the budget is spent" if left <= budget * 1e-9 else
                f"no other candidate fits the {left:.3g} FLOPs left of the budget"))
            break
        table, outcomes_drawn, now = _score(setup, log_w, cands, target,
                                          jax.random.fold_in(k_steps, step), law=law,
                                          likelihood=likelihood, prob=prob, band=band,
                                          min_ess=min_ess, objective=objective)
        if ranking is None:
            ranking = table
            if refit:
                ranking = _with_refits(post, setup, table, cands, outcomes_drawn, now, target,
                                       jax.random.fold_in(key, 1), discrepancy=discrepancy,
                                       prob=prob, band=band, objective=objective,
                                       config=config)
                notes += _refit_notes(ranking, int(outcomes))
            ranking = ranking.sort_values(RANKS[rank], ascending=False,
                                          kind="stable").reset_index(drop=True)
        real = (table["gain"] > MIN_GAIN_Z * table["gain_se"]).to_numpy()
        score = np.where(open_ & real, table[RANKS[rank]].to_numpy(), -np.inf)
        best = int(np.argmax(score))
        if not np.isfinite(score[best]):
            what = ("lower the allocation's expected regret" if objective == "decision"
                    else f"narrow the target's {band} interval")
            notes.append(f"stopped after {step} run(s): no affordable candidate is expected to "
                         f"{what} by more than {MIN_GAIN_Z:g} Monte-Carlo standard errors")
            break
        row = table.iloc[best]
        spent += float(row["C"])
        chosen[best] = True
        rows.append({"step": step + 1, "N": row["N"], "D": row["D"], "C": row["C"],
                     "cumulative_C": spent, **{c: row[c] for c in (
                         "width_before", "width_after", "width_after_se", "regret_before",
                         "regret_after", "gain", "gain_se", "gain_per_flop", "ess_median",
                         "ess_ok")}})
        if not row["ess_ok"]:
            notes.append(f"step {step + 1}: more than {1 - ESS_OK_SHARE:.0%} of its simulated "
                         f"outcomes leave fewer than {min_ess:g} effective draws (median "
                         f"{row['ess_median']:.0f}); its width after is rough, refit to check")
        log_x = {name: jnp.log(jnp.asarray(cands[name][best], setup.params["sigma"].dtype))
                 for name in ("N", "D", "C")}
        log_w = _condition(setup.params, log_w, log_x, jnp.asarray(outcomes_drawn[best]),
                           law=law, likelihood=likelihood)
        setup = setup._replace(fitted={n: max(setup.fitted[n], float(cands[n][best]))
                                       for n in ("N", "D", "C")})
    if rows:
        notes.insert(0, f"the {len(rows)} proposed run(s) spend {spent:.3g} of the "
                        f"{budget:.3g} FLOP budget ({max(budget - spent, 0.0):.3g} left)")
    rough = int((~ranking["ess_ok"]).sum())
    if rough:
        notes.append(f"{rough} of the {len(ranking)} candidates (ess_ok False in the ranking) "
                     f"leave fewer than {min_ess:g} effective draws in more than "
                     f"{1 - ESS_OK_SHARE:.0%} of their simulated outcomes: their gains are rough "
                     f"(a run far outside the fitted data, or a unit mistake)")
    beyond = {n: target[n] / fitted[n] for n in ("N", "D", "C")}
    if max(beyond.values()) > FAR_EXTRAPOLATION:
        notes.append(f"the target lies {beyond['C']:.3g}x beyond the largest fitted compute "
                     f"({beyond['N']:.3g}x N, {beyond['D']:.3g}x D): its forecast, and so every "
                     f"gain here, assumes the law still holds there, which the data cannot "
                     f"check")
    best_gain = float(ranking["gain"].max())
    width_now = float(ranking["width_before"].iloc[0])
    if objective == "width" and best_gain < DOMINATED_SHARE * width_now:
        why = (": most of it is noise and the law's own error beyond the data, which only runs "
               "nearer the target reduce; the expected band (band='expected', --band expected) "
               "ranks by parameter uncertainty alone" if band == "observed" else "")
        notes.append(f"no candidate narrows the target's {band} interval by "
                     f"{DOMINATED_SHARE:.0%} of its width (at best {best_gain:.3g} of "
                     f"{width_now:.3g}){why}")
    proposals = pd.DataFrame(rows, columns=[
        "step", "N", "D", "C", "cumulative_C", "width_before", "width_after", "width_after_se",
        "regret_before", "regret_after", "gain", "gain_se", "gain_per_flop", "ess_median",
        "ess_ok"])
    return Design(proposals, ranking, dict(target), width_now, "greedy", notes, objective)


def reweighted_width(post, *, N, D, log_loss, target, key, prob=0.9, band="observed",
                     discrepancy="sweep"):
    """The target's interval width after observing ``log_loss`` at each run (N[i], D[i]),
    one run at a time, by reweighting the draws; and each reweighting's ESS.

    What `rank_candidates` computes for a simulated outcome, for given ones: to compare with a
    full refit (``benchmarks/bench_design.py``). Arrays of length len(N).
    """
    N, D, C = resolve_points(N=N, D=D, flops_per_param_token=post.flops_per_param_token)
    log_loss = np.atleast_1d(np.asarray(log_loss, np.float64))
    setup = _setup(post, target, key, discrepancy, band)
    dtype = setup.params["sigma"].dtype
    widths, ess = [], []
    for n, d, c, y in zip(N, D, C, log_loss):
        log_x = {name: jnp.log(jnp.asarray(v, dtype)) for name, v in (("N", n), ("D", d),
                                                                       ("C", c))}
        log_w = _condition(setup.params, jnp.zeros((1, len(setup.z)), dtype), log_x,
                           jnp.asarray([y], dtype), law=post.law, likelihood=post.likelihood)
        fitted = {name: max(setup.fitted[name], v) for name, v in (("N", n), ("D", d),
                                                                  ("C", c))}
        width = _width_now(setup.params, setup.kappa, setup.z, setup.excess, log_w,
                           setup.target_log_x,
                           jnp.asarray(_target_distance(fitted, target), dtype), law=post.law,
                           prob=float(prob), band=band)
        weights = np.asarray(jax.nn.softmax(log_w[0]), np.float64)
        widths.append(float(width[0][0]))
        ess.append(float(1.0 / np.sum(weights ** 2)))
    return np.asarray(widths), np.asarray(ess)
