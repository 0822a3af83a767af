"""NUTS for scaling-law models: one cached, jitted sampler; the only place that jits or picks devices.

NumPyro's ``MCMC.run()`` traces and compiles again on every call (3-8 s, most of a small fit's
wall time). Here the whole fit (initialisation, warmup with step-size and dense mass-matrix
adaptation, sampling, and the transform back to the published parameters) is one ``jax.jit``
function built from the lean NUTS kernel of `inference/nuts.py` (or NumPyro's, by choice) on the
NumPyro model's density. It is
cached per (model spec, sampler settings, devices) -- a spec is a hashable recipe for a NumPyro
model, `LawModel` for the loss laws -- and the data *and the priors* are its arguments (NumPyro distributions are pytrees), so refitting same-shaped data, or the same data
with other prior values, reuses the compiled code.

In a fresh process JAX still traces and lowers the sampler before the persistent compile cache
can hand over the compiled program (about 1 s of a warm CLI fit). ``jax.export`` would skip that:
a serialized export of the 240-run sampler, called in a fresh process, answered in 1.15 s
against the cached jit's 1.99 s (2 CPU cores, sampling 0.45 s of each). It is not used: it needs
another dependency (``flatbuffers``), and an exported program cannot carry the progress bar's
host callback, so no fit that shows its progress could use it.

Chains are vectorised with ``vmap`` on one device. When several local devices are present (GPUs,
TPU cores, or CPU host devices made with ``XLA_FLAGS=--xla_force_host_platform_device_count``),
the chains are split across them with ``shard_map``, each device running its own chains with no
lockstep between devices. Many fits at once (`inference.batch.fit_many`, SBC) run as one program over a
leading fit axis, split over the devices (`batch_strategy`).

Example
-------
>>> import jax
>>> from bayes_scaling.simulation import simulate
>>> from bayes_scaling.laws.priors import default_priors
>>> runs = simulate(jax.random.key(0))
>>> config = SamplerConfig(num_chains=4, num_warmup=500, num_samples=1000)
>>> post = run_nuts("chinchilla", default_priors("chinchilla", runs), runs,
...                 key=jax.random.key(1), config=config)
>>> post.idata.posterior["alpha"].shape
(4, 1000)
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, PartitionSpec
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, trace
from numpyro.infer.util import constrain_fn, log_likelihood, potential_energy

from ..errors import PrecisionWarning
from ..laws.registry import get_law
from ..models import make_model, model_data
from .nuts import numpyro_chain, sample_chain
from .padding import pad_runs, padded_size
from .progress import report, tracking, watching
from ..posterior import Posterior
from ..laws.priors import check_priors

__all__ = ["SamplerConfig", "run_nuts", "sample_arrays", "sample_many", "run_batch", "LawModel",
           "trace_count", "chain_layout", "PrecisionWarning", "FLOAT32_MAX_RUNS",
           "MAX_POINTWISE_LOGLIK", "release_compiled", "settled", "sample_with_progress"]

CHAIN_METHODS = ("auto", "vectorized", "sequential", "parallel")
KERNELS = ("builtin", "numpyro")
# Pointwise log-likelihood (for LOO) is stored when draws x runs stays below this many numbers.
MAX_POINTWISE_LOGLIK = 20_000_000
PREDICTIVE_STREAM = 1  # fold_in(key, 1): the fit's posterior predictive, apart from the chains
# Above this many runs a float32 log-likelihood is too coarse for NUTS: its sum over 245,000 runs
# jittered by ±0.3 between points 0.001 sd apart, the step size fell from 0.37 to 0.10 and the
# trajectories grew from 11.5 to 30.6 steps per iteration (float64: 11.5, as at 245 runs).
FLOAT32_MAX_RUNS = 50_000
_INIT_JITTER = 0.5  # chains start at the prior median ± this, uniformly, in unconstrained space
_traces = {"count": 0}


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings.

    Parameters
    ----------
    num_chains, num_warmup, num_samples : int
        Chains and iterations per chain (warmup adapts the step size and a dense mass matrix).
    target_accept : float
        Target mean acceptance probability of the step-size adaptation, in (0, 1). The default
        0.9 (not NumPyro's 0.8) goes with the unregularised dense mass matrix: over 18 simulated
        fits of 40-245 runs it gave no divergences at 7-10 leapfrog steps per iteration, where
        0.8 gave divergences in 3 small-data fits.
    max_tree_depth : int
        NUTS trajectories stop at 2**max_tree_depth leapfrog steps.
    chain_method : {"auto", "vectorized", "sequential", "parallel"}
        "vectorized" runs all chains on one device in lockstep (vmap); "sequential" runs them one
        after another on one device; "parallel" splits them across local devices (requires
        several); "auto" splits across the devices there are, vectorized on accelerators and
        sequential on CPU. See `chain_layout`.
    progress_bar : bool or None
        Show a progress bar while sampling (stage, iterations, time left; one bar for a whole
        batch of fits), in a terminal or in Jupyter (`inference.progress`). None: when someone
        is watching (stderr is a terminal, or a Jupyter kernel).
    pad_runs : bool
        Pad the runs to a bucket of a few fixed sizes (`inference.padding`) so that fits of
        other sizes reuse the compiled sampler; the posterior is unchanged. False compiles for
        the exact size (for comparisons).
    kernel : {"builtin", "numpyro"}
        The NUTS transition and warmup, inside the same cached jit either way: the hand-written
        one of `inference.nuts` or NumPyro's (``numpyro.infer.hmc.hmc``, dense metric), which
        compiles in half the time but diverged more often on small data sets and samples
        1.3-1.5x slower (`inference.nuts` gives the numbers).
    """

    num_chains: int = 4
    num_warmup: int = 1000
    num_samples: int = 1000
    target_accept: float = 0.9
    max_tree_depth: int = 10
    chain_method: str = "auto"
    progress_bar: bool | None = None
    pad_runs: bool = True
    kernel: str = "builtin"

    def __post_init__(self):
        for name in ("num_chains", "num_warmup", "num_samples", "max_tree_depth"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < self.target_accept < 1:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept}")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
        if self.chain_method not in CHAIN_METHODS:
            raise ValueError(f"chain_method must be one of {CHAIN_METHODS}, "
                             f"got {self.chain_method!r}")


def settled(config):
    """``config`` with its automatic choice made (whether to show progress): what a compiled
    sampler is built from and cached on."""
    progress = watching() if config.progress_bar is None else bool(config.progress_bar)
    return dataclasses.replace(config, progress_bar=progress)


def trace_count():
    """How many times the sampler has been traced (compiled) in this process; for tests."""
    return _traces["count"]


def chain_layout(config):
    """How chains run: ``(per_device, num_devices)``.

    ``per_device`` is "vectorized" (``vmap``: all chains of a device in lockstep, best on GPU/TPU)
    or "sequential" (``lax.map``: one after another, best on CPU, where lockstep trees waste
    work and vmapping NumPyro's NUTS measured 10 s of extra tracing). Chains are split over as
    many local devices as divide ``num_chains`` (all of them with "parallel").
    """
    available = len(jax.local_devices())
    usable = max(d for d in range(1, available + 1) if config.num_chains % d == 0)
    per_device = "sequential" if jax.default_backend() == "cpu" else "vectorized"
    if config.chain_method == "auto":
        return per_device, usable
    if config.chain_method == "parallel":
        if usable == 1:
            raise ValueError(
                f"chain_method='parallel' needs several local devices dividing "
                f"{config.num_chains} chains; found {available} {jax.default_backend()} "
                f"device(s). On CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N "
                f"before importing jax, or use 'sequential' or 'vectorized'")
        return per_device, usable
    return config.chain_method, 1


def _initial_position(key, model, args, num_prior_draws=16):
    """Median of a few prior draws plus a small uniform jitter, in unconstrained space.

    Chains start apart but inside the prior's bulk (which default priors scale to the data).
    Cheaper to compile than NumPyro's ``find_valid_initial_params`` (measured 1 s vs 7.5 s).
    """
    k_draws, k_jitter = jax.random.split(key)

    def prior_draw(k):
        sites = trace(seed(model, k)).get_trace(*args)
        return {name: biject_to(site["fn"].support).inv(site["value"])
                for name, site in sites.items()
                if site["type"] == "sample" and not site["is_observed"]}

    draws = jax.vmap(prior_draw)(jax.random.split(k_draws, num_prior_draws))
    median = jax.tree_util.tree_map(lambda v: jnp.median(v, axis=0), draws)
    leaves, treedef = jax.tree_util.tree_flatten(median)
    keys = jax.random.split(k_jitter, len(leaves))
    jittered = jax.tree_util.tree_unflatten(treedef, [
        leaf + jax.random.uniform(k, jnp.shape(leaf), leaf.dtype, -_INIT_JITTER, _INIT_JITTER)
        for leaf, k in zip(leaves, keys)])
    ok = jnp.isfinite(potential_energy(model, args, {}, jittered))
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), jittered, median)


@dataclasses.dataclass(frozen=True)
class LawModel:
    """What the sampler needs to build a loss law's NumPyro model from traced prior values.

    The compiled samplers are generic over such a *model spec*: a hashable object (the cache key)
    with ``build(model_args) -> model``, where ``model(*data)`` is the NumPyro model of one fit
    and ``model_args`` is a pytree of arrays (here the priors' parameters, see `split_priors`),
    and ``observed``, the name of the observed site (for the pointwise log-likelihood).
    `emergence.model.EmergenceModel` is another.
    """

    law: object
    likelihood: str
    prior_spec: tuple
    observed: str = "log_loss"

    def build(self, prior_values):
        return make_model(self.law, join_priors(self.prior_spec, prior_values), self.likelihood)


def _one_chain(key, chain, data, model_args, *, spec, config):
    """Warm up and sample one chain of ``spec``'s model on ``data`` (the model's positional
    arguments); return its draws (constrained, with deterministic sites) and per-draw
    statistics, post-warmup only."""
    model = spec.build(model_args)
    k_init, k_run = jax.random.split(key)
    flat, unravel = ravel_pytree(_initial_position(k_init, model, data))
    on_iteration = None
    if config.progress_bar:
        total = config.num_warmup + config.num_samples
        every = max(total // 100, 1)

        def on_iteration(i):
            jax.lax.cond((i % every == every - 1) | (i == total - 1),
                         lambda: jax.debug.callback(report, chain, i), lambda: None)

    kernel = {"builtin": sample_chain, "numpyro": numpyro_chain}[config.kernel]
    # Jitted so that its trace is kept: the kernel evaluates the potential in ~20 places
    # (initial step size, Laplace start, leapfrog, ...), and each would trace NumPyro's model
    # again.
    potential = jax.jit(lambda z: potential_energy(model, data, {}, unravel(z)))
    draws, stats = kernel(
        k_run, flat, potential,
        num_warmup=config.num_warmup, num_samples=config.num_samples,
        target_accept=config.target_accept, max_tree_depth=config.max_tree_depth,
        on_iteration=on_iteration)
    constrained = jax.vmap(lambda z: constrain_fn(model, data, {}, unravel(z),
                                                  return_deterministic=True))(draws)
    return constrained, stats


def _compiled_sampler(law, likelihood, config, layout, pointwise, prior_spec):
    """A jitted ``run(keys, data, prior_values)`` for a loss law (cached; see `compiled_model`)."""
    return compiled_model(LawModel(law, likelihood, prior_spec), config, layout, pointwise)


@functools.lru_cache(maxsize=16)
def compiled_model(spec, config, layout, pointwise):
    """A jitted ``run(keys, data, model_args)`` for this model spec and these settings (cached):
    one fit."""
    return jax.jit(_sampler(spec, settled(config), layout, pointwise))


def sample_with_progress(run, config, *args, num_fits=1):
    """Call a compiled sampler, showing its progress when ``config`` (settled) says so; wait for
    its results."""
    label = f"{num_fits} fits" if num_fits > 1 else f"NUTS {config.num_chains} chains"
    with tracking(total_chains=num_fits * config.num_chains,
                  iterations=config.num_warmup + config.num_samples, warmup=config.num_warmup,
                  label=label, enabled=config.progress_bar,
                  chains_per_fit=config.num_chains if num_fits > 1 else None):
        return jax.block_until_ready(run(*args))


def _sampler(spec, config, layout, pointwise):
    """The (unjitted) ``run(keys, data, model_args)``: all chains of one fit."""
    per_device, num_devices = layout

    def run(keys, data, model_args, first_chain=0):
        _traces["count"] += 1  # runs at trace time only
        # The model is rebuilt inside each chain: only arrays (e.g. the canonical dict of prior
        # values) cross the shard_map / lax.map boundaries (see `split_priors`).
        chain = functools.partial(_one_chain, spec=spec, config=config)
        if per_device == "vectorized":
            chains = jax.vmap(chain, in_axes=(0, 0, None, None))
        else:
            def chains(keys, ids, data, args):
                return jax.lax.map(lambda a: chain(a[0], a[1], data, args), (keys, ids))
        if num_devices > 1:
            mesh = Mesh(np.asarray(jax.local_devices()[:num_devices]), ("chain",))
            split, whole = PartitionSpec("chain"), PartitionSpec()
            chains = jax.shard_map(chains, mesh=mesh, out_specs=split,
                                   in_specs=(split, split, whole, whole), check_vma=False)
        # Chains are numbered across a batch (``first_chain``) for the progress bar.
        samples, stats = chains(keys, first_chain + jnp.arange(config.num_chains), data,
                                model_args)
        loglik = None
        if pointwise:
            model = spec.build(model_args)
            latent = {k: v for k, v in samples.items() if k in _latent_sites(model, data)}
            loglik = log_likelihood(model, latent, *data, batch_ndims=2)[spec.observed]
        return samples, stats, loglik

    return run


def batch_strategy(strategy="auto", num_devices=None):
    """How a batch of fits runs: ``(per_device, num_devices)``.

    ``per_device`` is "vectorized" (all fits and chains of a device in lockstep with ``vmap``:
    the accelerator's strength) or "sequential" (one fit after another with ``lax.map``: on a
    CPU lockstep NUTS waits for the longest trajectory in the batch, measured 2.6x slower on 2
    cores). The fits are split over ``num_devices`` local devices (default: all of them).
    "auto" picks by backend.
    """
    if strategy not in ("auto", "vectorized", "sequential"):
        raise ValueError(f"strategy must be 'auto', 'vectorized' or 'sequential', got {strategy!r}")
    if strategy == "auto":
        strategy = "sequential" if jax.default_backend() == "cpu" else "vectorized"
    available = len(jax.local_devices())
    if num_devices is None:
        return strategy, available
    if not 1 <= num_devices <= available:
        raise ValueError(f"num_devices must be between 1 and the {available} local "
                         f"{jax.default_backend()} device(s), got {num_devices}")
    return strategy, num_devices


def release_compiled():
    """Drop every compiled sampler (this module's caches and JAX's), releasing their memory.

    Each compiled program keeps 150-180 MB. Runs padded to buckets (`inference.padding`) share
    programs, so a sweep over data sets of many sizes no longer needs this; it remains for
    sweeps over many sampler settings or models. The next fit compiles again.
    """
    compiled_model.cache_clear()
    _compiled_batch_sampler.cache_clear()
    jax.clear_caches()


@functools.lru_cache(maxsize=16)
def _compiled_batch_sampler(spec, config, layout):
    """A jitted ``run(keys, data, model_args)`` over a leading fit axis of every argument:
    one program for the whole batch, its fits split over ``layout[1]`` devices (cached)."""
    per_device, num_devices = layout
    one_fit = _sampler(spec, settled(config), (per_device, 1), False)

    def run(keys, data, model_args, first_chains):
        if per_device == "vectorized":
            return jax.vmap(one_fit)(keys, data, model_args, first_chains)
        return jax.lax.map(lambda args: one_fit(*args), (keys, data, model_args, first_chains))

    if num_devices > 1:
        mesh = Mesh(np.asarray(jax.local_devices()[:num_devices]), ("fit",))
        split = PartitionSpec("fit")
        run = jax.shard_map(run, mesh=mesh, in_specs=(split,) * 4, out_specs=split,
                            check_vma=False)
    return jax.jit(run)


def run_batch(spec, config, keys, data, model_args, strategy="auto", num_devices=None,
              num_real=None):
    """Fit a batch of data sets with one compiled program; the generic core of `fit_many`,
    `sample_many` and `emergence.fit.fit_emergence`.

    Parameters
    ----------
    spec : hashable model spec
        ``spec.build(model_args)`` gives the NumPyro model of one fit, called as
        ``model(*data)`` (see `LawModel`). The compiled program is cached on it.
    config : SamplerConfig
    keys : array of PRNG keys, shape (fits, chains)
    data, model_args : pytrees of arrays with a leading fit axis
    strategy, num_devices
        See `batch_strategy`.
    num_real : int, optional
        How many of the leading fits are real when the caller padded the batch (emergence
        pads its tasks to a bucket); the progress bar counts only those. Default: all.

    Returns
    -------
    (dict, dict)
        Samples and sample statistics (NumPy), leading axes (fit, chain, draw). The fit axis
        is padded to a multiple of the devices with copies of the first fit, dropped here.
    """
    per_device, num_devices = batch_strategy(strategy, num_devices)
    config = settled(config)
    num_fits = keys.shape[0]
    pad = -num_fits % num_devices
    args = (keys, data, model_args)
    if pad:
        args = jax.tree_util.tree_map(
            lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]), args)
    first_chains = np.arange(num_fits + pad) * config.num_chains
    sampler = _compiled_batch_sampler(spec, config, (per_device, num_devices))
    samples, stats, _ = sample_with_progress(sampler, config, *args, first_chains,
                                             num_fits=num_real or num_fits)
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[:num_fits], (samples, stats))


def split_priors(priors, dtype):
    """Priors as (static spec, dict of arrays) in a canonical order, for the jitted sampler.

    Passing NumPyro distributions themselves as jit arguments would work, but their pytree
    field order comes from a ``set`` (numpyro ``gather_pytree_data_fields``) and so changes with
    Python's hash seed: every process would lower a different program and JAX's persistent
    compilation cache would never hit. A distribution that cannot be rebuilt from its
    ``arg_constraints`` is kept whole in the static part (a new object then means a new trace).
    """
    static, dynamic = [], {}
    for name in sorted(priors):
        prior = priors[name]
        if not isinstance(prior, dist.Distribution):
            static.append((name, None, ()))
            dynamic[name] = jnp.asarray(prior, dtype)
            continue
        args = {k: getattr(prior, k) for k in sorted(prior.arg_constraints) if k in vars(prior)}
        try:
            rebuilt = type(prior)(**args)
        except (TypeError, ValueError):
            rebuilt = None
        if rebuilt is None or rebuilt.batch_shape != prior.batch_shape:
            static.append((name, prior, ()))
            continue
        static.append((name, type(prior), tuple(args)))
        dynamic[name] = {k: jnp.asarray(v, dtype) for k, v in args.items()}
    return tuple(static), dynamic


def join_priors(static, dynamic):
    """Inverse of `split_priors` (runs inside the jitted sampler)."""
    priors = {}
    for name, kind, _ in static:
        if kind is None:
            priors[name] = dynamic[name]
        elif isinstance(kind, dist.Distribution):
            priors[name] = kind
        else:
            priors[name] = kind(**dynamic[name])
    return priors


def _latent_sites(model, data):
    sites = trace(seed(model, 0)).get_trace(*data)
    return {name for name, site in sites.items()
            if site["type"] == "sample" and not site["is_observed"]}


def _data(runs, law, dtype, pad=True):
    """The model's ``(x, y, mask)`` for one fit, on the device: padded to `padded_size` with a
    mask, or exactly the runs with ``mask=None`` when ``pad`` is False."""
    x, y = model_data(runs, law, dtype)
    data = pad_runs(x, y, padded_size(len(runs))) if pad else (x, y, None)
    return jax.device_put(data)


def sample_arrays(law, priors, runs, *, key, config=SamplerConfig(), likelihood="student_t",
                  dtype=None):
    """Run NUTS and return raw arrays ``(samples, stats, pointwise_loglik or None)``.

    Every array has leading axes (chain, draw). Most users want `run_nuts`, which wraps these in
    a `Posterior`.
    """
    law = get_law(law)
    check_priors(law, priors, likelihood)
    data = _data(runs, law, dtype, config.pad_runs)
    if data[1].dtype == jnp.float32 and len(runs) > FLOAT32_MAX_RUNS:
        warnings.warn(
            f"{len(runs)} runs in float32: the log-likelihood's rounding error makes NUTS take "
            f"about 3x more steps above {FLOAT32_MAX_RUNS} runs; enable float64 with "
            "jax.config.update('jax_enable_x64', True) before fitting (the CLI does so itself)",
            PrecisionWarning, stacklevel=3)
    prior_spec, prior_values = split_priors(priors, data[1].dtype)
    pointwise = config.num_chains * config.num_samples * len(data[1]) <= MAX_POINTWISE_LOGLIK
    config = settled(config)
    sampler = _compiled_sampler(law, likelihood, config, chain_layout(config), pointwise,
                                prior_spec)
    keys = jax.random.split(key, config.num_chains)
    samples, stats, loglik = sample_with_progress(sampler, config, keys, data, prior_values)
    return samples, stats, None if loglik is None else np.asarray(loglik)[..., :len(runs)]


def sample_many(law, priors, runs, log_losses, *, key, config=SamplerConfig(),
                likelihood="student_t", dtype=None, strategy="auto"):
    """Fit many data sets that share one design (the runs' N, D) and one set of priors.

    Used for simulation-based calibration. All fits run as one compiled batch (see
    `batch_strategy`); `fit_many` is the general form (data sets of any sizes, own priors).

    Parameters
    ----------
    law, priors, runs, key, config, likelihood, dtype
        As for `sample_arrays`; ``runs`` supplies the design (its losses are not used).
    log_losses : array_like, shape (fits, runs)
        The observed log-losses of each data set.
    strategy : {"auto", "vectorized", "sequential"}
        See `batch_strategy`.

    Returns
    -------
    (dict, dict)
        Samples and sample statistics (NumPy) with leading axes (fit, chain, draw).
    """
    law = get_law(law)
    check_priors(law, priors, likelihood)
    x, y = model_data(runs, law, dtype)
    ys = np.asarray(log_losses, y.dtype)
    if ys.ndim != 2 or ys.shape[1] != len(runs):
        raise ValueError(f"log_losses must have shape (fits, {len(runs)}), got {ys.shape}")
    num_fits = ys.shape[0]
    x, ys, mask = jax.device_put(pad_runs(x, ys, padded_size(len(runs)) if config.pad_runs
                                          else len(runs)))
    prior_spec, prior_values = split_priors(priors, ys.dtype)
    x, mask, prior_values = jax.tree_util.tree_map(
        lambda a: jnp.broadcast_to(a, (num_fits,) + a.shape), (x, mask, prior_values))
    keys = jax.random.split(key, (num_fits, config.num_chains))
    return run_batch(LawModel(law, likelihood, prior_spec), config, keys, (x, ys, mask),
                     prior_values, strategy)


def run_nuts(law, priors, runs, *, key, config=SamplerConfig(), likelihood="student_t",
             dtype=None, warn=True, predictive=True):
    """Fit ``law`` to ``runs`` with NUTS and return a `Posterior`.

    Parameters
    ----------
    law : Law or str
    priors : dict
        From `default_priors`, possibly with overrides.
    runs : Runs
    key : jax.random key
        Explicit PRNG key; the same key gives the same draws.
    config : SamplerConfig
    likelihood : {"student_t", "normal"}
    dtype : optional
        Floating dtype of the computation (default: JAX's, float32 unless x64 is enabled).
    warn : bool
        Warn with `ConvergenceWarning` if the diagnostics gate fails (False: the caller
        decides, e.g. after a remedy, `inference.remedy`).
    predictive : bool
        Also keep the posterior predictive of the runs (for `az.plot_ppc`); False skips it
        (0.3 s for 250 runs) where nobody looks, as in an internal backtest.

    Returns
    -------
    Posterior
    """
    law = get_law(law)
    config = settled(config)  # the file records what ran
    samples, stats, loglik = sample_arrays(law, priors, runs, key=key, config=config,
                                           likelihood=likelihood, dtype=dtype)
    post = Posterior.from_arrays(law=law, likelihood=likelihood, priors=priors, runs=runs,
                                 samples=samples, stats=stats, loglik=loglik, config=config,
                                 key=(jax.random.fold_in(key, PREDICTIVE_STREAM)
                                      if predictive else None))
    if warn:
        post.warn_if_unconverged()
    return post

