"""NUTS fits: parameter recovery, no recompilation, chain layouts, precision, settings."""

import dataclasses
import json
import os
import subprocess
import sys

import arviz as az
import jax
import numpy as np
import pytest
from numpyro.infer.util import log_density

import bayes_scaling as bs
from bayes_scaling.datasets import EPOCH_CHINCHILLA
from bayes_scaling.laws.priors import default_priors
from bayes_scaling.inference.padding import pad_runs
from bayes_scaling.inference.sampler import SamplerConfig, chain_layout, trace_count
from bayes_scaling.models import build_model, model_inputs

from conftest import TEST_CONFIG

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

TRUTH = {**EPOCH_CHINCHILLA, "sigma": 0.01, "nu": 5.0}


def central_interval(post, name, prob=0.9):
    draws = post.draws([name])[name]
    return np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])


def test_recovery_truth_inside_90_percent_intervals(sim_post):
    """Every true parameter lies in its 90% interval (simulate key 0, fit key 1)."""
    assert sim_post.check().ok, sim_post.check().message()
    for name, value in TRUTH.items():
        lo, hi = central_interval(sim_post, name)
        assert lo <= value <= hi, f"{name}={value} outside 90% interval [{lo:.4g}, {hi:.4g}]"


@pytest.mark.slow
def test_low_noise_medians_within_two_percent():
    """With noise 100x smaller than realistic, posterior medians are within 2% of the truth."""
    runs = bs.simulate(jax.random.key(10), sigma=1e-4, nu=np.inf)
    post = bs.fit(runs, key=jax.random.key(11), likelihood="normal", config=TEST_CONFIG)
    assert post.check().ok, post.check().message()
    medians = {k: np.median(v) for k, v in post.draws(list(EPOCH_CHINCHILLA)).items()}
    for name, value in EPOCH_CHINCHILLA.items():
        assert medians[name] == pytest.approx(value, rel=0.02), name


def test_refit_same_shape_does_not_recompile(sim_post):
    """Other data of the same shape, hence other default-prior values too: no new trace."""
    before = trace_count()
    other = bs.simulate(jax.random.key(99), params={**EPOCH_CHINCHILLA, "E": 2.0})
    post = bs.fit(other, key=jax.random.key(2), config=TEST_CONFIG)
    assert trace_count() == before
    assert post.idata.posterior["E"].shape == (4, TEST_CONFIG.num_samples)


# About compiling, not convergence or LOO's reliability: the 50-run fit (500 warmup) has a
# divergence on some keys, and then a Pareto k above 0.7.
@pytest.mark.filterwarnings("ignore::bayes_scaling.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_fits_of_many_sizes_compile_at_most_twice():
    """Runs are padded to a bucket (inference.padding): 50-240 runs share one program, 500 a
    second; each fit keeps its own runs' pointwise log-likelihood, and LOO reads only those."""
    before = trace_count()
    for size in (50, 123, 200, 240, 500):
        runs = bs.simulate(jax.random.key(size), num_runs=size)
        post = bs.fit(runs, key=jax.random.key(1), config=TEST_CONFIG)
        assert post.idata.log_likelihood["log_loss"].shape == (4, TEST_CONFIG.num_samples, size)
        assert az.loo(post.idata).n_data_points == size
    assert trace_count() - before <= 2


# XLA compilations in this process, counted by JAX's own monitoring event.
COMPILES = {"count": 0}
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **_: COMPILES.update(
        count=COMPILES["count"] + (event == "/jax/core/compile/backend_compile_duration")))


@pytest.mark.filterwarnings("ignore::bayes_scaling.ConvergenceWarning")
def test_a_new_number_of_runs_compiles_nothing():
    """Within a bucket, a fit of another number of runs compiles no XLA program at all: not the
    sampler, and not the small programs around it (the replicated log-losses of the fit file,
    the κ likelihood). Each kept 1.5 MB, and compiled per size they grew the validation
    benchmark's memory by 0.06 GB a size."""
    fits = [bs.simulate(jax.random.key(size), num_runs=size) for size in (60, 61, 77)]
    bs.fit(fits[0], key=jax.random.key(1), config=TEST_CONFIG)
    before = COMPILES["count"]
    for runs in fits[1:]:
        post = bs.fit(runs, key=jax.random.key(1), config=TEST_CONFIG)
        assert post.idata.posterior_predictive["log_loss"].shape[-1] == len(runs)
    assert COMPILES["count"] == before


def test_padded_density_equals_the_unpadded_one(sim_runs):
    """The padding (copies of the first run, masked) changes neither the likelihood nor the
    centring of the coefficients: the model's log density at fixed parameters is the same."""
    runs = sim_runs.subset(np.arange(len(sim_runs)) < 37)
    model = build_model("chinchilla", default_priors("chinchilla", runs))
    x = model_inputs(runs)
    y = np.log(runs.loss)
    params = {"E": 1.7, "log_A_term": -0.3, "log_B_term": -0.5, "alpha": 0.33, "beta": 0.29,
              "sigma": 0.02, "nu": 6.0}
    exact, _ = log_density(model, (x, y, None), {}, params)
    padded, _ = log_density(model, pad_runs(x, y, 256), {}, params)
    np.testing.assert_allclose(float(padded), float(exact), rtol=1e-5)


def test_padded_fit_matches_the_exact_size_fit():
    """The same 60 runs fitted padded to 256 and compiled for exactly 60: same posterior."""
    runs = bs.simulate(jax.random.key(60), num_runs=60)
    padded = bs.fit(runs, key=jax.random.key(1), config=TEST_CONFIG)
    exact = bs.fit(runs, key=jax.random.key(2),
                   config=dataclasses.replace(TEST_CONFIG, pad_runs=False))
    assert padded.check().ok and exact.check().ok
    assert_same_posterior(padded, exact)


def assert_same_posterior(a, b):
    """Posterior means agree within 4 Monte Carlo standard errors of their difference."""
    names = ["E", "alpha", "beta", "sigma"]
    ess_a, ess_b = az.ess(a.idata, var_names=names), az.ess(b.idata, var_names=names)
    for name in names:
        x, y = a.draws([name])[name], b.draws([name])[name]
        se = np.sqrt(x.var() / float(ess_a[name]) + y.var() / float(ess_b[name]))
        assert abs(x.mean() - y.mean()) < 4 * se, name


def test_same_key_same_draws(sim_runs, sim_post):
    post = bs.fit(sim_runs, key=jax.random.key(1), config=TEST_CONFIG)
    np.testing.assert_array_equal(post.draws(["E"])["E"], sim_post.draws(["E"])["E"])


def test_chains_on_two_devices_match_one_device(sim_runs, sim_post):
    """Splitting chains over the 2 host devices changes only the compiled program's layout.

    NUTS is chaotic, so a different program gives different draws of the same posterior.
    """
    assert len(jax.local_devices()) == 2 and chain_layout(TEST_CONFIG) == ("sequential", 2)
    one_device = SamplerConfig(num_chains=4, num_warmup=500, num_samples=1000,
                               chain_method="sequential")
    assert chain_layout(one_device) == ("sequential", 1)
    post = bs.fit(sim_runs, key=jax.random.key(6), config=one_device)
    assert post.check().ok
    assert_same_posterior(post, sim_post)


@pytest.mark.slow
def test_vectorized_chains_agree_in_distribution(sim_runs, sim_post):
    """The accelerator layout (vmapped chains) gives the same posterior within Monte Carlo error."""
    config = SamplerConfig(num_chains=4, num_warmup=500, num_samples=1000,
                           chain_method="vectorized")
    post = bs.fit(sim_runs, key=jax.random.key(5), config=config)
    assert post.check().ok
    assert_same_posterior(post, sim_post)


def test_numpyro_kernel_gives_the_same_posterior_in_the_same_result(sim_runs, sim_post):
    """``SamplerConfig(kernel="numpyro")`` swaps the NUTS kernel and nothing else: the same
    posterior (within Monte Carlo error) in the same InferenceData, and the file says which ran."""
    numpyro = bs.fit(sim_runs, key=jax.random.key(7),
                     config=dataclasses.replace(TEST_CONFIG, kernel="numpyro"))
    assert numpyro.check().ok and sim_post.check().ok
    assert_same_posterior(numpyro, sim_post)
    for post, kernel in ((numpyro, "numpyro"), (sim_post, "builtin")):
        assert json.loads(post.idata.posterior.attrs["sampler"])["kernel"] == kernel
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data"):
        assert set(numpyro.idata[group].data_vars) == set(sim_post.idata[group].data_vars), group
        assert dict(numpyro.idata[group].sizes) == dict(sim_post.idata[group].sizes), group


def test_parallel_needs_devices():
    with pytest.raises(ValueError, match="chain_method='parallel' needs several local devices"):
        chain_layout(SamplerConfig(num_chains=3, chain_method="parallel"))


@pytest.mark.parametrize("kwargs, match", [
    ({"num_chains": 0}, "num_chains must be a positive integer"),
    ({"num_samples": 2.5}, "num_samples must be a positive integer"),
    ({"target_accept": 1.0}, "target_accept must be in"),
    ({"chain_method": "pmap"}, "chain_method must be one of"),
    ({"kernel": "hmc"}, "kernel must be one of")])
def test_bad_sampler_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplerConfig(**kwargs)


def test_too_few_runs_for_the_law(sim_runs):
    small = bs.Runs(N=sim_runs.N[:5], D=sim_runs.D[:5], C=sim_runs.C[:5], loss=sim_runs.loss[:5])
    with pytest.raises(ValueError, match="5 runs are too few to fit 7 parameters"):
        bs.fit(small, key=jax.random.key(0))


@pytest.mark.slow
def test_float64_fit_in_subprocess(tmp_path):
    """x64 must be switched on before JAX computes anything, hence a fresh process."""
    script = (
        "import jax, numpy as np, bayes_scaling as bs\n"
        "runs = bs.simulate(jax.random.key(0))\n"
        "post = bs.fit(runs, key=jax.random.key(1), config=bs.SamplerConfig("
        "num_chains=2, num_warmup=400, num_samples=400, chain_method='sequential'))\n"
        "assert post.idata.posterior.attrs['dtype'] == 'float64', post.idata.posterior.attrs\n"
        "lo, hi = np.quantile(post.draws(['alpha'])['alpha'], [0.05, 0.95])\n"
        "assert lo < 0.3478 < hi and post.check().divergences == 0\n"
        "print('ok')\n")
    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


@pytest.mark.slow
def test_compiled_program_is_the_same_in_every_process():
    """The lowered sampler must not depend on Python's hash seed, or JAX's persistent
    compilation cache never hits across processes (NumPyro orders distribution fields by set)."""
    script = (
        "import hashlib, jax, jax.numpy as jnp, bayes_scaling as bs\n"
        "from bayes_scaling.inference import sampler as inf\n"
        "from bayes_scaling.laws.priors import default_priors\n"
        "from bayes_scaling.models import model_inputs\n"
        "runs = bs.simulate(jax.random.key(0))\n"
        "spec, values = inf.split_priors(default_priors('chinchilla', runs), jnp.float32)\n"
        "config = inf.SamplerConfig()\n"
        "run = inf._compiled_sampler(bs.LAWS['chinchilla'], 'student_t', config,\n"
        "                            inf.chain_layout(config), True, spec)\n"
        "x, y = model_inputs(runs), jnp.log(jnp.asarray(runs.loss, jnp.float32))\n"
        "text = run.lower(jax.random.split(jax.random.key(1), 4), (x, y, None), values).as_text(\n"
        "    debug_info=False)\n"
        "print(hashlib.sha256(text.encode()).hexdigest())\n")
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed,
               "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_float32_fit_of_a_huge_table_warns_to_use_float64(monkeypatch):
    """Above FLOAT32_MAX_RUNS, float32 rounding of the log-likelihood slows NUTS ~3x: say so."""
    from bayes_scaling.inference import sampler

    class Stop(Exception):
        pass

    def no_sampling(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(sampler, "FLOAT32_MAX_RUNS", 100)
    monkeypatch.setattr(sampler, "_compiled_sampler", no_sampling)
    runs = bs.simulate(jax.random.key(0), num_runs=245)
    priors = default_priors("chinchilla", runs)
    with pytest.warns(sampler.PrecisionWarning, match="245 runs in float32"), \
            pytest.raises(Stop):
        sampler.sample_arrays("chinchilla", priors, runs, key=jax.random.key(0))


def test_import_lets_xla_compile_small_loops_whole():
    """`import bayes_scaling` puts the small-loop option into XLA_FLAGS before JAX starts, in a
    fresh process whose own flags it keeps."""
    script = ("import os, bayes_scaling, jax, jax.numpy as jnp\n"
              "jnp.zeros(1).block_until_ready()\n"
              "print(os.environ['XLA_FLAGS'])\n")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [
        "--xla_force_host_platform_device_count=3",
        "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000"]
