"""Compute-optimal allocation with credible intervals: N*, D*, L* for a budget, and its inverse.

For L(N, D) = E + A·N^-α + B·D^-β and cost C = k·N·D, minimising L along N·D = C/k gives
(Hoffmann et al. 2022, eq. 4; DESIGN.md "Forecasts")

    N* = G·(C/k)^a,   D* = (C/k)^b / G,   G = (αA / (βB))^(1/(α+β)),   a = β/(α+β),  b = α/(α+β).

At the optimum the two terms are balanced, α·A·N*^-α = β·B·D*^-β = λ, so L* = E + λ(1/α + 1/β).
That gives the inverse in closed form: a target loss T > E needs λ = (T − E)·αβ/(α+β),
N* = (αA/λ)^(1/α), D* = (βB/λ)^(1/β), C = k·N*·D*; a target T ≤ E is unreachable.

Everything is computed per posterior draw, vectorised over draws × budgets (one jitted function
each), so N*, D*, D*/N*, L* and the compute for a target all get credible intervals.

Beyond the data the law itself may err (`discrepancy`). `compute_for_target` carries that error
by default: per draw, the log-loss reached along the frontier is the law's plus z·κ·d(C), with κ
drawn from the discrepancy's distribution, z ~ Normal(0, 1) and d(C) the distance of (N*, D*, C)
beyond the fitted data, a law error growing steadily with the distance whose spread at each
budget is the forecast's; the compute needed is where that path first reaches the target
(searched on a grid of log C, then interpolated).

Example
-------
>>> import jax.numpy as jnp
>>> p = {"E": 1.817, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3659}
>>> out = optimal_allocation(p, jnp.array([5.76e23]))
>>> round(float(out["tokens_per_param"][0]), 1)
18.3
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .data import parse_number
from .discrepancy import resolve_discrepancy
from .prediction import forecast, interval_columns, resolve_points
from .laws.registry import get_law

__all__ = ["optimal_allocation", "compute_for_loss", "optimal", "compute_for_target", "plan",
           "allocation_exponents", "ALLOCATION_LAWS", "log_spaced_budgets"]

# Laws whose compute-optimal allocation has this closed form.
ALLOCATION_LAWS = ("chinchilla",)
_PARAMS = ("E", "A", "alpha", "B", "beta")
# With the law's own error, the compute for a target is searched on this many values of log C,
# from TARGET_SEARCH_EFOLDS[0] e-folds below the smallest of the law's answers (and the data) to
# TARGET_SEARCH_EFOLDS[1] beyond the largest: 0.04 e-folds (4% of C) apart, then interpolated.
TARGET_SEARCH_EFOLDS = (-5.0, 25.0)
TARGET_GRID_POINTS = 801


def _log_terms(p, k):
    """log G and the exponents a, b of the closed form, broadcastable against budgets."""
    total = p["alpha"] + p["beta"]
    log_g = (jnp.log(p["alpha"] * p["A"]) - jnp.log(p["beta"] * p["B"])) / total
    return log_g, p["beta"] / total, p["alpha"] / total


def optimal_allocation(params, flops, flops_per_param_token=6.0):
    """N*, D*, D*/N* and L* at budgets ``flops`` (pure; broadcasts params against flops).

    Parameters
    ----------
    params : dict
        E, A, alpha, B, beta (scalars or arrays, e.g. posterior draws of shape (S, 1)).
    flops : array
        Budgets C (e.g. shape (1, B)).

    Returns
    -------
    dict of arrays: ``N``, ``D``, ``tokens_per_param``, ``loss``.
    """
    log_g, a, b = _log_terms(params, flops_per_param_token)
    log_nd = jnp.log(flops) - jnp.log(flops_per_param_token)  # log(N·D) = log(C/k)
    log_n = log_g + a * log_nd
    log_d = b * log_nd - log_g
    loss = (params["E"] + params["A"] * jnp.exp(-params["alpha"] * log_n)
            + params["B"] * jnp.exp(-params["beta"] * log_d))
    return {"N": jnp.exp(log_n), "D": jnp.exp(log_d), "tokens_per_param": jnp.exp(log_d - log_n),
            "loss": loss}


def compute_for_loss(params, target, flops_per_param_token=6.0):
    """Compute C (and N*, D*) needed to reach ``target`` loss at the optimum (pure).

    Returns
    -------
    dict of arrays: ``C``, ``N``, ``D`` (NaN where unreachable), their logs ``log_C``, ``log_N``,
    ``log_D`` (near E the compute needed overflows float32, its log does not) and
    ``reachable`` (target > E).
    """
    alpha, beta = params["alpha"], params["beta"]
    excess = target - params["E"]
    reachable = excess > 0
    lam = jnp.where(reachable, excess, 1.0) * alpha * beta / (alpha + beta)
    log_n = (jnp.log(alpha * params["A"]) - jnp.log(lam)) / alpha
    log_d = (jnp.log(beta * params["B"]) - jnp.log(lam)) / beta
    logs = {"log_C": jnp.log(flops_per_param_token) + log_n + log_d, "log_N": log_n,
            "log_D": log_d}
    logs = {name: jnp.where(reachable, value, jnp.nan) for name, value in logs.items()}
    return {**{name[4:]: jnp.exp(value) for name, value in logs.items()}, **logs,
            "reachable": reachable}


@jax.jit
def _optimal_draws(params, flops, k):
    return optimal_allocation({n: v[:, None] for n, v in params.items()}, flops[None, :], k)


@jax.jit
def _target_draws(params, targets, k):
    return compute_for_loss({n: v[:, None] for n, v in params.items()}, targets[None, :], k)


def _draws(post):
    law = get_law(post.law)
    if law.name not in ALLOCATION_LAWS:
        raise ValueError(f"compute-optimal allocation has a closed form only for the laws "
                         f"{', '.join(ALLOCATION_LAWS)}; this fit uses {law.name!r}")
    post.warn_if_unconverged("planning", stacklevel=4)
    return {n: jnp.asarray(v) for n, v in post.draws(list(_PARAMS)).items()}


def _positive(values, what):
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    bad = values[~(np.isfinite(values) & (values > 0))]
    if values.size == 0 or bad.size:
        raise ValueError(f"{what} must be positive and finite, got {bad[0] if bad.size else 'none'}")
    return values


def _flops_per_param_token(post, k):
    """The given k of C = k·N·D (validated), or the fit's own when None."""
    k = post.flops_per_param_token if k is None else k
    return float(_positive(k, "flops per parameter and token")[0])


def log_spaced_budgets(spec):
    """Parse ``"1e21:1e25:9"`` (start:stop:count, log-spaced) into an array of budgets.

    >>> log_spaced_budgets("1e21:1e23:3").tolist()
    [1e+21, 1e+22, 1e+23]
    """
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError(f"cannot read budget range {spec!r}: write start:stop:count, e.g. "
                         f"1e21:1e25:9")
    start, stop = (parse_number(p) for p in parts[:2])
    try:
        count = int(parts[2])
    except ValueError:
        raise ValueError(f"budget range {spec!r}: count {parts[2]!r} is not a whole number") from None
    if count < 1 or start <= 0 or stop <= 0:
        raise ValueError(f"budget range {spec!r}: needs positive start and stop and count >= 1")
    return np.geomspace(start, stop, count)


def allocation_exponents(post, prob=0.9):
    """The exponents of N* ∝ C^a and D* ∝ C^b (a = β/(α+β), b = α/(α+β)) with an interval.

    Parameters
    ----------
    post : Posterior
        A fit whose law has the derived quantities ``a`` and ``b`` (see `ALLOCATION_LAWS`).
    prob : float
        The central interval's probability.

    Returns
    -------
    pandas.DataFrame
        One row per exponent: exponent, median, ``q<lo>``, ``q<hi>``.

    For a Chinchilla fit ``post``, ``allocation_exponents(post)`` has the rows ``a`` and ``b``
    (near 0.5 each for Epoch AI's refit of Hoffmann et al.).
    """
    table = post.summary(prob=prob).loc[["a", "b"]]
    bounds = [c for c in table.columns if c.startswith("q")]
    return table.reset_index().rename(columns={"index": "exponent"})[
        ["exponent", "median", *bounds]]


def optimal(post, flops, *, flops_per_param_token=None, probs=(0.5, 0.9, 0.95)):
    """Compute-optimal N*, D*, D*/N* and L* per budget, each with median and intervals.

    Parameters
    ----------
    post : Posterior
        A fit of a law with a closed-form allocation (see `ALLOCATION_LAWS`).
    flops : float or array
        Budgets C in FLOPs.
    flops_per_param_token : float, optional
        k in C = k·N·D; by default the fit's own.

    Returns
    -------
    pandas.DataFrame
        One row per (budget, quantity) with quantity in N, D, tokens_per_param, loss.
    """
    k = _flops_per_param_token(post, flops_per_param_token)
    flops = _positive(flops, "budgets (FLOPs)")
    out = _optimal_draws(_draws(post), jnp.asarray(flops), k)
    frames = []
    for quantity in ("N", "D", "tokens_per_param", "loss"):
        cols = interval_columns(np.asarray(out[quantity], np.float64), probs)
        frames.append(pd.DataFrame({"budget": np.arange(len(flops)), "C": flops,
                                    "quantity": quantity, **cols}))
    return pd.concat(frames).sort_values(["budget"], kind="stable").reset_index(drop=True)


def _targets_with_discrepancy(params, targets, k, kappa, key, fitted):
    """`compute_for_loss` per draw along a path of the law's own error (module docstring):
    the same keys (log_C, log_N, log_D, reachable), NumPy float64 arrays of shape
    (draws, targets); reachable is False where the path never reaches the target in the range
    searched."""
    p = {name: np.asarray(v, np.float64)[:, None] for name, v in params.items()}
    k_kappa, k_z = jax.random.split(key)
    count = len(p["E"])
    spread = (np.asarray(kappa.sample(k_kappa, count), np.float64)
              * np.asarray(jax.random.normal(k_z, (count,)), np.float64))[:, None]
    law_answer = np.asarray(_target_draws(params, jnp.asarray(targets), k)["log_C"], np.float64)
    ends = np.log([fitted["C"].min(), fitted["C"].max()])
    answered = law_answer[np.isfinite(law_answer)]
    grid = np.linspace(min(ends[0], answered.min(initial=np.inf)) + TARGET_SEARCH_EFOLDS[0],
                       max(ends[1], answered.max(initial=-np.inf)) + TARGET_SEARCH_EFOLDS[1],
                       TARGET_GRID_POINTS)
    # `_log_terms` again, in float64 NumPy: near E the compute searched overflows float32.
    total = p["alpha"] + p["beta"]
    log_g = (np.log(p["alpha"] * p["A"]) - np.log(p["beta"] * p["B"])) / total
    log_nd = grid[None, :] - np.log(k)
    log_n = log_g + p["beta"] / total * log_nd
    log_d = p["alpha"] / total * log_nd - log_g
    distance = np.maximum.reduce([np.zeros_like(log_n), log_n - np.log(fitted["N"].max()),
                                  log_d - np.log(fitted["D"].max()),
                                  np.broadcast_to(grid - ends[1], log_n.shape)])
    path = np.log(p["E"] + p["A"] * np.exp(-p["alpha"] * log_n)
                  + p["B"] * np.exp(-p["beta"] * log_d)) + spread * distance
    rows = np.arange(count)
    out = {name: np.full((count, len(targets)), np.nan) for name in ("log_C", "log_N", "log_D")}
    out["reachable"] = np.zeros((count, len(targets)), bool)
    for j, target in enumerate(np.log(targets)):
        below = path <= target
        first = np.argmax(below, axis=1)
        before = np.maximum(first - 1, 0)
        # Linear interpolation in log C between the last grid value above the target and the
        # first at or below it (the first grid value itself when the path starts below).
        high, low = path[rows, before], path[rows, first]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(first > 0, (high - target) / (high - low), 0.0)
        log_c = grid[before] + share * (grid[first] - grid[before])
        reached = below.any(axis=1)
        out["reachable"][:, j] = reached
        out["log_C"][:, j] = np.where(reached, log_c, np.nan)
        out["log_N"][:, j] = np.where(reached, log_g[:, 0] + p["beta"][:, 0] / total[:, 0]
                                      * (log_c - np.log(k)), np.nan)
        out["log_D"][:, j] = np.where(reached, p["alpha"][:, 0] / total[:, 0]
                                      * (log_c - np.log(k)) - log_g[:, 0], np.nan)
    return out


def compute_for_target(post, target_loss, *, key=None, discrepancy="sweep",
                       flops_per_param_token=None, probs=(0.5, 0.9, 0.95)):
    """Compute (and N*, D*) needed to reach each target loss at the optimum.

    Draws that never reach a target (target ≤ E, or, with the discrepancy, the law's own error
    keeps it out of reach in the range searched) are counted in ``p_reachable`` and
    ``unreachable_draws``, never dropped silently nor turned into infinities: the intervals are
    over the draws that reach it. With the discrepancy, a draw's error beyond the data is not
    bounded by its E, so far enough out it can reach a target at or below E; the share of
    draws that do is ``p_reached_below_E`` (the law's E is then not trusted that far).

    Parameters
    ----------
    post : Posterior
    target_loss : float or array
    key : jax.random key
        For the draws of the discrepancy; needed unless ``discrepancy`` is None or 0.
    discrepancy : "sweep", "field", float, KappaDistribution or None
        The law's own error beyond the data, as for `forecast` (module docstring); None or 0:
        the law taken as exact.

    Returns
    -------
    pandas.DataFrame
        One row per (target, quantity) with quantity in C, N, D.
    """
    k = _flops_per_param_token(post, flops_per_param_token)
    targets = _positive(target_loss, "target losses")
    kappa = resolve_discrepancy(discrepancy, post)
    params = _draws(post)
    if kappa.is_zero:
        out = {name: np.asarray(v) for name, v in
               _target_draws(params, jnp.asarray(targets), k).items()}
    else:
        if key is None:
            raise ValueError("compute_for_target draws the law's own error beyond the data: "
                             "give key=jax.random.key(...), or discrepancy=None to take the law "
                             "as exact")
        out = _targets_with_discrepancy(params, targets, k, kappa, key, post.runs_table)
    reachable = out["reachable"]
    floor = np.asarray(params["E"], np.float64).reshape(-1)
    frames = []
    for j, target in enumerate(targets):
        ok = reachable[:, j]
        # Reached although the law's own E is at or above the target: only the law's error
        # far beyond the data can do that, so callers say so (E is not trusted that far).
        below_floor = float((ok & (floor >= target)).mean())
        for quantity in ("C", "N", "D"):
            values = np.exp(np.asarray(out[f"log_{quantity}"][:, j], np.float64)[ok])
            cols = (interval_columns(values[:, None], probs) if ok.any()
                    else {c: [np.nan] for c in interval_columns(np.ones((1, 1)), probs)})
            frames.append(pd.DataFrame({
                "target": j, "target_loss": target, "quantity": quantity,
                "p_reachable": ok.mean(), "unreachable_draws": int((~ok).sum()),
                "p_reached_below_E": below_floor,
                **{c: np.ravel(v) for c, v in cols.items()}}))
    return pd.concat(frames).reset_index(drop=True)


def plan(post, N=None, D=None, C=None, *, key, discrepancy="sweep", within=0.1,
         probs=(0.5, 0.9, 0.95)):
    """Judge a planned run against the compute-optimal allocation of the same compute.

    Per posterior draw: the planned run's expected loss; the optimal allocation for its compute
    and that loss L*; the compute the optimal allocation needs to match the planned loss, and
    so the share of the planned compute that is wasted (1 − C_match / C).

    Parameters
    ----------
    key : jax.random key
        For the planned run's observed loss (run-to-run noise and the discrepancy).
    discrepancy : "sweep", "field", float, KappaDistribution or None
        The law's own error beyond the data in the planned run's observed loss, as for
        `forecast`.
    within : float
        Report P(wasted share ≤ within), the probability that the plan is within this
        fraction of optimal in compute terms (default 10%).

    Returns
    -------
    (pandas.DataFrame, dict)
        A table (quantity in planned_loss, planned_observed_loss, optimal_loss, optimal_N,
        optimal_D, optimal_tokens_per_param, compute_to_match, wasted_share) with intervals:
        ``planned_observed_loss`` is what the run itself would report (the `forecast`'s
        observed band: noise and, beyond the data, the law's own error); the rest compare the
        law's expected losses, in which the law's error is shared by the plan and the optimum. And
        ``{"N", "D", "C", "p_within", "within"}`` for the plan.
    """
    if not 0 <= within < 1:
        raise ValueError(f"within must be a fraction in [0, 1), got {within}")
    k = post.flops_per_param_token
    Ns, Ds, Cs = resolve_points(N, D, C, k)
    if len(Ns) != 1:
        raise ValueError("plan judges one run at a time; give single values")
    params = _draws(post)
    law = get_law(post.law)
    log_x = {"N": jnp.log(jnp.asarray(Ns)), "D": jnp.log(jnp.asarray(Ds))}
    planned = np.asarray(jnp.exp(law.log_loss({n: v[:, None] for n, v in params.items()},
                                              {n: v[None, :] for n, v in log_x.items()}))[:, 0])
    best = _optimal_draws(params, jnp.asarray(Cs), k)
    log_match = compute_for_loss(params, jnp.asarray(planned), k)["log_C"]  # planned > E
    match = np.exp(np.asarray(log_match, np.float64))
    wasted = 1.0 - match / Cs[0]
    observed = forecast(post, N=Ns, D=Ds, key=key, probs=probs, discrepancy=discrepancy)
    values = {"planned_loss": planned, "optimal_loss": best["loss"][:, 0],
              "optimal_N": best["N"][:, 0], "optimal_D": best["D"][:, 0],
              "optimal_tokens_per_param": best["tokens_per_param"][:, 0],
              "compute_to_match": match, "wasted_share": wasted}
    rows = []
    for quantity, v in values.items():
        cols = interval_columns(np.asarray(v, np.float64)[:, None], probs)
        rows.append({"quantity": quantity, **{c: float(np.ravel(x)[0]) for c, x in cols.items()}})
        if quantity == "planned_loss":
            row = observed[observed["quantity"] == "observed"].iloc[0]
            rows.append({"quantity": "planned_observed_loss", **{c: float(row[c]) for c in cols}})
    facts = {"N": float(Ns[0]), "D": float(Ds[0]), "C": float(Cs[0]), "within": within,
             "p_within": float(np.mean(wasted <= within))}
    return pd.DataFrame(rows), facts
