"""The reference baseline: Hoffmann et al.'s Huber fit from a grid of starts, with a bootstrap.

This is the frequentist procedure that Bayesian fits are compared with (Hoffmann et al. 2022,
Approach 3, as replicated by Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt"):

* the law in log space, ``log L̂ = logsumexp(a − α·log N, b − β·log D, e)`` with A = e^a,
  B = e^b, E = e^e;
* the objective, the *sum* over runs of the Huber loss (δ = 1e-3) of ``log L̂ − log L``;
* BFGS from each of Hoffmann's 4,500 starting points (`HOFFMANN_GRID`), keeping the best;
* a non-parametric bootstrap for intervals: each resample refitted, plus a residual scale σ_b per
  resample so that `bootstrap_predictive` can draw "observed" losses as well as the curve.

Everything is computed in float64 (see `huber_fit`), inside the call only: the user's global
JAX configuration is left as it is. The runs are padded to a bucket of a few sizes with zero
weight (`inference.padding`, `_padded`), so that fits of other numbers of runs (backtest cutoffs,
subsets) reuse the compiled optimiser.

Example
-------
>>> import jax, bayes_scaling
>>> runs = bayes_scaling.simulate(jax.random.key(0), num_runs=240, sigma=1e-3)
>>> fit = huber_fit(runs, grid=HOFFMANN_GRID[::450])
>>> fit["converged"], round(fit["alpha"], 2), round(fit["beta"], 2)
(True, 0.35, 0.37)
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import logsumexp

from ..inference.padding import pad_runs, pad_to, padded_size
from ..prediction import resolve_points

__all__ = ["HOFFMANN_GRID", "GRID_COLUMNS", "Bootstrap", "huber_fit", "huber_bootstrap",
           "bootstrap_predictive", "resample_weights"]

GRID_COLUMNS = ("a", "b", "e", "alpha", "beta")
NUM_PARAMS = len(GRID_COLUMNS)

# Hoffmann et al.'s (2022) starting points for Approach 3: every combination, 6·6·5·5·5 = 4,500.
HOFFMANN_GRID = np.array(list(itertools.product(
    np.arange(0.0, 30.0, 5.0),       # a = log A
    np.arange(0.0, 30.0, 5.0),       # b = log B
    np.arange(-1.0, 1.5, 0.5),       # e = log E
    np.arange(0.0, 2.5, 0.5),        # alpha
    np.arange(0.0, 2.5, 0.5),        # beta
)))

# Optimiser settings. A run of BFGS has converged when max |gradient| <= gtol, or when the
# objective fell by less than ftol (relatively) over the last 5 accepted steps. Both apply to the
# objective divided by δ·Σw (`_scaled_objective`), about the mean |residual|, so they mean the
# same for any δ and number of runs: SciPy's absolute defaults are what stopped Hoffmann's
# optimiser early on the *mean* Huber loss (Besiroglu et al. 2024, "loss scale"). Every start of
# a grid is run to SCREEN_TOL (enough to rank them) and the best one on to TOL, as is every
# bootstrap resample. On the Chinchilla runs TOL pins the parameters to ~1e-7 (relative, along
# the flat directions); with 10x looser tolerances one bootstrap resample in 4,000 stalled 1e-4
# away from its optimum.
SCREEN_TOL = (1e-5, 1e-7)  # (gtol, ftol)
TOL = (1e-10, 1e-15)
MAXITER = 1000         # accepted BFGS steps per start
MAX_BACKTRACKS = 40    # rejected trials (each cuts the step 2 to 10 times) before giving up
ARMIJO = 1e-4          # sufficient-decrease constant of the line search
MAX_STEP = 2.0 ** 20   # largest first trial step, as a multiple of the BFGS step
POOL = 256             # optimiser lanes evaluated together (see `_solve`)
HUBER_SMALLEST_BUCKET = 32  # runs are padded to a power of two from here (see `_padded`)

# Why an optimisation stopped.
_RUNNING, _GRADIENT, _OBJECTIVE, _MAXITER, _LINE_SEARCH, _IDLE = 0, 1, 2, 3, 4, -1


def _float64():
    """A context in which JAX computes in float64, whatever the global setting.

    ``jax.enable_x64`` appeared in JAX 0.8 and replaced ``jax.experimental.enable_x64``, which
    JAX 0.10 removed; the project supports both sides of that change.
    """
    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # JAX < 0.8
        from jax.experimental import enable_x64
        return enable_x64()
    return enable(True)


def _log_loss(theta, log_n, log_d):
    """``logsumexp(a − α·log N, b − β·log D, e)`` for ``theta = (a, b, e, α, β)``."""
    a, b, e, alpha, beta = theta
    terms = jnp.stack(jnp.broadcast_arrays(a - alpha * log_n, b - beta * log_d, e))
    return logsumexp(terms, axis=0)


def _huber(r, delta):
    """Huber loss: r²/2 within ±δ, linear beyond (as ``scipy.special.huber``)."""
    size = jnp.abs(r)
    return jnp.where(size <= delta, 0.5 * r * r, delta * (size - 0.5 * delta))


def _scaled_objective(theta, weights, data, delta):
    """Σ w·Huber(log L̂ − log L) / (δ·Σw): the fitted objective, rescaled to O(mean |residual|).

    The rescaling changes no minimiser; it only makes the tolerances scale-free.
    """
    log_n, log_d, log_l = data
    residual = _log_loss(theta, log_n, log_d) - log_l
    return jnp.sum(weights * _huber(residual, delta)) / (delta * jnp.sum(weights))


class _Lane(NamedTuple):
    """One optimisation in progress: BFGS with a backtracking line search, one evaluation a step."""

    job: jax.Array     # which start or resample it works on (the job count when idle)
    x: jax.Array       # accepted iterate
    f: jax.Array       # objective at x (inf until the start is evaluated)
    g: jax.Array       # gradient at x
    H: jax.Array       # inverse Hessian estimate
    p: jax.Array       # search direction
    t: jax.Array       # trial step along p
    k: jax.Array       # accepted steps (-1 until the start is evaluated)
    fails: jax.Array   # rejected trials in the current line search
    recent: jax.Array  # objective before each of the last few accepted steps (oldest first)
    status: jax.Array  # _RUNNING, why it stopped, or _IDLE


def _fresh(job, x0):
    """A lane about to evaluate its start: the first trial is x0 itself (p = 0, f = inf)."""
    zero = jnp.zeros_like(x0)
    eye = jnp.eye(NUM_PARAMS, dtype=x0.dtype)
    return _Lane(job=job, x=x0, f=jnp.asarray(jnp.inf, x0.dtype), g=zero, H=eye, p=zero,
                 t=jnp.asarray(1.0, x0.dtype), k=jnp.asarray(-1), fails=jnp.asarray(0),
                 recent=jnp.full(NUM_PARAMS, jnp.inf, x0.dtype), status=jnp.asarray(_RUNNING))


def _steepest(g):
    """Initial inverse Hessian: a first step moves no parameter by more than about 1."""
    return jnp.eye(NUM_PARAMS, dtype=g.dtype) / jnp.maximum(jnp.max(jnp.abs(g)), 1.0)


def _bfgs_update(H, s, y, first):
    """BFGS update of the inverse Hessian (Nocedal & Wright 2006, eq. 6.17): (H, curved).

    Before the first update H is rescaled to (sᵀy / yᵀy)·I (eq. 6.20). Without positive
    curvature along the step (sᵀy ≤ 0: the objective is concave there, which the line search,
    asking only for sufficient decrease, allows) H is kept and ``curved`` is False.
    """
    sy = s @ y
    eye = jnp.eye(NUM_PARAMS, dtype=H.dtype)
    H = jnp.where(first, (sy / (y @ y)) * eye, H)
    rho = 1.0 / sy
    v = eye - rho * jnp.outer(s, y)
    updated = v @ H @ v.T + rho * jnp.outer(s, s)
    curved = (sy > 1e-12 * jnp.linalg.norm(s) * jnp.linalg.norm(y)) & jnp.all(jnp.isfinite(updated))
    return jnp.where(curved, updated, H), curved


def _step(lane, weights, data, delta, gtol, ftol, maxiter):
    """Evaluate the lane's trial point, then accept it (BFGS update) or shorten the step."""
    trial = lane.x + lane.t * lane.p
    f, g = jax.value_and_grad(_scaled_objective)(trial, weights, data, delta)
    slope = lane.g @ lane.p
    accept = jnp.isfinite(f) & (f <= lane.f + ARMIJO * lane.t * slope)

    # Accepted: a BFGS step (or, for a fresh lane, the start's value and gradient).
    start = lane.k < 0
    H, curved = _bfgs_update(lane.H, trial - lane.x, g - lane.g, lane.k == 0)
    H = jnp.where(start, _steepest(g), H)
    p = -H @ g
    lost = ~(g @ p < 0)  # not a descent direction (rounding): restart from steepest descent
    H = jnp.where(lost, _steepest(g), H)
    p = jnp.where(lost, -H @ g, p)
    # Where the objective is concave H learns nothing, and unit steps would crawl along the
    # ridges of degenerate fits for thousands of steps: double the next first trial instead
    # while full steps keep being accepted.
    grow = ~start & ~lost & ~curved & (lane.fails == 0)
    t_next = jnp.where(grow, jnp.minimum(2.0 * lane.t, MAX_STEP), 1.0)
    k = lane.k + 1
    recent = jnp.roll(lane.recent, -1).at[-1].set(lane.f)
    stop = jnp.where(jnp.max(jnp.abs(g)) <= gtol, _GRADIENT,
                     jnp.where(recent[0] - f <= ftol * jnp.abs(f), _OBJECTIVE,
                               jnp.where(k >= maxiter, _MAXITER, _RUNNING)))
    accepted = _Lane(job=lane.job, x=trial, f=f, g=g, H=H, p=p, t=t_next, k=k,
                     fails=jnp.zeros_like(lane.fails), recent=recent, status=stop)

    # Rejected: the minimiser of the quadratic through f(x), its slope and f(trial), kept within
    # [0.1 t, 0.5 t] (Nocedal & Wright 2006, section 3.5); a tenth of the step if f is not finite.
    t_quad = -slope * lane.t ** 2 / (2.0 * (f - lane.f - slope * lane.t))
    t = jnp.where(jnp.isfinite(t_quad), jnp.clip(t_quad, 0.1 * lane.t, 0.5 * lane.t), 0.1 * lane.t)
    fails = lane.fails + 1
    # A start whose objective is not finite cannot be improved by shortening a zero step.
    give_up = start | (fails >= MAX_BACKTRACKS)
    rejected = lane._replace(t=t, fails=fails,
                             status=jnp.where(give_up, _LINE_SEARCH, _RUNNING))
    return jax.tree_util.tree_map(lambda a, r: jnp.where(accept, a, r), accepted, rejected)


@functools.partial(jax.jit, static_argnames=("pool", "maxiter"))
def _solve(starts, weights, data, delta, gtol, ftol, *, pool=POOL, maxiter=MAXITER):
    """Minimise `_scaled_objective` for every job: starts[i] with weights[i].

    ``starts`` (S, 5) and ``weights`` (W, runs) have S, W ∈ {1, J}, J jobs. A plain
    ``vmap`` over jobs steps all of them in lockstep until the slowest one stops, and every
    line search waits for the longest. Instead ``pool`` lanes are vmapped over, each doing one
    function evaluation per step (a line-search trial or a BFGS step), and a lane whose job stops
    takes the next one: the work is then about the sum of the jobs' evaluations. On Hoffmann's
    grid and the Chinchilla runs this takes 4.4 s of CPU against 27 s for one lane per job.
    (A BFGS of its own beside `inference.nuts.laplace`, which is a fixed 60-evaluation start for
    one posterior: Hoffmann's procedure needs every fit run to its tolerances gtol and ftol.)
    Returns per job: x, scaled objective, status and accepted steps.
    """
    num_jobs = max(starts.shape[0], weights.shape[0])
    pool = min(pool, num_jobs)

    def job_start(job):
        return starts[jnp.where(starts.shape[0] == 1, 0, job)]

    def job_weights(job):
        return weights[jnp.where(weights.shape[0] == 1, 0, job)]

    def refill(lanes, next_job):
        free = lanes.status != _RUNNING
        job = next_job + jnp.cumsum(free) - 1
        take = free & (job < num_jobs)
        job = jnp.where(take, job, num_jobs)
        fresh = jax.vmap(_fresh)(job, job_start(jnp.minimum(job, num_jobs - 1)))
        fresh = fresh._replace(status=jnp.where(take, _RUNNING, _IDLE))
        lanes = jax.tree_util.tree_map(
            lambda new, old: jnp.where(free.reshape((-1,) + (1,) * (old.ndim - 1)), new, old),
            fresh, lanes)
        return lanes, jnp.minimum(next_job + jnp.sum(free), num_jobs)

    def body(carry):
        lanes, next_job, out = carry
        lanes, next_job = refill(lanes, next_job)
        running = lanes.status == _RUNNING
        w = job_weights(jnp.minimum(lanes.job, num_jobs - 1))
        stepped = jax.vmap(_step, in_axes=(0, 0) + (None,) * 5)(lanes, w, data, delta, gtol,
                                                                 ftol, maxiter)
        lanes = jax.tree_util.tree_map(
            lambda new, old: jnp.where(running.reshape((-1,) + (1,) * (old.ndim - 1)), new, old),
            stepped, lanes)
        done = jnp.where(running & (lanes.status != _RUNNING), lanes.job, num_jobs)
        out = {"x": out["x"].at[done].set(lanes.x, mode="drop"),
               "f": out["f"].at[done].set(lanes.f, mode="drop"),
               "status": out["status"].at[done].set(lanes.status, mode="drop"),
               "steps": out["steps"].at[done].set(lanes.k, mode="drop")}
        return lanes, next_job, out

    def cond(carry):
        lanes, next_job, _ = carry
        return (next_job < num_jobs) | jnp.any(lanes.status == _RUNNING)

    dtype = starts.dtype
    idle = jax.vmap(_fresh)(jnp.full(pool, num_jobs), jnp.zeros((pool, NUM_PARAMS), dtype))
    idle = idle._replace(status=jnp.full(pool, _IDLE))
    out = {"x": jnp.full((num_jobs, NUM_PARAMS), jnp.nan, dtype),
           "f": jnp.full(num_jobs, jnp.inf, dtype),
           "status": jnp.full(num_jobs, _IDLE, idle.status.dtype),
           "steps": jnp.zeros(num_jobs, idle.k.dtype)}
    _, _, out = jax.lax.while_loop(cond, body, (idle, jnp.asarray(0), out))
    return out


def _check_runs(runs):
    """log N, log D, log L of the runs as float64 arrays, after checking there are enough."""
    arrays = [np.asarray(getattr(runs, name), dtype=np.float64) for name in ("N", "D", "loss")]
    if arrays[0].ndim != 1 or not all(a.shape == arrays[0].shape for a in arrays):
        raise ValueError("runs.N, runs.D and runs.loss must be 1-D arrays of one length")
    if len(arrays[0]) < NUM_PARAMS:
        raise ValueError(f"too few runs: the Huber fit has {NUM_PARAMS} parameters (E, A, alpha, "
                         f"B, beta) and needs at least {NUM_PARAMS} runs, got {len(arrays[0])}")
    for name, values in zip(("N", "D", "loss"), arrays):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"runs.{name} must be positive and finite")
    return tuple(np.log(a) for a in arrays)


def _check_delta(delta):
    delta = float(delta)
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be positive and finite, got {delta}")
    return delta


def _check_grid(grid):
    grid = HOFFMANN_GRID if grid is None else np.asarray(grid, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[1] != NUM_PARAMS or len(grid) == 0:
        raise ValueError(f"grid must have shape (starts, {NUM_PARAMS}) with columns "
                         f"{GRID_COLUMNS}, got {grid.shape}")
    if not np.all(np.isfinite(grid)):
        raise ValueError("grid must be finite")
    return grid


def _params(theta):
    """The published parameterisation of ``theta = (a, b, e, α, β)`` (arrays along axis 0)."""
    a, b, e, alpha, beta = (np.asarray(v, dtype=np.float64) for v in theta)
    with np.errstate(over="ignore"):  # a degenerate fit may send a term's coefficient to inf
        return {"E": np.exp(e), "A": np.exp(a), "alpha": alpha, "B": np.exp(b), "beta": beta}


@jax.jit
def _residual_scale(thetas, weights, data):
    """Root mean square of the weighted log-loss residuals, per row of thetas and weights."""
    log_n, log_d, log_l = data

    def one(theta, w):
        residual = _log_loss(theta, log_n, log_d) - log_l
        return jnp.sqrt(jnp.sum(w * residual ** 2) / jnp.sum(w))

    return jax.vmap(one)(thetas, weights)


def _converged(status):
    """Whether optimisations met a tolerance (not stopped by maxiter or a failed line search)."""
    status = np.asarray(status)
    return (status == _GRADIENT) | (status == _OBJECTIVE)


def _padded(logs, weights):
    """``(data, weights)`` on the device, the runs padded to `padded_size`.

    The padding repeats the first run (finite, so that no NaN reaches a gradient) with weight
    zero in every row of ``weights`` (resamples, runs): it adds exactly nothing to the Huber
    objective, to Σw and to the residual scale, and a resample's counts were drawn among the
    real runs (`resample_weights`) before padding. The compiled `_solve` and
    `_residual_scale` then serve every number of runs in the bucket: a fit and bootstrap of a
    new number of runs compiled 18 programs (4.7-5.0 s on 2 CPU cores) unpadded, and compile
    one in the bucket, the resamples' draw (`resample_weights`, 0.3-0.5 s). The buckets are
    powers of two from `HUBER_SMALLEST_BUCKET`, not the sampler's 256 and up: every resample
    pays for the padding in every BFGS step, and a warm 1000-resample bootstrap of 60 runs took
    5.9-8.3 s padded to 256 against 1.9-2.4 s padded to 64 (same process, 2 loaded cores).
    """
    log_n, log_d, log_l = logs
    size = padded_size(len(log_l), smallest=HUBER_SMALLEST_BUCKET)
    x, log_l, mask = pad_runs({"N": log_n, "D": log_d}, log_l, size)
    return jax.device_put(((x["N"], x["D"], log_l), pad_to(weights, len(mask)) * mask))


def _fit(data, weights, grid, delta):
    """The full-data fit from ``grid``: (x, scaled objective, converged); ``weights`` (1, runs)
    are 1 on the runs and 0 on their padding.

    Every start is run to the loose SCREEN_TOL, then the best one on to TOL: only the winner's
    precision matters, and screening to TOL would take 2.5 times as long on Hoffmann's grid.
    (Two calls rather than one jitted program: the polishing call, from one start, then compiles
    once per bucket of runs, shared with every grid and with one-start fits.)
    """
    screen = _solve(jnp.asarray(grid), weights, data, delta, *SCREEN_TOL)
    f = np.asarray(screen["f"])
    best = int(np.argmin(np.where(np.isfinite(f), f, np.inf)))
    if not np.isfinite(f[best]):
        raise FloatingPointError("the objective is not finite at any start of the grid")
    out = _solve(screen["x"][best][None], weights, data, delta, *TOL)
    return np.asarray(out["x"][0]), float(out["f"][0]), bool(_converged(out["status"][0]))


def huber_fit(runs, *, delta=1e-3, grid=None):
    """Hoffmann et al.'s Approach 3 fit: minimum Huber loss on log-loss from a grid of starts.

    Minimises Σ_runs Huber_δ(log L̂ − log L) with ``log L̂ = logsumexp(a − α·log N,
    b − β·log D, e)`` over (a, b, e, α, β), by BFGS from every row of ``grid``, and keeps the
    lowest objective. Hoffmann et al. used L-BFGS; with five parameters the full BFGS inverse
    Hessian costs nothing, and it is what L-BFGS approximates from its last few steps. The
    starts are vectorised (a pool of vmapped BFGS lanes in one jitted loop, see `_solve`); each
    is run to a loose tolerance, and the best one on to a tight one (`SCREEN_TOL`, `TOL`).

    The computation runs in float64 whatever JAX's global setting. Most residuals lie beyond
    δ, on the linear part of the Huber loss, so the objective is nearly flat along (log A, α)
    and (log B, β): in float32 its rounding stops BFGS up to ~4e-4 (relative) away from the
    optimum along those directions on the Chinchilla runs, and `TOL` cannot be met.

    Parameters
    ----------
    runs : Runs
        The runs to fit (``N``, ``D``, ``loss``); at least 5.
    delta : float
        Huber threshold δ on log-loss residuals.
    grid : array of shape (starts, 5), optional
        Starting points, columns (a, b, e, alpha, beta) = (log A, log B, log E, α, β);
        `HOFFMANN_GRID` (4,500 starts) by default.

    Returns
    -------
    dict
        ``E``, ``A``, ``alpha``, ``B``, ``beta`` (floats), ``objective`` (the sum of Huber
        losses at the fit) and ``converged`` (the best start's optimiser met its gradient or
        objective tolerance).

    Raises
    ------
    ValueError
        Fewer than 5 runs, non-positive values, a bad ``delta`` or ``grid``.

    Examples
    --------
    >>> import jax, bayes_scaling
    >>> runs = bayes_scaling.simulate(jax.random.key(0), num_runs=240, sigma=1e-3)
    >>> fit = huber_fit(runs, grid=HOFFMANN_GRID[::450])
    >>> round(fit["E"], 2), fit["converged"]
    (1.82, True)
    """
    delta = _check_delta(delta)
    logs = _check_runs(runs)
    grid = _check_grid(grid)
    with _float64():
        x, f, converged = _fit(*_padded(logs, np.ones((1, len(logs[0])))), grid, delta)
    return {**{k: float(v) for k, v in _params(x).items()},
            "objective": f * delta * len(logs[0]), "converged": bool(converged)}


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """Bootstrap of the Huber fit: one refit per resample of the runs.

    Attributes
    ----------
    point : dict of float
        The full-data fit: ``E``, ``A``, ``alpha``, ``B``, ``beta``, ``sigma`` (root mean square
        of its log-loss residuals), ``objective`` and ``converged``.
    draws : dict of numpy.ndarray
        Per resample (shape ``(num_resamples,)``): ``E``, ``A``, ``alpha``, ``B``, ``beta`` and
        ``sigma``, the root mean square of that resample's weighted log-loss residuals.
    converged : numpy.ndarray of bool
        Whether each resample's optimiser met its tolerance.
    delta : float
        The Huber threshold used.
    """

    point: dict
    draws: dict
    converged: np.ndarray
    delta: float

    @property
    def num_resamples(self):
        return len(self.converged)

    def summary(self, probs=0.95):
        """Estimate, bootstrap standard error and percentile interval per parameter.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter, columns ``estimate``, ``se``, ``lo``, ``hi``.
        """
        lo, hi = (1 - probs) / 2, (1 + probs) / 2
        with np.errstate(over="ignore", invalid="ignore"):  # degenerate resamples: inf SE
            rows = {name: {"estimate": self.point[name], "se": float(np.std(v, ddof=1)),
                           "lo": float(np.quantile(v, lo)), "hi": float(np.quantile(v, hi))}
                    for name, v in self.draws.items()}
        return pd.DataFrame.from_dict(rows, orient="index")


def resample_weights(key, num_runs, num_resamples):
    """Non-parametric bootstrap resamples as multinomial counts: shape (num_resamples, num_runs).

    Row r counts how often each run is drawn among ``num_runs`` draws with replacement. Every
    resample then has the same shape, so one vmapped call fits them all, and the count-weighted
    objective equals the objective on the resampled list of runs.

    >>> w = resample_weights(jax.random.key(0), num_runs=240, num_resamples=500)
    >>> w.shape, bool((w.sum(axis=1) == 240).all()), bool((w == 0).any(axis=1).all())
    ((500, 240), True, True)
    """
    # An explicit dtype: the default integer, int64 under x64, would draw other resamples.
    draws = np.asarray(jax.random.randint(key, (num_resamples, num_runs), 0, num_runs,
                                          dtype=jnp.int32))
    # Counted in NumPy: the same counts as with jnp, without compiling ten small programs
    # (0.3 s) for every new shape. Row r's draws are offset into bins r·num_runs onwards.
    offsets = num_runs * np.arange(num_resamples)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=num_resamples * num_runs)
    return counts.reshape(num_resamples, num_runs).astype(np.float64)


def huber_bootstrap(runs, *, key=None, num_resamples=4000, weights=None, delta=1e-3, grid=None,
                    fit=None):
    """Bootstrap the Huber fit: refit it on resamples of the runs.

    The full data are fitted first (`huber_fit`, from ``grid``, unless ``fit`` is given). Each
    resample is then refitted by BFGS from that fit, a single warm start. Besiroglu et al. (2024)
    also refit each resample by BFGS from one start (Hoffmann et al.'s published values);
    starting from the full-data optimum puts every resample close to its own optimum, so fewer
    steps are needed and no resample drifts into one of the degenerate minima that Hoffmann's
    grid is there to avoid. The resamples are multinomial count weights on the runs
    (`resample_weights`), so that one vmapped, jitted call fits them all.

    Parameters
    ----------
    runs : Runs
    key : jax.random key, optional
        Draws the resamples; required unless ``weights`` is given.
    num_resamples : int
        Number of resamples (Besiroglu et al. used 4,000); ignored with ``weights``.
    weights : array of shape (resamples, runs), optional
        Explicit non-negative weights per resample instead of random ones (e.g. 0/1 rows for
        Hoffmann et al.'s 80 % subsamples).
    delta, grid
        As in `huber_fit`; ``grid`` is used for the full-data fit only.
    fit : dict, optional
        A `huber_fit` result for these runs, used as the warm start instead of fitting the full
        data again from ``grid``.

    Returns
    -------
    Bootstrap
        Its ``point`` is the full data refitted from the warm start, so it equals ``fit``.

    Examples
    --------
    >>> import jax, bayes_scaling
    >>> runs = bayes_scaling.simulate(jax.random.key(0), num_runs=240, sigma=1e-3)
    >>> boot = huber_bootstrap(runs, key=jax.random.key(1), num_resamples=500,
    ...                        grid=HOFFMANN_GRID[::450])
    >>> boot.draws["alpha"].shape, bool(boot.converged.all())
    ((500,), True)
    >>> se = boot.summary()["se"]
    >>> bool(se["alpha"] < 0.01)
    True
    """
    delta = _check_delta(delta)
    logs = _check_runs(runs)
    grid = _check_grid(grid)
    num_runs = len(logs[0])
    if (key is None) == (weights is None):
        raise ValueError("give either key (random resamples) or weights, not both or neither")
    start = None if fit is None else _as_theta(fit)
    if weights is None:
        num_resamples = int(num_resamples)
        if num_resamples < 1:
            raise ValueError(f"num_resamples must be at least 1, got {num_resamples}")
        weights = resample_weights(key, num_runs, num_resamples)
    else:
        weights = _check_weights(weights, num_runs)
    with _float64():
        # The full data ride along as one more row: the point fit and its σ come from this call.
        data, weights = _padded(logs, np.vstack([weights, np.ones(num_runs)]))
        if start is None:
            start = _fit(data, weights[-1:], grid, delta)[0]
        out = _solve(jnp.asarray(start)[None], weights, data, delta, *TOL)
        sigma = np.asarray(_residual_scale(out["x"], weights, data))
    thetas, converged = np.asarray(out["x"]), _converged(out["status"])
    point = {**{k: float(v) for k, v in _params(thetas[-1]).items()}, "sigma": float(sigma[-1]),
             "objective": float(out["f"][-1]) * delta * num_runs, "converged": bool(converged[-1])}
    return Bootstrap(point=point, draws={**_params(thetas[:-1].T), "sigma": sigma[:-1]},
                     converged=converged[:-1], delta=delta)


def _as_theta(fit):
    """(a, b, e, alpha, beta) of a dict with E, A, alpha, B, beta."""
    try:
        values = np.array([fit[name] for name in ("A", "B", "E", "alpha", "beta")], np.float64)
    except (KeyError, TypeError, ValueError):
        raise ValueError("fit must be a huber_fit result: a dict with E, A, alpha, B and "
                         "beta") from None
    if not (np.all(np.isfinite(values)) and np.all(values[:3] > 0)):
        raise ValueError(f"fit must have finite values and positive E, A, B, got {fit}")
    return np.concatenate([np.log(values[:3]), values[3:]])


def _check_weights(weights, num_runs):
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != num_runs:
        raise ValueError(f"weights must have shape (resamples, {num_runs}), got {weights.shape}")
    if not np.all(np.isfinite(weights) & (weights >= 0)):
        raise ValueError("weights must be non-negative and finite")
    few = np.flatnonzero((weights > 0).sum(axis=1) < NUM_PARAMS)
    if len(few):
        raise ValueError(f"too few runs: resample {few[0]} puts weight on fewer than "
                         f"{NUM_PARAMS} runs, the number of parameters")
    return weights


@jax.jit
def _predict(thetas, sigma, log_n, log_d, key):
    expected = jax.vmap(_log_loss, in_axes=(0, None, None))(thetas, log_n, log_d)
    noise = jax.random.normal(key, expected.shape, dtype=expected.dtype)
    return expected, expected + sigma[:, None] * noise


def bootstrap_predictive(boot, N, D, *, key):
    """Expected and "observed" log-loss per resample at new points, to set beside forecasts.

    The expected log-loss is each resample's fitted curve; the observed one adds Normal(0, σ_b)
    noise on log-loss, σ_b being that resample's residual scale: the bootstrap's counterpart of
    the posterior predictive's "expected" and "observed" bands (`bayes_scaling.forecast`).

    Parameters
    ----------
    boot : Bootstrap
    N, D : float or array-like
        Parameters and tokens of the points, broadcast together.
    key : jax.random key
        For the observation noise.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``expected_log_loss`` and ``observed_log_loss``, each of shape (num_resamples, points).

    Examples
    --------
    >>> draws = {"E": np.array([1.8, 1.9]), "A": np.array([480.0, 500.0]),
    ...          "alpha": np.array([0.35, 0.34]), "B": np.array([2000.0, 2100.0]),
    ...          "beta": np.array([0.37, 0.36]), "sigma": np.array([0.0, 0.01])}
    >>> boot = Bootstrap(point={}, draws=draws, converged=np.array([True, True]), delta=1e-3)
    >>> expected, observed = bootstrap_predictive(boot, N=[70e9, 1e9], D=1.4e12,
    ...                                           key=jax.random.key(0))
    >>> expected.shape, bool(expected[0, 0] == observed[0, 0])
    ((2, 2), True)
    """
    N, D, _ = resolve_points(N=N, D=D)
    d = boot.draws
    with np.errstate(divide="ignore"):  # a coefficient that underflowed to 0: its term is 0
        thetas = np.stack([np.log(d["A"]), np.log(d["B"]), np.log(d["E"]), d["alpha"],
                           d["beta"]], axis=1)
    with _float64():
        expected, observed = _predict(jnp.asarray(thetas), jnp.asarray(d["sigma"]),
                                      jnp.log(jnp.asarray(N)), jnp.log(jnp.asarray(D)), key)
        return np.asarray(expected), np.asarray(observed)
