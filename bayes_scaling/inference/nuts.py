"""Two NUTS chains with the same interface: a lean hand-written one, and NumPyro's.

`sample_chain` is a hand-written NUTS with Stan's windowed warmup; `numpyro_chain` runs NumPyro's
NUTS kernel (``numpyro.infer.hmc.hmc``, dense metric). The sampler (`inference.sampler`) runs
either inside its one cached jit (``SamplerConfig(kernel="builtin"|"numpyro")``). The default
stays the hand-written one, by this measurement (benchmarks/results/bench_kernels_cpu.md: 2 CPU
cores, default settings, simulated sweeps and 19 real sets, two or three keys each; no other
load):

* robustness: on six small simulated sweeps (40 and 60 runs, two keys each) NumPyro's kernel
  failed the diagnostics gate in 2 of 12 fits (divergences), ours in none, and in 1 of the 8
  fits of a `fit_many` batch against none; on the 19 real sets both passed equally often;
* speed once compiled: a warm 245-run fit 0.24 s against 0.31 s (ESS per second 1.3x on it,
  1.5x as the median over all sets), a warm `fit_many` of 8 fits 1.3 s against 1.9 s: what
  refits, backtests, SBC and batches wait for, now that data sizes share compiled programs
  (`inference.padding`);
* NumPyro's compiles in half the time (6.0 s against 12.3 s): paid once per bucket and
  process, and once per machine through the CLI's persistent cache. ``kernel="numpyro"`` is
  there for a first fit in a hurry.

Why the hand-written kernel is faster per step: NumPyro's iterative NUTS keeps a large state and
runs an inner loop of U-turn checks at every leapfrog step; here one ``while_loop`` iteration is
one leapfrog step, and the U-turn checks of every sub-tree that ends at that step are one
vectorised comparison over tree levels, so a step costs little more than its gradient (about 13 µs
for a 7-parameter law on a CPU). The density comes from the NumPyro model either way
(`numpyro.infer.util.potential_energy`).

The hand-written algorithm (Hoffman & Gelman 2014; Betancourt 2017, "A conceptual introduction to HMC"):

* Dense metric by whitening: with Σ = L·Lᵀ the adapted posterior covariance, the sampler moves
  ``w`` with ``z = L·w`` under an identity mass matrix, which is HMC with inverse mass Σ.
* Trajectory doubling in random directions; inside each new sub-tree, multinomial sampling
  (progressive, uniform); across sub-trees, biased progressive sampling (favouring the new one).
* Generalised U-turn criterion on the momentum sum ρ of every aligned binary sub-tree:
  stop when ``p_start·ρ ≤ 0`` or ``p_end·ρ ≤ 0``. Sums over a block come from prefix sums
  recorded where each block starts, so all levels are checked at once.
* A step whose energy error exceeds 1000 (or is not finite) is divergent and ends the trajectory.
* First metric: the covariance of a Laplace approximation found by BFGS (see `laplace`); the
  chain starts where it is told, pulled in along the line to its BFGS mode when that start
  lies far out in the tails (see `pull_towards`).
* Warmup: Stan's schedule (fast window of 75, slow windows of 25, 50, 100, ... estimating Σ with
  Welford's algorithm, final fast window of 50; scaled down for short warmups), dual averaging of
  the step size towards ``target_accept``, restarted after each metric update.

Example
-------
>>> import jax, jax.numpy as jnp
>>> potential = lambda z: 0.5 * jnp.sum((z / jnp.array([1.0, 0.01])) ** 2)
>>> draws, stats = sample_chain(jax.random.key(0), jnp.ones(2), potential,
...                             num_warmup=300, num_samples=2000)
>>> [round(float(s), 1) for s in draws.std(axis=0) / jnp.array([1.0, 0.01])]
[1.0, 1.0]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc import hmc

__all__ = ["sample_chain", "numpyro_chain", "warmup_schedule", "laplace", "pull_towards", "MAX_ENERGY_ERROR"]

MAX_ENERGY_ERROR = 1000.0  # Stan's divergence threshold on H(new) − H(start)
# Dual averaging constants (Hoffman & Gelman 2014, as in Stan).
_GAMMA, _T0, _KAPPA = 0.05, 10.0, 0.75


class _Point(NamedTuple):
    """A point of phase space in whitened coordinates, with its potential and gradient."""

    w: jnp.ndarray
    p: jnp.ndarray
    potential: jnp.ndarray
    grad: jnp.ndarray


def _select(flag, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(flag, x, y), a, b)


def _leapfrog(point, eps, value_and_grad):
    p = point.p - 0.5 * eps * point.grad
    w = point.w + eps * p
    potential, grad = value_and_grad(w)
    return _Point(w, p - 0.5 * eps * grad, potential, grad)


def _energy(point):
    return point.potential + 0.5 * jnp.dot(point.p, point.p)


def _hash_uniform(seed, counter):
    """A uniform in [0, 1) from a 32-bit integer hash of ``seed + counter`` (Wellons'
    "lowbias32" mixer).

    Per-step uniforms inside the trajectory loop: JAX's threefry runs as a rolled loop on CPU
    and cost 1.6 µs per leapfrog step (20% of a gradient); this is a few fused integer ops.
    The seed comes from threefry once per transition.
    """
    x = seed + counter.astype(jnp.uint32) * jnp.uint32(0x9E3779B9)
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    x = x ^ (x >> 16)
    return (x >> 8).astype(jnp.float32) * (1.0 / 2 ** 24)


def _turning(p_start, p_end, rho):
    return (jnp.dot(p_start, rho) <= 0) | (jnp.dot(p_end, rho) <= 0)


class _Noise(NamedTuple):
    """The random numbers of one NUTS iteration: the momentum, the direction of each doubling,
    and the seeds of the uniforms that pick the proposal."""

    momentum: jnp.ndarray
    directions: jnp.ndarray
    seeds: jnp.ndarray


def _draw_noise(key, dim, max_depth, dtype):
    k_momentum, k_dirs, k_accept = jax.random.split(key, 3)
    return _Noise(jax.random.normal(k_momentum, (dim,), dtype),
                  jnp.where(jax.random.bernoulli(k_dirs, 0.5, (max_depth,)), 1.0, -1.0),
                  jax.random.bits(k_accept, (2,), jnp.uint32))


def _nuts_transition(noise, w, potential, grad, step_size, value_and_grad, max_depth):
    """One NUTS iteration from ``w`` (whitened) with the iteration's `_Noise`; returns the new
    point and statistics."""
    dtype = w.dtype
    p0, directions, seeds = noise
    start = _Point(w, p0, potential, grad)
    h0 = _energy(start)
    levels = jnp.arange(1, max_depth + 1)
    block = (2 ** levels).astype(jnp.int32)  # size of a level-k sub-tree
    zeros = jnp.zeros((max_depth,) + w.shape, dtype)
    neg_inf = jnp.array(-jnp.inf, dtype)

    # The loop state: trajectory ends, the accepted proposal, the growing sub-tree, counters.
    init = dict(
        left=start, right=start, proposal=start, proposal_energy=h0,
        log_w_tree=jnp.zeros((), dtype), rho_tree=p0,
        sub_proposal=start, sub_energy=h0, log_w_sub=neg_inf, sub_sum=jnp.zeros_like(w),
        block_sum=zeros, block_p=zeros,
        depth=jnp.int32(0), n=jnp.int32(0), steps=jnp.int32(0),
        accept_sum=jnp.zeros((), dtype), diverging=jnp.bool_(False), done=jnp.bool_(False))

    def body(s):
        forward = directions[s["depth"]] > 0
        edge = _select(forward, s["right"], s["left"])
        new = _leapfrog(edge, jnp.where(forward, step_size, -step_size), value_and_grad)
        energy = _energy(new)
        error = energy - h0
        diverging = ~jnp.isfinite(error) | (error > MAX_ENERGY_ERROR)
        log_w = jnp.where(jnp.isfinite(error), -error, -jnp.inf)
        accept = jnp.minimum(1.0, jnp.exp(jnp.minimum(-error, 0.0)))
        accept = jnp.where(jnp.isfinite(error), accept, 0.0)

        # Aligned blocks of the sub-tree that start at this step record the prefix sum before
        # it and its momentum; blocks that end here are checked for a U-turn.
        n = s["n"]
        starts = (n % block) == 0
        block_sum = jnp.where(starts[:, None], s["sub_sum"], s["block_sum"])
        block_p = jnp.where(starts[:, None], new.p, s["block_p"])
        sub_sum = s["sub_sum"] + new.p
        ends = ((n + 1) % block == 0) & (levels <= s["depth"])
        rho = sub_sum - block_sum
        turned = ((jnp.sum(block_p * rho, axis=1) <= 0) | (rho @ new.p <= 0)) & ends
        sub_turning = jnp.any(turned)

        # Uniform progressive sampling inside the sub-tree.
        u_sub = _hash_uniform(seeds[0], s["steps"]).astype(dtype)
        u_tree = _hash_uniform(seeds[1], s["steps"]).astype(dtype)
        log_w_sub = jnp.logaddexp(s["log_w_sub"], log_w)
        take = jnp.log(u_sub) < log_w - log_w_sub
        sub_proposal = _select(take, new, s["sub_proposal"])
        sub_energy = jnp.where(take, energy, s["sub_energy"])
        left = _select(forward, s["left"], new)
        right = _select(forward, new, s["right"])

        # A complete sub-tree with no U-turn or divergence inside joins the trajectory:
        # biased progressive sampling, then the U-turn check of the whole trajectory.
        complete = (n + 1 == 2 ** s["depth"]) & ~sub_turning & ~diverging
        take_sub = complete & (jnp.log(u_tree) < log_w_sub - s["log_w_tree"])
        rho_tree = jnp.where(complete, s["rho_tree"] + sub_sum, s["rho_tree"])
        depth = jnp.where(complete, s["depth"] + 1, s["depth"])
        whole_turning = complete & _turning(left.p, right.p, rho_tree)
        done = sub_turning | diverging | whole_turning | (depth >= max_depth)
        return dict(
            left=left, right=right,
            proposal=_select(take_sub, sub_proposal, s["proposal"]),
            proposal_energy=jnp.where(take_sub, sub_energy, s["proposal_energy"]),
            log_w_tree=jnp.where(complete, jnp.logaddexp(s["log_w_tree"], log_w_sub),
                                 s["log_w_tree"]),
            rho_tree=rho_tree,
            sub_proposal=sub_proposal, sub_energy=sub_energy,
            log_w_sub=jnp.where(complete, neg_inf, log_w_sub),
            sub_sum=jnp.where(complete, 0.0, sub_sum),
            block_sum=block_sum, block_p=block_p,
            depth=depth, n=jnp.where(complete, 0, n + 1), steps=s["steps"] + 1,
            accept_sum=s["accept_sum"] + accept, diverging=diverging, done=done)

    s = jax.lax.while_loop(lambda s: ~s["done"], body, init)
    chosen = s["proposal"]
    stats = {"n_steps": s["steps"], "diverging": s["diverging"],
             "acceptance_rate": s["accept_sum"] / s["steps"],
             "energy": s["proposal_energy"], "tree_depth": s["depth"]}
    return chosen.w, chosen.potential, chosen.grad, stats


def _whitened(potential_fn, mean, chol):
    """Potential and gradient in whitened coordinates ``w``, where ``z = mean + chol·w``."""
    value_and_grad = jax.value_and_grad(potential_fn)

    def fn(w):
        value, grad = value_and_grad(mean + chol @ w)
        return value, chol.T @ grad

    return fn


# Small dense linear algebra in plain XLA operations. LAPACK's routines are custom calls on CPU,
# and a custom call anywhere in the sampler's loop keeps XLA from compiling the loop body into
# one function (see `bayes_scaling.xla_flags`): every iteration then dispatched its operations
# one by one. Without them, and with each iteration's random numbers drawn before the loop, the
# sampler's own cost per leapfrog step on a 5-dimensional Gaussian (whose gradient costs next to
# nothing) fell from 1.4 to 0.4 µs. The metric is d × d with d the number of parameters, so an
# O(d) loop of vector operations is as fast as LAPACK here.
def _cholesky(a):
    """Lower Cholesky factor of a symmetric positive definite ``a`` (NaN if it is not).

    >>> import jax.numpy as jnp
    >>> a = jnp.array([[4.0, 2.0], [2.0, 5.0]])
    >>> [[float(v) for v in row] for row in _cholesky(a)]
    [[2.0, 0.0], [1.0, 2.0]]
    """
    dim = a.shape[0]
    index = jnp.arange(dim)

    def column(j, factor):
        row = factor[j]  # entries left of the diagonal are final
        diagonal = jnp.sqrt(a[j, j] - jnp.dot(row, row))
        below = (a[:, j] - factor @ row) / diagonal
        column = jnp.where(index > j, below, jnp.where(index == j, diagonal, 0.0))
        return factor.at[:, j].set(column)

    return jax.lax.fori_loop(0, dim, column, jnp.zeros_like(a))


def _solve_lower(factor, b):
    """``x`` with ``factor @ x = b`` for a lower-triangular ``factor`` (forward substitution).

    >>> import jax.numpy as jnp
    >>> [float(v) for v in _solve_lower(jnp.array([[2.0, 0.0], [1.0, 2.0]]), jnp.array([2.0, 5.0]))]
    [1.0, 2.0]
    """
    def entry(i, x):
        return x.at[i].set((b[i] - jnp.dot(factor[i], x)) / factor[i, i])

    return jax.lax.fori_loop(0, b.shape[0], entry, jnp.zeros_like(b))


def _solve_upper_transposed(factor, b):
    """``x`` with ``factor.T @ x = b`` for a lower-triangular ``factor`` (back substitution).

    >>> import jax.numpy as jnp
    >>> [float(v) for v in _solve_upper_transposed(jnp.array([[2.0, 0.0], [1.0, 2.0]]),
    ...                                             jnp.array([4.0, 4.0]))]
    [1.0, 2.0]
    """
    dim = b.shape[0]

    def entry(k, x):
        i = dim - 1 - k
        return x.at[i].set((b[i] - jnp.dot(factor[:, i], x)) / factor[i, i])

    return jax.lax.fori_loop(0, dim, entry, jnp.zeros_like(b))


def warmup_schedule(num_warmup):
    """Stan's adaptation windows as boolean arrays ``(in_slow_window, window_ends_here)``.

    >>> slow, ends = warmup_schedule(1000)
    >>> [int(i) for i in np.flatnonzero(ends)]
    [99, 149, 249, 449, 949]
    """
    slow = np.zeros(num_warmup, bool)
    ends = np.zeros(num_warmup, bool)
    if num_warmup < 20:  # too short to estimate a covariance: step size only
        return slow, ends
    init, term, base = 75, 50, 25
    if init + term + base > num_warmup:
        init, term = int(0.15 * num_warmup), int(0.1 * num_warmup)
        base = num_warmup - init - term
    start, size = init, base
    last = num_warmup - term
    while start < last:
        # A window is stretched to the end of the slow phase if the next one would not fit.
        end = last if start + 3 * size > last else start + size
        slow[start:end] = True
        ends[end - 1] = True
        start, size = end, 2 * size
    return slow, ends


def _reasonable_step_size(key, w, potential, grad, step_size, value_and_grad):
    """Double or halve the step size until one leapfrog step's acceptance crosses 0.8."""
    p = jax.random.normal(key, w.shape, w.dtype)
    start = _Point(w, p, potential, grad)
    h0 = _energy(start)
    threshold = jnp.log(jnp.asarray(0.8, w.dtype))

    def body(c):
        # One leapfrog per iteration, and the only one in the loop: each copy of the gradient
        # in the program costs seconds of compile time.
        eps, direction, i, _ = c
        error = _energy(_leapfrog(start, eps, value_and_grad)) - h0
        above = jnp.where(jnp.isfinite(error), -error, -jnp.inf) > threshold
        direction = jnp.where(i == 0, jnp.where(above, 1.0, -1.0), direction)
        crossed = (i > 0) & (above != (direction > 0))
        done = crossed | (i >= 50)
        return jnp.where(done, eps, eps * 2.0 ** direction), direction, i + 1, done

    eps, _, _, _ = jax.lax.while_loop(lambda c: ~c[3], body,
                                      (step_size, jnp.ones_like(step_size), 0, False))
    return eps


def laplace(potential_fn, z0, num_evals=60):
    """A mode and the Cholesky factor of the inverse Hessian there, by BFGS from ``z0``.

    A Laplace approximation for the chains' start and first metric. BFGS needs only gradients,
    so the program holds one copy of the gradient (an exact Hessian through the model doubled
    the compile time); its inverse-Hessian estimate is exact on quadratics after ``d`` steps.
    Each evaluation tries a step along the BFGS direction; a step that does not decrease the
    potential enough (Armijo) is halved. Falls back to ``(z0, I)`` if anything is not finite.

    Why not ``jax.scipy.optimize.minimize(method="BFGS")``: on the potential of 245 simulated
    runs (Chinchilla law) it took 18.0 s to compile against 7.2 s for this one and stopped on a
    line-search failure (status 3) at a potential of -174 against -700 here. Why not
    `validation.baseline`'s BFGS: that one runs thousands of Huber fits each to its tolerances,
    in pooled lanes; this one is a fixed budget inside one sampler's program.

    >>> import jax.numpy as jnp
    >>> mode, chol = laplace(lambda z: 0.5 * jnp.sum((z / jnp.array([1.0, 0.01]) - 3.0) ** 2),
    ...                      jnp.zeros(2))
    >>> [round(float(v), 3) for v in mode], [round(float(v), 3) for v in jnp.diag(chol)]
    ([3.0, 0.03], [1.0, 0.01])
    """
    value_and_grad = jax.value_and_grad(potential_fn)
    dim = z0.shape[0]
    eye = jnp.eye(dim, dtype=z0.dtype)
    value0, grad0 = value_and_grad(z0)
    # The first step is a small one along the gradient; BFGS then scales itself.
    scale0 = 1.0 / jnp.maximum(jnp.linalg.norm(grad0), 1.0)
    init = dict(z=z0, value=value0, grad=grad0, inverse=scale0 * eye, length=jnp.ones_like(value0),
                first=jnp.bool_(True))

    def step(s, _):
        direction = -s["inverse"] @ s["grad"]
        z_new = s["z"] + s["length"] * direction
        value, grad = value_and_grad(z_new)
        slope = jnp.dot(s["grad"], direction)
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad)) & (
            value <= s["value"] + 1e-4 * s["length"] * slope)
        step_taken, change = z_new - s["z"], grad - s["grad"]
        curvature = jnp.dot(change, step_taken)
        update = ok & (curvature > 1e-10 * jnp.linalg.norm(change) * jnp.linalg.norm(step_taken))
        rho = 1.0 / jnp.where(update, curvature, 1.0)
        # Before the first update, scale the initial inverse as Nocedal & Wright (6.20).
        inverse = jnp.where(s["first"] & update,
                            curvature / jnp.maximum(jnp.dot(change, change), 1e-30) * eye,
                            s["inverse"])
        left = eye - rho * jnp.outer(step_taken, change)
        updated = left @ inverse @ left.T + rho * jnp.outer(step_taken, step_taken)
        return dict(z=jnp.where(ok, z_new, s["z"]), value=jnp.where(ok, value, s["value"]),
                    grad=jnp.where(ok, grad, s["grad"]),
                    inverse=jnp.where(update, updated, s["inverse"]),
                    length=jnp.where(ok, 1.0, 0.5 * s["length"]),
                    first=s["first"] & ~update), None

    s, _ = jax.lax.scan(step, init, None, length=num_evals)
    inverse = 0.5 * (s["inverse"] + s["inverse"].T)
    chol = jnp.linalg.cholesky(inverse)
    ok = jnp.all(jnp.isfinite(s["z"])) & jnp.all(jnp.isfinite(chol)) & jnp.isfinite(s["value"])
    return jnp.where(ok, s["z"], z0), jnp.where(ok, chol, eye)


def start_budget(dim):
    """How far above its mode's potential a chain may start: 50·d, a Gaussian's potential at
    10·√d standard deviations, ten times the typical set's radius of √d."""
    return 50.0 * dim


def pull_towards(potential_fn, z0, mode, budget, num_bisections=30):
    """The point of the segment from ``mode`` to ``z0`` farthest from ``mode`` whose potential
    is at most ``budget`` above the mode's (``z0`` itself if it qualifies).

    Why: chains start at dispersed points (dispersed starts keep R-hat meaningful; chains all
    started at the mode BFGS found stayed in it when the posterior had another mode, and
    simulation-based calibration failed). But with many runs the posterior is so narrow that a
    start drawn from the prior lies hundreds of posterior standard deviations out (24,500 runs:
    ~475); the transient then dominates warmup and dual averaging shrinks the step size to
    suit it (0.002 after 100 iterations). Pulled in to ``budget``, each chain still starts
    apart from the others, in its own direction from its own BFGS mode.

    >>> import jax.numpy as jnp
    >>> z = pull_towards(lambda z: 0.5 * jnp.sum(z ** 2), jnp.array([100.0, 0.0]), jnp.zeros(2), 8.0)
    >>> [round(float(v), 3) for v in z]
    [4.0, 0.0]
    """
    base = potential_fn(mode)

    def within(t):
        value = potential_fn(mode + t * (z0 - mode))
        return jnp.isfinite(value) & (value - base <= budget)

    def bisect(_, bounds):
        low, high = bounds
        middle = 0.5 * (low + high)
        ok = within(middle)
        return jnp.where(ok, middle, low), jnp.where(ok, high, middle)

    low, _ = jax.lax.fori_loop(0, num_bisections, bisect, (jnp.zeros((), z0.dtype),
                                                           jnp.ones((), z0.dtype)))
    keep = within(jnp.ones((), z0.dtype)) | ~jnp.isfinite(base)
    return jnp.where(keep, z0, mode + low * (z0 - mode))


def sample_chain(key, z0, potential_fn, *, num_warmup, num_samples, target_accept=0.8,
                 max_tree_depth=10, on_iteration=None):
    """Warm up and run one NUTS chain on a flat position vector.

    Parameters
    ----------
    key : jax.random key
    z0 : array, shape (d,)
        Initial position (unconstrained); must have a finite potential.
    potential_fn : callable
        ``z -> U(z)``, the negative log density (up to a constant).
    num_warmup, num_samples : int
    target_accept : float
        Mean acceptance statistic the step size is tuned to.
    max_tree_depth : int
        Trajectories stop at ``2**max_tree_depth - 1`` leapfrog steps.
    on_iteration : callable, optional
        Called (inside the traced loop) with the iteration number, e.g. for a progress bar.

    Returns
    -------
    draws : array, shape (num_samples, d)
    stats : dict of arrays, shape (num_samples,)
        ``n_steps``, ``diverging``, ``acceptance_rate``, ``energy``, ``tree_depth``, ``lp``
        (log density, −U) and ``step_size``.
    """
    dtype = z0.dtype
    dim = z0.shape[0]
    slow, ends = warmup_schedule(num_warmup)
    total = num_warmup + num_samples
    slow = jnp.asarray(np.concatenate([slow, np.zeros(num_samples, bool)]))
    ends = jnp.asarray(np.concatenate([ends, np.zeros(num_samples, bool)]))
    k_init, k_run = jax.random.split(key)
    # The first metric is the covariance of a Laplace approximation: with an identity metric
    # the first warmup window ran at the maximum tree depth whenever the posterior's scales
    # were far from 1, which took most of the warmup's time.
    mode, chol0 = laplace(potential_fn, z0)
    z0 = pull_towards(potential_fn, z0, mode, start_budget(dim))
    potential0, grad0 = jax.value_and_grad(potential_fn)(z0)
    eps0 = _reasonable_step_size(k_init, jnp.zeros_like(z0), potential0, chol0.T @ grad0,
                                 jnp.asarray(1.0, dtype), _whitened(potential_fn, z0, chol0))

    def dual_averaging_start(eps):
        return dict(mu=jnp.log(10.0 * eps), log_eps=jnp.log(eps), log_eps_bar=jnp.zeros_like(eps),
                    h_bar=jnp.zeros_like(eps), t=jnp.zeros_like(eps))

    # The chain moves in whitened coordinates w (z = chol·w, ∇_w = cholᵀ∇_z); they change only
    # when the metric does, so no triangular solves run per iteration.
    init = dict(w=jax.scipy.linalg.solve_triangular(chol0, z0, lower=True),
                potential=potential0, grad=chol0.T @ grad0, chol=chol0, eps=eps0,
                da=dual_averaging_start(eps0),
                count=jnp.zeros((), dtype), mean=jnp.zeros_like(z0),
                m2=jnp.zeros((dim, dim), dtype))

    def new_metric(chol, count, m2, w, grad):
        """The metric from the window's covariance, and the point in its coordinates.

        The covariance is shrunk towards its diagonal (not towards 1e-3·I as Stan does, which
        swamps posterior variances of 1e-8 and made trajectories 20-40x longer). The step size
        is not searched again (that would be another copy of the gradient to compile): dual
        averaging restarts from it.
        """
        cov = m2 / jnp.maximum(count - 1.0, 1.0)
        weight = count / (count + 5.0)
        cov = weight * cov + (1 - weight) * jnp.diag(jnp.diag(cov))
        new_chol = _cholesky(cov)
        new_chol = jnp.where(jnp.all(jnp.isfinite(new_chol)), new_chol, chol)
        z, grad_z = chol @ w, _solve_upper_transposed(chol, grad)
        return new_chol, _solve_lower(new_chol, z), new_chol.T @ grad_z

    def step(s, inputs):
        i, in_slow, window_end, noise = inputs
        chol = s["chol"]
        w, potential, grad, stats = _nuts_transition(
            noise, s["w"], s["potential"], s["grad"], s["eps"],
            _whitened(potential_fn, jnp.zeros_like(z0), chol), max_tree_depth)
        z = chol @ w
        stats = {**stats, "lp": -potential, "step_size": s["eps"]}
        warming = i < num_warmup

        # Step size: dual averaging during warmup, its averaged value afterwards.
        da = s["da"]
        t = da["t"] + 1.0
        h_bar = (1 - 1 / (t + _T0)) * da["h_bar"] + (target_accept - stats["acceptance_rate"]) / (
            t + _T0)
        log_eps = da["mu"] - jnp.sqrt(t) / _GAMMA * h_bar
        eta = t ** -_KAPPA
        log_eps_bar = eta * log_eps + (1 - eta) * da["log_eps_bar"]
        da = _select(warming, dict(mu=da["mu"], log_eps=log_eps, log_eps_bar=log_eps_bar,
                                   h_bar=h_bar, t=t), da)
        eps = jnp.where(warming, jnp.exp(da["log_eps"]), s["eps"])
        eps = jnp.where(i == num_warmup - 1, jnp.exp(da["log_eps_bar"]), eps)

        # Metric: Welford estimate of the covariance over the current slow window.
        count = s["count"] + in_slow
        delta = z - s["mean"]
        mean = jnp.where(in_slow, s["mean"] + delta / jnp.maximum(count, 1.0), s["mean"])
        m2 = jnp.where(in_slow, s["m2"] + jnp.outer(delta, z - mean), s["m2"])
        chol, w, grad = jax.lax.cond(window_end, new_metric, lambda c, n, m, w, g: (c, w, g),
                                     chol, count, m2, w, grad)
        da = _select(window_end, dual_averaging_start(eps), da)
        state = dict(w=w, potential=potential, grad=grad, chol=chol, eps=eps, da=da,
                     count=jnp.where(window_end, 0.0, count),
                     mean=jnp.where(window_end, 0.0, mean),
                     m2=jnp.where(window_end, 0.0, m2))
        if on_iteration is not None:
            on_iteration(i)
        return state, (z, stats)

    # Every iteration's random numbers are drawn before the loop, in one vectorised call:
    # JAX's threefry is a rolled loop on CPU, and five of them per iteration cost more than the
    # rest of an iteration's bookkeeping. Each iteration's key is still fold_in(k_run, i).
    iterations = jnp.arange(total)
    noise = jax.vmap(lambda i: _draw_noise(jax.random.fold_in(k_run, i), dim, max_tree_depth,
                                           dtype))(iterations)
    _, (draws, stats) = jax.lax.scan(step, init, (iterations, slow, ends, noise))
    keep = slice(num_warmup, None)
    return draws[keep], {name: value[keep] for name, value in stats.items()}


def numpyro_chain(key, z0, potential_fn, *, num_warmup, num_samples, target_accept=0.8,
                  max_tree_depth=10, on_iteration=None):
    """`sample_chain` with NumPyro's NUTS kernel and windowed warmup (dense metric).

    Same arguments and results as `sample_chain`; the chain starts from ``z0`` with an identity
    metric and NumPyro's own step-size search.

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> potential = lambda z: 0.5 * jnp.sum((z / jnp.array([1.0, 0.01])) ** 2)
    >>> draws, stats = numpyro_chain(jax.random.key(0), jnp.ones(2), potential,
    ...                              num_warmup=300, num_samples=2000)
    >>> [round(float(s), 1) for s in draws.std(axis=0) / jnp.array([1.0, 0.01])]
    [1.0, 1.0]
    """
    init_kernel, sample_kernel = hmc(potential_fn=potential_fn, algo="NUTS")
    # No shrinkage of the adapted covariance towards 1e-3·I (Stan's, NumPyro's default): it
    # swamps posterior variances far below 1e-3 and doubled the leapfrog steps per iteration on
    # Epoch's Chinchilla points (26.9 against 7.4 without it; benchmarks/bench_kernels.py).
    state = init_kernel(z0, num_warmup, dense_mass=True, target_accept_prob=target_accept,
                        max_tree_depth=max_tree_depth, regularize_mass_matrix=False,
                        rng_key=key)

    def step(state, i):
        state = sample_kernel(state)
        if on_iteration is not None:
            on_iteration(i)
        stats = {"n_steps": state.num_steps, "diverging": state.diverging,
                 "acceptance_rate": state.accept_prob, "energy": state.energy,
                 "tree_depth": jnp.ceil(jnp.log2(state.num_steps + 1.0)).astype(jnp.int32),
                 "lp": -state.potential_energy, "step_size": state.adapt_state.step_size}
        return state, (state.z, stats)

    _, (draws, stats) = jax.lax.scan(step, state, jnp.arange(num_warmup + num_samples))
    keep = slice(num_warmup, None)
    return draws[keep], {name: value[keep] for name, value in stats.items()}
