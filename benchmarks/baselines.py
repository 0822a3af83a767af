"""Baseline NUTS samplers on exactly the model our engine samples, for side-by-side benchmarks.

Every baseline fits the decorrelated Chinchilla model of `bayes_scaling.models` with the default
priors of `bayes_scaling.default_priors` for the given runs and the Student-t likelihood on
log-loss, with the same number of chains, warmup and draws as our engine would use:

`blackjax_fit`
    BlackJAX NUTS with ``blackjax.window_adaptation`` (Stan-style windows, dense mass matrix) on
    ``-numpyro.infer.util.potential_energy`` of *our* NumPyro model, in NumPyro's unconstrained
    space. Chains are vmapped; warmup and sampling are one ``jax.jit`` function.
`pymc_fit`
    The same model written in PyMC (same distributions and numbers, same parameterization:
    the sampled sites ``log_A_term`` = log A − α·mean(log N) and ``log_B_term``), sampled with
    PyMC's default ``pm.sample`` (NUTS, jitter+adapt_diag, diagonal mass matrix).
`nutpie_fit`
    That PyMC model compiled by ``nutpie.compile_pymc_model`` (numba backend) and sampled by
    ``nutpie.sample`` with its defaults.

Each returns a dict with ``compile_s``, ``sampling_s``, ``draws`` (A, B, alpha, beta, E as NumPy
arrays of shape (chain, draw)), ``num_steps`` (leapfrog steps per post-warmup iteration,
(chain, draw)), ``divergences`` (post-warmup count) and ``notes`` (how the times were taken).

The heavy imports (blackjax, pymc, nutpie) happen inside the functions, so this module imports
with the project's own dependencies only; a missing package raises ImportError naming it.
The extra packages are listed in ``benchmarks/requirements-baselines.txt``.

Run
---
    python benchmarks/baselines.py                       # 2 chains x 300 warmup x 300 draws
    python benchmarks/baselines.py --chains 4 --warmup 1000 --samples 1000
    python benchmarks/baselines.py --only blackjax,nutpie --no-ours

prints, per method, compile and sampling time, min bulk ESS over A, B, alpha, beta, E, ESS per
second of sampling, divergences, and the posterior medians (which should agree across methods:
they all sample the same posterior).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # As a script: one JAX CPU device per core (2 here), so that our engine (the reference row)
    # splits its chains over both cores, as PyMC and nutpie do with cores=2. Must precede jax.
    _FLAGS = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in _FLAGS:
        _CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        _COUNT = f"--xla_force_host_platform_device_count={_CORES}"
        os.environ["XLA_FLAGS"] = f"{_FLAGS} {_COUNT}".strip()

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro import handlers  # noqa: E402
from numpyro.distributions.transforms import biject_to  # noqa: E402
from numpyro.infer.util import constrain_fn, potential_energy  # noqa: E402

import bayes_scaling  # noqa: E402
from bayes_scaling.models import build_model, model_inputs  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sampler import cpu_seconds, markdown_table  # noqa: E402

__all__ = ["blackjax_fit", "pymc_fit", "nutpie_fit", "pymc_model", "prior_numbers", "PARAMS"]

PARAMS = ("A", "B", "alpha", "beta", "E")  # the published parameters every baseline reports
_INIT_DRAWS = 16  # prior draws whose median starts the BlackJAX chains
_INIT_JITTER = 0.5  # ± uniform jitter around it, in unconstrained space (as our engine does)


# -- the model, shared by every baseline ----------------------------------------------------------
def numpyro_problem(runs):
    """Our NumPyro model with the default priors, and its data ``(x, y)`` in JAX's default dtype.

    The same three objects our engine builds in `bayes_scaling.inference.sampler.sample_arrays`.
    """
    model = build_model("chinchilla", bayes_scaling.default_priors("chinchilla", runs))
    x = model_inputs(runs)
    y = jnp.log(jnp.asarray(runs.loss, dtype=x["N"].dtype))
    return model, x, y


def prior_numbers(runs):
    """The numbers of the default priors for ``runs``, read from `bayes_scaling.default_priors`.

    Returns
    -------
    dict
        ``E_scale`` (HalfNormal), ``alpha_loc``/``alpha_scale`` and ``beta_loc``/``beta_scale``
        (LogNormal), ``A_loc``/``A_scale`` and ``B_loc``/``B_scale`` (LogNormal),
        ``sigma_scale`` (HalfNormal), ``nu_shape``/``nu_rate`` (Gamma).

    Raises
    ------
    RuntimeError
        If a default prior is no longer of the family assumed here: the PyMC model would then
        silently differ from ours, so it refuses instead.
    """
    priors = bayes_scaling.default_priors("chinchilla", runs)
    expected = {"E": dist.HalfNormal, "alpha": dist.LogNormal, "beta": dist.LogNormal,
                "A": dist.LogNormal, "B": dist.LogNormal, "sigma": dist.HalfNormal,
                "nu": dist.Gamma}
    for name, family in expected.items():
        if type(priors.get(name)) is not family:
            raise RuntimeError(
                f"default prior of {name!r} is {priors.get(name)!r}, not {family.__name__}: "
                f"update benchmarks/baselines.py (pymc_model) to match bayes_scaling.laws.priors")
    numbers = {"E_scale": priors["E"].scale, "sigma_scale": priors["sigma"].scale,
               "nu_shape": priors["nu"].concentration, "nu_rate": priors["nu"].rate}
    for name in ("alpha", "beta", "A", "B"):
        numbers[f"{name}_loc"] = priors[name].loc
        numbers[f"{name}_scale"] = priors[name].scale
    return {name: float(value) for name, value in numbers.items()}


def pymc_model(runs):
    """Our model (see `bayes_scaling.models`) written in PyMC, with the default priors for ``runs``.

    A ~ LogNormal(a, s) means log A ~ Normal(a, s), so the sampled site
    ``log_A_term = log A − α·n̄`` (n̄ = mean log N) is Normal(a − α·n̄, s) given α: the same
    change of variables, with unit Jacobian, that our NumPyro model makes. PyMC's default
    transforms (log for E, α, β, σ, ν) give the same unconstrained space as NumPyro's.

    Returns
    -------
    pymc.Model
    """
    import pymc as pm
    import pytensor.tensor as pt

    p = prior_numbers(runs)
    log_n, log_d = np.log(runs.N), np.log(runs.D)
    n_bar, d_bar = float(np.mean(log_n)), float(np.mean(log_d))
    with pm.Model() as model:
        E = pm.HalfNormal("E", sigma=p["E_scale"])
        alpha = pm.LogNormal("alpha", mu=p["alpha_loc"], sigma=p["alpha_scale"])
        beta = pm.LogNormal("beta", mu=p["beta_loc"], sigma=p["beta_scale"])
        log_a_term = pm.Normal("log_A_term", mu=p["A_loc"] - alpha * n_bar, sigma=p["A_scale"])
        log_b_term = pm.Normal("log_B_term", mu=p["B_loc"] - beta * d_bar, sigma=p["B_scale"])
        pm.Deterministic("A", pt.exp(log_a_term + alpha * n_bar))
        pm.Deterministic("B", pt.exp(log_b_term + beta * d_bar))
        sigma = pm.HalfNormal("sigma", sigma=p["sigma_scale"])
        nu = pm.Gamma("nu", alpha=p["nu_shape"], beta=p["nu_rate"])
        # log(E + A N^-α + B D^-β) with log A − α log N = log_A_term − α (log N − n̄): the same
        # logsumexp of the three terms' logs as bayes_scaling.laws.registry, stable at any scale.
        mean = pt.logaddexp(pt.logaddexp(pt.log(E), log_a_term - alpha * (log_n - n_bar)),
                            log_b_term - beta * (log_d - d_bar))
        pm.StudentT("log_loss", nu=nu, mu=mean, sigma=sigma, observed=np.log(runs.loss))
    return model


def _idata_result(idata, compile_s, sampling_s, notes, **extra):
    """The common result dict from an ArviZ InferenceData with post-warmup sample_stats."""
    stats = idata.sample_stats
    return {
        "compile_s": compile_s,
        "sampling_s": sampling_s,
        "draws": {p: np.asarray(idata.posterior[p].values) for p in PARAMS},
        "num_steps": np.asarray(stats["n_steps"].values) if "n_steps" in stats else None,
        "divergences": int(np.sum(stats["diverging"].values)),
        "notes": notes,
        **extra,
    }


# -- BlackJAX -------------------------------------------------------------------------------------
def _prior_median_start(key, model, x, y):
    """Median of a few prior draws plus a small uniform jitter, in unconstrained space.

    The same recipe as our engine's initialisation, so that both start from the same region.
    """
    k_draws, k_jitter = jax.random.split(key)

    def prior_draw(k):
        sites = handlers.trace(handlers.seed(model, k)).get_trace(x, y)
        return {name: biject_to(site["fn"].support).inv(site["value"])
                for name, site in sites.items()
                if site["type"] == "sample" and not site["is_observed"]}

    draws = jax.vmap(prior_draw)(jax.random.split(k_draws, _INIT_DRAWS))
    median = jax.tree_util.tree_map(lambda v: jnp.median(v, axis=0), draws)
    names = sorted(median)
    keys = dict(zip(names, jax.random.split(k_jitter, len(names))))
    jittered = {name: median[name] + jax.random.uniform(
        keys[name], jnp.shape(median[name]), median[name].dtype, -_INIT_JITTER, _INIT_JITTER)
        for name in names}
    # A jittered start outside the support (infinite potential) falls back to the median.
    ok = jnp.isfinite(potential_energy(model, (x, y), {}, jittered))
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), jittered, median)


def _blackjax_sampler(blackjax, model, num_warmup, num_samples, target_accept):
    """The unjitted ``run(keys, x, y)``: warmup and sampling of one chain per key, vmapped."""
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    def run(keys, x, y):
        def logdensity(z):
            return -potential_energy(model, (x, y), {}, z)

        def one_chain(key):
            k_init, k_warmup, k_sample = jax.random.split(key, 3)
            warmup = blackjax.window_adaptation(
                blackjax.nuts, logdensity, is_mass_matrix_diagonal=False,
                target_acceptance_rate=target_accept,
                # Keep no per-iteration adaptation trace: it is unused and costs memory.
                adaptation_info_fn=get_filter_adapt_info_fn())
            (state, parameters), _ = warmup.run(
                k_warmup, _prior_median_start(k_init, model, x, y), num_steps=num_warmup)
            kernel = blackjax.nuts(logdensity, **parameters)

            def step(state, k):
                state, info = kernel.step(k, state)
                return state, (state.position, info.num_integration_steps, info.is_divergent)

            _, (z, num_steps, divergent) = jax.lax.scan(
                step, state, jax.random.split(k_sample, num_samples))
            constrained = jax.vmap(lambda u: constrain_fn(
                model, (x, y), {}, u, return_deterministic=True))(z)
            return {p: constrained[p] for p in PARAMS}, num_steps, divergent

        return jax.vmap(one_chain)(keys)

    return run


def blackjax_fit(runs, *, key, num_chains=4, num_warmup=1000, num_samples=1000,
                 target_accept=0.9):
    """Fit with BlackJAX NUTS (window adaptation, dense mass matrix) on our NumPyro model.

    The log density is ``-numpyro.infer.util.potential_energy(model, (x, y), {}, z)`` in
    NumPyro's unconstrained space; chains start from the median of 16 prior draws with a
    ±0.5 jitter (as ours do), warm up independently and are vmapped; the whole fit is one
    ``jax.jit`` function. It is called twice, with two keys split from ``key``: the first call
    compiles and samples, the second (same shapes, so no recompilation) only samples.

    Parameters
    ----------
    runs : bayes_scaling.Runs
    key : jax.random key
    num_chains, num_warmup, num_samples : int
        Chains, warmup iterations and post-warmup draws per chain.
    target_accept : float
        Target acceptance rate of the step-size adaptation (0.9, as our engine's default).

    Returns
    -------
    dict
        ``compile_s`` (first call − second call), ``sampling_s`` (second call, up to
        ``block_until_ready``), ``first_call_s``, ``draws`` of A, B, alpha, beta, E as NumPy
        arrays (chain, draw) from the second call, ``num_steps`` (leapfrog steps per iteration,
        (chain, draw)), ``divergences`` (post-warmup), ``notes``.

    Raises
    ------
    ImportError
        If blackjax is not installed.
    """
    try:
        import blackjax
    except ImportError as err:
        raise ImportError(f"blackjax_fit needs blackjax (pip install -r "
                          f"benchmarks/requirements-baselines.txt): {err}") from err
    model, x, y = numpyro_problem(runs)
    run = jax.jit(_blackjax_sampler(blackjax, model, num_warmup, num_samples, target_accept))

    def timed(k):
        start = time.perf_counter()
        out = jax.block_until_ready(run(jax.random.split(k, num_chains), x, y))
        return out, time.perf_counter() - start

    k_first, k_second = jax.random.split(key)
    _, first_s = timed(k_first)
    (draws, num_steps, divergent), second_s = timed(k_second)
    return {
        "compile_s": first_s - second_s,
        "sampling_s": second_s,
        "first_call_s": first_s,
        "draws": {p: np.asarray(v) for p, v in draws.items()},
        "num_steps": np.asarray(num_steps),
        "divergences": int(np.sum(divergent)),
        "notes": f"blackjax {blackjax.__version__}; window_adaptation, dense mass matrix "
                 f"(Stan-style regularisation toward 1e-3 I), target_accept {target_accept}; "
                 f"chains vmapped on one device; calls {first_s:.1f} s then {second_s:.1f} s; "
                 f"compile = first call - second call",
    }


# -- PyMC -----------------------------------------------------------------------------------------
def _import_pymc(caller):
    try:
        import pymc
    except ImportError as err:
        raise ImportError(f"{caller} needs PyMC (pip install -r "
                          f"benchmarks/requirements-baselines.txt): {err}") from err
    return pymc


def pymc_fit(runs, *, seed=0, num_chains=4, num_warmup=1000, num_samples=1000,
             target_accept=None, cores=2):
    """Fit `pymc_model` with PyMC's default ``pm.sample`` (NUTS, jitter+adapt_diag).

    ``pm.sample`` is called twice with the same settings (seeds ``seed`` and ``seed + 1``). The
    first call also compiles the model's C code into PyTensor's compile cache
    (``~/.pytensor`` unless ``PYTENSOR_FLAGS`` moves it), which the second reuses; both calls
    still rewrite the graph, start worker processes and convert the trace, costs PyMC pays on
    every fit. PyMC reports how long its chains alone took (``sampling_time``), so each call's
    overhead (wall time − that) is known, and compilation is the first call's overhead minus
    the second's: unlike "first call − second call", this does not mix in the difference
    between two seeds' sampling times, which for PyMC's short runs is several seconds.

    Parameters
    ----------
    runs : bayes_scaling.Runs
    seed : int
    num_chains, num_warmup, num_samples : int
    target_accept : float, optional
        None keeps PyMC's default (0.8).
    cores : int
        Worker processes (PyMC runs one chain per process).

    Returns
    -------
    dict
        As `blackjax_fit`, with ``compile_s`` = first call's overhead − second call's (near
        zero when PyTensor's cache already held this model), ``sampling_s`` = the second
        call's wall time, ``first_call_s``, and ``sampler_reported_s``, PyMC's own
        ``sampling_time`` of the second call (the chains alone, without set-up).

    Raises
    ------
    ImportError
        If PyMC is not installed.
    """
    pm = _import_pymc("pymc_fit")
    model = pymc_model(runs)
    options = {} if target_accept is None else {"target_accept": target_accept}

    def timed(random_seed):
        """(InferenceData, wall seconds, PyMC's own seconds of sampling the chains)."""
        start = time.perf_counter()
        with model:
            idata = pm.sample(draws=num_samples, tune=num_warmup, chains=num_chains, cores=cores,
                              random_seed=random_seed, progressbar=False, **options)
        wall_s = time.perf_counter() - start
        return idata, wall_s, float(idata.sample_stats.attrs["sampling_time"])

    _, first_s, first_sampling = timed(seed)
    idata, second_s, second_sampling = timed(seed + 1)
    return _idata_result(
        idata, compile_s=(first_s - first_sampling) - (second_s - second_sampling),
        sampling_s=second_s, first_call_s=first_s, sampler_reported_s=second_sampling,
        notes=f"pymc {pm.__version__}; pm.sample defaults (jitter+adapt_diag, diagonal mass "
              f"matrix, target_accept {target_accept or 0.8}), cores={cores}; first call "
              f"{first_s:.1f} s (chains {first_sampling:.1f} s), second {second_s:.1f} s "
              f"(chains {second_sampling:.1f} s); compile = difference of the overheads")


# -- nutpie ---------------------------------------------------------------------------------------
def nutpie_fit(runs, *, seed=0, num_chains=4, num_warmup=1000, num_samples=1000,
               target_accept=None, cores=2):
    """Fit `pymc_model` with nutpie (``compile_pymc_model``, numba backend, then ``sample``).

    Compilation (PyTensor graph to numba, then numba's LLVM compile) is a separate step in
    nutpie and is timed directly. ``nutpie.sample`` is then called twice (seeds ``seed`` and
    ``seed + 1``) and the second call is reported; the first is kept as ``first_call_s`` so a
    one-time cost left in it would show (measured: none beyond seed-to-seed variation).

    Parameters
    ----------
    runs : bayes_scaling.Runs
    seed : int
    num_chains, num_warmup, num_samples : int
    target_accept : float, optional
        None keeps nutpie's default (0.8).
    cores : int
        Chains run in parallel (threads).

    Returns
    -------
    dict
        As `blackjax_fit`, with ``compile_s`` = the ``compile_pymc_model`` time,
        ``sampling_s`` = the second ``nutpie.sample`` call, ``first_call_s`` = the first.

    Raises
    ------
    ImportError
        If nutpie, PyMC or numba is not installed.
    """
    _import_pymc("nutpie_fit")
    try:
        import numba  # noqa: F401  (nutpie's default backend; its absence fails late otherwise)
        import nutpie
    except ImportError as err:
        raise ImportError(f"nutpie_fit needs nutpie and numba (pip install -r "
                          f"benchmarks/requirements-baselines.txt): {err}") from err
    model = pymc_model(runs)
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - start
    options = {} if target_accept is None else {"target_accept": target_accept}

    def timed(sample_seed):
        start = time.perf_counter()
        idata = nutpie.sample(compiled, draws=num_samples, tune=num_warmup, chains=num_chains,
                              cores=cores, seed=sample_seed, progress_bar=False, **options)
        return idata, time.perf_counter() - start

    _, first_s = timed(seed)
    idata, second_s = timed(seed + 1)
    return _idata_result(
        idata, compile_s=compile_s, sampling_s=second_s, first_call_s=first_s,
        notes=f"nutpie {nutpie.__version__}; numba backend, sample defaults (diagonal mass "
              f"matrix from draws and gradients, target_accept {target_accept or 0.8}), "
              f"cores={cores}; compile = compile_pymc_model; sample calls {first_s:.1f} s "
              f"then {second_s:.1f} s (reported)")


# -- our engine, as the reference row of the script -----------------------------------------------
def ours_fit(runs, *, key, num_chains=4, num_warmup=1000, num_samples=1000, target_accept=0.9):
    """`bayes_scaling.fit` timed like the baselines (compile = first call − second call)."""
    config = bayes_scaling.SamplerConfig(num_chains=num_chains, num_warmup=num_warmup,
                                         num_samples=num_samples, target_accept=target_accept)
    k_first, k_second = jax.random.split(key)
    with warnings.catch_warnings():
        # The diagnostics gate may warn on short runs; the script reports ESS itself.
        warnings.simplefilter("ignore", bayes_scaling.ConvergenceWarning)
        start = time.perf_counter()
        bayes_scaling.fit(runs, key=k_first, config=config)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        post = bayes_scaling.fit(runs, key=k_second, config=config)
        second_s = time.perf_counter() - start
    return _idata_result(post.idata, compile_s=first_s - second_s, sampling_s=second_s,
                         first_call_s=first_s,
                         notes=f"bayes_scaling.fit (includes building the posterior and its "
                               f"diagnostics); calls {first_s:.1f} s then {second_s:.1f} s; "
                               f"compile = first call - second call")


# -- script ---------------------------------------------------------------------------------------
METHODS = {"ours": ours_fit, "blackjax": blackjax_fit, "pymc": pymc_fit, "nutpie": nutpie_fit}


def summarize(result):
    """Min bulk ESS over `PARAMS`, ESS per second of sampling, mean leapfrog steps, medians."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
        import arviz as az
    ess = az.ess(az.convert_to_dataset(result["draws"]), method="bulk")
    min_ess = min(float(ess[p]) for p in PARAMS)
    steps = result.get("num_steps")
    return {
        "min_ess_bulk": min_ess,
        "ess_per_s": min_ess / result["sampling_s"],
        "mean_leapfrog_steps": float(np.mean(steps)) if steps is not None else math.nan,
        "median": {p: float(np.median(result["draws"][p])) for p in PARAMS},
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--num-runs", type=int, default=245,
                        help="size of the simulated sweep (simulate(jax.random.key(0)))")
    parser.add_argument("--only", default=",".join(METHODS),
                        help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--no-ours", action="store_true", help="skip our engine's reference row")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    chosen = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(METHODS))
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    if args.no_ours and "ours" in chosen:
        chosen.remove("ours")
    runs = bayes_scaling.simulate(jax.random.key(0), num_runs=args.num_runs)
    settings = {"num_chains": args.chains, "num_warmup": args.warmup,
                "num_samples": args.samples}
    print(f"data: simulate(jax.random.key(0), num_runs={args.num_runs}); "
          f"{args.chains} chains x {args.warmup} warmup x {args.samples} draws; "
          f"{len(jax.local_devices())} JAX CPU device(s)", file=sys.stderr, flush=True)
    results, failures = {}, {}
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        seeding = {"key": jax.random.key(1)} if name in ("ours", "blackjax") else {"seed": 1}
        before = cpu_seconds()
        try:
            result = METHODS[name](runs, **seeding, **settings)
        except (ImportError, RuntimeError) as err:
            failures[name] = f"{type(err).__name__}: {err}"
            print(f"  unavailable: {failures[name]}", file=sys.stderr, flush=True)
            continue
        after = cpu_seconds()
        other = (max((after[0] - before[0]) - (after[1] - before[1]), 0.0)
                 if before and after else math.nan)
        results[name] = {**result, **summarize(result), "other_cpu_s": other}
        print(f"  {result['notes']}", file=sys.stderr, flush=True)

    if not results:
        for name, message in failures.items():
            print(f"{name}: not run ({message})")
        return 1
    rows = [[name, f"{r['compile_s']:.1f}", f"{r['sampling_s']:.1f}", f"{r['min_ess_bulk']:.0f}",
             f"{r['ess_per_s']:.1f}", f"{r['mean_leapfrog_steps']:.1f}", str(r["divergences"]),
             f"{r['other_cpu_s']:.0f}"]
            for name, r in results.items()]
    print(markdown_table(["method", "compile (s)", "sampling (s)", "min bulk ESS", "ESS/s",
                          "mean leapfrog/iter", "divergences", "other processes' CPU (core-s)"],
                         rows))
    print()
    from bayes_scaling.datasets import EPOCH_CHINCHILLA as truth  # simulate()'s default truth
    # The posterior sd (of the first method) is the yardstick for "medians close": with a few
    # hundred effective draws, medians of correct samplers differ by ~0.1 sd.
    first = next(iter(results.values()), None)
    print(markdown_table(["posterior median", "truth", "sd"] + list(results), [
        [p, f"{truth[p]:.4g}", f"{np.std(first['draws'][p]):.3g}"]
        + [f"{r['median'][p]:.4g}" for r in results.values()] for p in PARAMS]))
    for name, message in failures.items():
        print(f"\n{name}: not run ({message})")
    return 0 if results and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
