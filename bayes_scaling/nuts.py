"""A lean No-U-Turn sampler with Stan's windowed warmup, for small dense posteriors.

Why not NumPyro's kernel: its iterative NUTS keeps a large state and runs an inner loop of U-turn
checks at every leapfrog step; for a 7-parameter scaling law whose gradient takes ~12 µs on a CPU
that bookkeeping cost about 4x the gradient itself. Here one ``while_loop`` iteration is one
leapfrog step, and the U-turn checks of every sub-tree that ends at that step are one vectorised
comparison over tree levels, so a step costs little more than its gradient. The density still
comes from the NumPyro model (`numpyro.infer.util.potential_energy`).

What a step costs on CPU: XLA's runtime launches each fused kernel separately (~0.1-0.2 µs each,
as much as the arithmetic of a 7-dimensional step), so the design counts kernels. The loop state
is packed into four arrays (`_pack`), the trajectory's random numbers are integer hashes of
seeds drawn, with the momenta, for all transitions at once before the loop, and the chain moves
in the model's own coordinates (whitening ``z = L·w`` around the gradient split the model's
fusion into ~25 more kernels per step).

The algorithm (Hoffman & Gelman 2014; Betancourt 2017, "A conceptual introduction to HMC"):

* Dense metric: Σ = L·Lᵀ, the adapted posterior covariance, is the inverse mass matrix; the
  kinetic energy is ``pᵀΣp/2``, momenta are drawn as ``L⁻ᵀ·ξ``. (The same algorithm as HMC on
  whitened coordinates ``w = L⁻¹z`` with an identity mass, step for step.)
* Trajectory doubling in random directions; inside each new sub-tree, multinomial sampling
  (progressive, uniform); across sub-trees, biased progressive sampling (favouring the new one).
* Generalised U-turn criterion on the momentum sum ρ of every aligned binary sub-tree:
  stop when ``v_start·ρ ≤ 0`` or ``v_end·ρ ≤ 0``, with velocities ``v = Σ·p``. Sums over a
  block come from prefix sums recorded where each block starts, so all levels are checked at
  once.
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

__all__ = ["sample_chain", "warmup_schedule", "laplace", "pull_towards", "MAX_ENERGY_ERROR"]

MAX_ENERGY_ERROR = 1000.0  # Stan's divergence threshold on H(new) − H(start)
# Dual averaging constants (Hoffman & Gelman 2014, as in Stan).
_GAMMA, _T0, _KAPPA = 0.05, 10.0, 0.75


class _Point(NamedTuple):
    """A point of phase space: position, momentum, velocity ``Σ·p``, potential and gradient."""

    z: jnp.ndarray
    p: jnp.ndarray
    v: jnp.ndarray
    potential: jnp.ndarray
    grad: jnp.ndarray


def _select(flag, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(flag, x, y), a, b)


def _leapfrog(point, eps, value_and_grad, inv_mass):
    """One leapfrog step under the kinetic energy ``pᵀΣp/2`` (``Σ = inv_mass``)."""
    p = point.p - 0.5 * eps * point.grad
    z = point.z + eps * (inv_mass @ p)
    potential, grad = value_and_grad(z)
    p = p - 0.5 * eps * grad
    return _Point(z, p, inv_mass @ p, potential, grad)


def _energy(point):
    return point.potential + 0.5 * jnp.dot(point.p, point.v)


def _hash_uniform(seed, counter):
    """A uniform in [0, 1) from a 32-bit integer hash of ``seed + counter`` (Wellons'
    "lowbias32" mixer).

    The uniforms inside the trajectory loop (and its doubling directions): JAX's threefry runs
    as a rolled loop on CPU and cost 1.6 µs per leapfrog step (20% of a gradient); this is a
    few fused integer ops. The seeds come from threefry, drawn for all transitions at once.
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


# The trajectory loop's state, packed by kind into four arrays (see `_pack`): vectors of the
# position's dimension, the sub-tree's per-level block records, float scalars, int counters.
_VECTORS = ("left_z", "left_p", "left_v", "left_grad", "right_z", "right_p", "right_v",
            "right_grad", "proposal_z", "proposal_grad", "sub_z", "sub_grad", "rho_tree",
            "sub_sum")
_BLOCKS = ("block_sum", "block_v")
_SCALARS = ("proposal_potential", "proposal_energy", "sub_potential", "sub_energy",
            "log_w_tree", "log_w_sub", "accept_sum")
_COUNTERS = ("depth", "n", "steps", "diverging", "done")
_LAYOUT = (_VECTORS, _BLOCKS, _SCALARS, _COUNTERS)


def _pack(values):
    """The loop state as four stacked arrays (one per kind of value).

    Why: XLA's CPU runtime launches one kernel per updated array of a loop's state, and each
    launch costs about as much as the arithmetic of a 7-dimensional NUTS step; stacked, a step
    updates its ~25 values with 4 kernels. `_unpack` is the inverse."""
    return tuple(jnp.stack([jnp.asarray(values[name], dtype) for name in names])
                 for names, dtype in zip(_LAYOUT, (None, None, None, jnp.int32)))


def _unpack(state):
    values = {}
    for names, array in zip(_LAYOUT, state):
        values.update({name: array[i] for i, name in enumerate(names)})
    return values


def _nuts_transition(start, seeds, step_size, value_and_grad, inv_mass, max_depth):
    """One NUTS iteration from the `_Point` ``start`` (its momentum freshly drawn); returns the
    new position, potential and gradient, and statistics. ``seeds`` (3 uint32) drive the
    uniforms of the multinomial sampling inside and across sub-trees and the doubling
    directions."""
    z, p0, v0, potential, grad = start
    dtype = z.dtype
    h0 = _energy(start)
    levels = jnp.arange(1, max_depth + 1)
    block = (2 ** levels).astype(jnp.int32)  # size of a level-k sub-tree
    zeros = jnp.zeros((max_depth,) + z.shape, dtype)
    neg_inf = jnp.array(-jnp.inf, dtype)

    # The loop state: the trajectory's two ends (position, momentum, velocity, gradient), the
    # accepted proposal and the growing sub-tree's proposal (position, potential, gradient,
    # energy),
    # the momentum sums, counters. Only what a later step reads is carried.
    init = _pack(dict(
        left_z=z, left_p=p0, left_v=v0, left_grad=grad,
        right_z=z, right_p=p0, right_v=v0, right_grad=grad,
        proposal_z=z, proposal_grad=grad, sub_z=z, sub_grad=grad,
        rho_tree=p0, sub_sum=jnp.zeros_like(z), block_sum=zeros, block_v=zeros,
        proposal_potential=potential, proposal_energy=h0, sub_potential=potential, sub_energy=h0,
        log_w_tree=jnp.zeros((), dtype), log_w_sub=neg_inf, accept_sum=jnp.zeros((), dtype),
        depth=0, n=0, steps=0, diverging=0, done=0))

    def body(state):
        s = _unpack(state)
        forward = _hash_uniform(seeds[2], s["depth"]) < 0.5
        edge = _Point(*(jnp.where(forward, s["right_" + k], s["left_" + k])
                        for k in ("z", "p")), None, None,
                      jnp.where(forward, s["right_grad"], s["left_grad"]))
        new = _leapfrog(edge, jnp.where(forward, step_size, -step_size), value_and_grad,
                        inv_mass)
        energy = _energy(new)
        error = energy - h0
        diverging = ~jnp.isfinite(error) | (error > MAX_ENERGY_ERROR)
        log_w = jnp.where(jnp.isfinite(error), -error, -jnp.inf)
        accept = jnp.minimum(1.0, jnp.exp(jnp.minimum(-error, 0.0)))
        accept = jnp.where(jnp.isfinite(error), accept, 0.0)

        # Aligned blocks of the sub-tree that start at this step record the prefix sum before
        # it and its velocity; blocks that end here are checked for a U-turn.
        n, depth = s["n"], s["depth"]
        starts = (n % block) == 0
        block_sum = jnp.where(starts[:, None], s["sub_sum"], s["block_sum"])
        block_v = jnp.where(starts[:, None], new.v, s["block_v"])
        sub_sum = s["sub_sum"] + new.p
        ends = ((n + 1) % block == 0) & (levels <= depth)
        rho = sub_sum - block_sum
        turned = ((jnp.sum(block_v * rho, axis=1) <= 0) | (rho @ new.v <= 0)) & ends
        sub_turning = jnp.any(turned)

        # Uniform progressive sampling inside the sub-tree.
        u_sub = _hash_uniform(seeds[0], s["steps"]).astype(dtype)
        u_tree = _hash_uniform(seeds[1], s["steps"]).astype(dtype)
        log_w_sub = jnp.logaddexp(s["log_w_sub"], log_w)
        take = jnp.log(u_sub) < log_w - log_w_sub
        sub = {k: jnp.where(take, v, s["sub_" + k]) for k, v in
               dict(z=new.z, grad=new.grad, potential=new.potential, energy=energy).items()}
        end = dict(z=new.z, p=new.p, v=new.v, grad=new.grad)
        left = {k: jnp.where(forward, s["left_" + k], v) for k, v in end.items()}
        right = {k: jnp.where(forward, v, s["right_" + k]) for k, v in end.items()}

        # A complete sub-tree with no U-turn or divergence inside joins the trajectory:
        # biased progressive sampling, then the U-turn check of the whole trajectory.
        complete = (n + 1 == 2 ** depth) & ~sub_turning & ~diverging
        take_sub = complete & (jnp.log(u_tree) < log_w_sub - s["log_w_tree"])
        proposal = {k: jnp.where(take_sub, v, s["proposal_" + k]) for k, v in sub.items()}
        rho_tree = jnp.where(complete, s["rho_tree"] + sub_sum, s["rho_tree"])
        depth = jnp.where(complete, depth + 1, depth)
        whole_turning = complete & _turning(left["v"], right["v"], rho_tree)
        done = sub_turning | diverging | whole_turning | (depth >= max_depth)
        return _pack({
            **{"left_" + k: v for k, v in left.items()},
            **{"right_" + k: v for k, v in right.items()},
            **{"proposal_" + k: v for k, v in proposal.items()},
            **{"sub_" + k: v for k, v in sub.items()},
            "rho_tree": rho_tree, "sub_sum": jnp.where(complete, 0.0, sub_sum),
            "block_sum": block_sum, "block_v": block_v,
            "log_w_tree": jnp.where(complete, jnp.logaddexp(s["log_w_tree"], log_w_sub),
                                    s["log_w_tree"]),
            "log_w_sub": jnp.where(complete, neg_inf, log_w_sub),
            "accept_sum": s["accept_sum"] + accept,
            "depth": depth, "n": jnp.where(complete, 0, n + 1), "steps": s["steps"] + 1,
            "diverging": diverging, "done": done})

    s = _unpack(jax.lax.while_loop(lambda state: state[3][_COUNTERS.index("done")] == 0,
                                   body, init))
    stats = {"n_steps": s["steps"], "diverging": s["diverging"] != 0,
             "acceptance_rate": s["accept_sum"] / s["steps"],
             "energy": s["proposal_energy"], "tree_depth": s["depth"]}
    return s["proposal_z"], s["proposal_potential"], s["proposal_grad"], stats


def _inverse_transpose(chol):
    """``L⁻ᵀ`` for a lower-triangular ``L``."""
    eye = jnp.eye(chol.shape[0], dtype=chol.dtype)
    return jax.scipy.linalg.solve_triangular(chol, eye, lower=True).T


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


def _reasonable_step_size(start, step_size, value_and_grad, inv_mass):
    """Double or halve the step size until one leapfrog step's acceptance crosses 0.8."""
    h0 = _energy(start)
    threshold = jnp.log(jnp.asarray(0.8, start.z.dtype))

    def body(c):
        # One leapfrog per iteration, and the only one in the loop: each copy of the gradient
        # in the program costs seconds of compile time.
        eps, direction, i, _ = c
        error = _energy(_leapfrog(start, eps, value_and_grad, inv_mass)) - h0
        above = jnp.where(jnp.isfinite(error), -error, -jnp.inf) > threshold
        direction = jnp.where(i == 0, jnp.where(above, 1.0, -1.0), direction)
        crossed = (i > 0) & (above != (direction > 0))
        done = crossed | (i >= 50)
        return jnp.where(done, eps, eps * 2.0 ** direction), direction, i + 1, done

    eps, _, _, _ = jax.lax.while_loop(lambda c: ~c[3], body,
                                      (step_size, jnp.ones_like(step_size), 0, False))
    return eps


def _momentum(noise, chol, inv_chol_t, potential, z, grad):
    """The `_Point` at ``z`` with momentum ``p ~ N(0, Σ⁻¹)`` from standard normal ``noise``:
    with ``Σ = L·Lᵀ``, ``p = L⁻ᵀ·noise`` and its velocity ``Σ·p = L·noise``."""
    return _Point(z, inv_chol_t @ noise, chol @ noise, potential, grad)


def laplace(potential_fn, z0, num_evals=60):
    """A mode and the Cholesky factor of the inverse Hessian there, by BFGS from ``z0``.

    A Laplace approximation for the chains' start and first metric. BFGS needs only gradients,
    so the program holds one copy of the gradient (an exact Hessian through the model doubled
    the compile time); its inverse-Hessian estimate is exact on quadratics after ``d`` steps.
    Each evaluation tries a step along the BFGS direction; a step that does not decrease the
    potential enough (Armijo) is halved. Falls back to ``(z0, I)`` if anything is not finite.

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
    k_init, k_momentum, k_seeds = jax.random.split(key, 3)
    # Every transition's randomness, drawn at once: threefry runs as a rolled loop on CPU, and
    # the five calls a transition made launched ~400 small kernels (~1 µs per leapfrog step).
    noise = jax.random.normal(k_momentum, (total, dim), dtype)
    seeds = jax.random.bits(k_seeds, (total, 3), jnp.uint32)
    # The first metric is the covariance of a Laplace approximation: with an identity metric
    # the first warmup window ran at the maximum tree depth whenever the posterior's scales
    # were far from 1, which took most of the warmup's time.
    mode, chol0 = laplace(potential_fn, z0)
    z0 = pull_towards(potential_fn, z0, mode, start_budget(dim))
    value_and_grad = jax.value_and_grad(potential_fn)
    potential0, grad0 = value_and_grad(z0)
    inv_chol_t0 = _inverse_transpose(chol0)
    eps0 = _reasonable_step_size(
        _momentum(jax.random.normal(k_init, z0.shape, dtype), chol0, inv_chol_t0, potential0,
                  z0, grad0),
        jnp.asarray(1.0, dtype), value_and_grad, chol0 @ chol0.T)

    def dual_averaging_start(eps):
        return dict(mu=jnp.log(10.0 * eps), log_eps=jnp.log(eps), log_eps_bar=jnp.zeros_like(eps),
                    h_bar=jnp.zeros_like(eps), t=jnp.zeros_like(eps))

    # The metric: Σ (the inverse mass matrix), its Cholesky factor L and L⁻ᵀ, all changed only
    # at the end of a warmup window. The chain moves in the model's coordinates z: a whitened
    # chain (w = L⁻¹z, identity mass) is the same algorithm, but multiplying by L before the
    # potential and by Lᵀ after its gradient cut XLA's fusion of the model into ~25 more
    # kernels per leapfrog step (on CPU, +30% per step).
    init = dict(z=z0, potential=potential0, grad=grad0, chol=chol0, inv_chol_t=inv_chol_t0,
                inv_mass=chol0 @ chol0.T, eps=eps0, da=dual_averaging_start(eps0),
                count=jnp.zeros((), dtype), mean=jnp.zeros_like(z0),
                m2=jnp.zeros((dim, dim), dtype))

    def new_metric(count, m2, old):
        """The metric from the window's covariance, shrunk towards its diagonal (not towards
        1e-3·I as Stan does, which swamps posterior variances of 1e-8 and made trajectories
        20-40x longer). The step size is not searched again (that would be another copy of
        the gradient to compile): dual averaging restarts from it.
        """
        cov = m2 / jnp.maximum(count - 1.0, 1.0)
        weight = count / (count + 5.0)
        cov = weight * cov + (1 - weight) * jnp.diag(jnp.diag(cov))
        chol = jnp.linalg.cholesky(cov)
        ok = jnp.all(jnp.isfinite(chol))
        new = (chol, _inverse_transpose(chol), chol @ chol.T)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)

    def step(s, inputs):
        i, in_slow, window_end, noise, seeds_i = inputs
        start = _momentum(noise, s["chol"], s["inv_chol_t"], s["potential"], s["z"], s["grad"])
        z, potential, grad, stats = _nuts_transition(start, seeds_i, s["eps"], value_and_grad,
                                                     s["inv_mass"], max_tree_depth)
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
        metric = (s["chol"], s["inv_chol_t"], s["inv_mass"])
        chol, inv_chol_t, inv_mass = jax.lax.cond(window_end, new_metric,
                                                  lambda c, m, old: old, count, m2, metric)
        da = _select(window_end, dual_averaging_start(eps), da)
        state = dict(z=z, potential=potential, grad=grad, chol=chol, inv_chol_t=inv_chol_t,
                     inv_mass=inv_mass, eps=eps, da=da,
                     count=jnp.where(window_end, 0.0, count),
                     mean=jnp.where(window_end, 0.0, mean),
                     m2=jnp.where(window_end, 0.0, m2))
        if on_iteration is not None:
            on_iteration(i)
        return state, (z, stats)

    _, (draws, stats) = jax.lax.scan(step, init, (jnp.arange(total), slow, ends, noise, seeds))
    keep = slice(num_warmup, None)
    return draws[keep], {name: value[keep] for name, value in stats.items()}
