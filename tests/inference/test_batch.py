"""fit_many: one compiled program for many (ragged) data sets, equal in distribution to single fits."""

import os
import subprocess
import sys

import jax
import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.inference.batch import FitBatch
from bayes_scaling.laws.priors import describe_prior
from bayes_scaling.posterior import batch_diagnostics
from bayes_scaling.inference.sampler import batch_strategy, trace_count
from conftest import TEST_CONFIG

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

COMPARED = ("E", "alpha", "beta", "A", "B")


def _mean_and_error(draws, ess):
    """Posterior mean and its Monte Carlo standard error sd/sqrt(ESS)."""
    return draws.mean(), draws.std() / np.sqrt(ess)


def _assert_same_posterior(batch_draws, post):
    """Means agree within 4 combined Monte Carlo standard errors (fails by chance ~1e-4)."""
    summary = post.summary()
    for name, values in batch_draws.items():
        # A and B are summarised on the log scale, where their posteriors are near normal.
        transform = np.log if name in ("A", "B") else (lambda v: v)
        ess = min(summary.loc[name, "ess_bulk"], 1000.0)
        m1, e1 = _mean_and_error(transform(values), ess)
        m2, e2 = _mean_and_error(transform(post.draws([name])[name]), summary.loc[name, "ess_bulk"])
        assert abs(m1 - m2) <= 4 * np.hypot(e1, e2), (name, m1, m2, e1, e2)


@pytest.fixture(scope="module")
def small_runs():
    return bs.simulate(jax.random.key(7), num_runs=40)


@pytest.fixture(scope="module")
def batch(sim_runs, small_runs):
    before = trace_count()
    result = bs.fit_many([sim_runs, small_runs], key=jax.random.key(3), config=TEST_CONFIG,
                         names=["big", "small"])
    assert trace_count() - before == 1  # one program for the whole ragged batch
    return result


def test_fit_many_matches_one_by_one_fits(batch, sim_post, small_runs):
    """The 40-run set is padded to 245 runs and masked; both fits match unpadded single fits."""
    single_small = bs.fit(small_runs, key=jax.random.key(4), config=TEST_CONFIG)
    for i, post in enumerate([sim_post, single_small]):
        _assert_same_posterior({n: batch.draws([n])[n][i] for n in COMPARED}, post)
    table = batch.check()
    assert table["fit"].tolist() == ["big", "small"] and table["num_runs"].tolist() == [245, 40]
    assert table["ok"].all(), table["problems"].tolist()


def test_fit_batch_saves_and_loads(batch, tmp_path):
    """A loaded batch has the same draws, gate, runs and priors, and gives the same posteriors;
    one-fit files and batch files refuse to load as each other."""
    path = batch.save(tmp_path / "batch.nc")
    loaded = FitBatch.load(path)
    assert loaded.names == batch.names and loaded.law is batch.law
    for name, values in batch.samples.items():
        assert np.array_equal(loaded.samples[name], np.asarray(values)), name
    pd.testing.assert_frame_equal(loaded.check(), batch.check(), check_dtype=False)
    for before, after in zip(batch.runs, loaded.runs):
        assert len(after) == len(before) and np.array_equal(after.loss, before.loss)
        assert after.source == before.source and np.array_equal(after.lines, before.lines)
    for before, after in zip(batch.priors, loaded.priors):
        assert {k: describe_prior(v) for k, v in after.items()} == {
            k: describe_prior(v) for k, v in before.items()}
    pd.testing.assert_frame_equal(loaded[1].summary(), batch[1].summary())
    with pytest.raises(ValueError, match="FitBatch.load"):
        bs.Posterior.load(path)
    with pytest.raises(ValueError, match="holds one fit"):
        FitBatch.load(batch[0].save(tmp_path / "one.nc"))


def test_fit_many_reuses_its_program_and_gives_full_posteriors(batch, sim_runs, small_runs):
    before = trace_count()
    again = bs.fit_many([small_runs, sim_runs], key=jax.random.key(5), config=TEST_CONFIG)
    assert trace_count() == before  # same shapes, same law and settings: no new compile
    post = again[1]
    assert post.runs_table.shape[0] == 245 and post.check().ok
    np.testing.assert_allclose(post.draws(["alpha"])["alpha"], again.draws(["alpha"])["alpha"][1])
    summary = batch.summary(prob=0.9)
    row = summary[(summary["fit"] == "big") & (summary["param"] == "alpha")].iloc[0]
    assert row["q0.05"] < row["median"] < row["q0.95"]
    assert set(summary["param"]) >= set(COMPARED)


def test_fit_many_bad_input(sim_runs, small_runs):
    import numpyro.distributions as dist

    with pytest.raises(ValueError, match="at least one data set"):
        bs.fit_many([], key=jax.random.key(0))
    with pytest.raises(ValueError, match="2 prior dicts for 1 data sets"):
        bs.fit_many([sim_runs], key=jax.random.key(0), priors=[{}, {}])
    tiny = bs.Runs(N=sim_runs.N[:5], D=sim_runs.D[:5], C=sim_runs.C[:5], loss=sim_runs.loss[:5])
    with pytest.raises(ValueError, match="data set 1 .*5 runs are too few"):
        bs.fit_many([sim_runs, tiny], key=jax.random.key(0))
    with pytest.raises(ValueError, match="data set 1: its priors are not the same kinds"):
        bs.fit_many([sim_runs, small_runs], key=jax.random.key(0),
                    priors=[{}, {"alpha": dist.Uniform(0.0, 1.0)}])
    with pytest.raises(ValueError, match="strategy must be"):
        batch_strategy("pmap")
    with pytest.raises(ValueError, match="num_devices must be between 1 and the 2 local"):
        batch_strategy("auto", num_devices=3)


@pytest.mark.slow
def test_sharding_over_four_host_devices_gives_the_same_fits(tmp_path):
    """One device or four, fits one after another ("sequential") or in lockstep ("vectorized",
    the accelerator layout): the same posteriors. Not bit for bit: XLA compiles a loop over 3
    fits and over 1 fit per device differently, and NUTS amplifies rounding differences."""
    script = """
import jax, numpy as np, bayes_scaling as bs
assert len(jax.local_devices()) == 4
sets = [bs.simulate(jax.random.key(k), num_runs=n) for k, n in [(0, 30), (1, 45), (2, 60)]]
config = bs.SamplerConfig(num_chains=2, num_warmup=300, num_samples=400)
out = {}
for strategy, devices in [("sequential", 1), ("sequential", 4), ("vectorized", 4)]:
    batch = bs.fit_many(sets, key=jax.random.key(9), config=config, strategy=strategy,
                        num_devices=devices)
    out[f"{strategy}{devices}"] = np.stack(list(batch.draws(["E", "alpha", "beta"]).values()))
np.savez(OUT, **out)
"""
    out = tmp_path / "draws.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-W", "ignore", "-c",
                             script.replace("OUT", repr(str(out)))],
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    draws = np.load(out)
    one = draws["sequential1"]
    for other in (draws["sequential4"], draws["vectorized4"]):
        # same posterior: means within 4 standard errors (ESS taken as a quarter of the draws)
        error = np.hypot(one.std(axis=2), other.std(axis=2)) / np.sqrt(one.shape[2] / 4)
        assert np.all(np.abs(one.mean(axis=2) - other.mean(axis=2)) <= 4 * error)


def test_a_chain_that_did_not_move_fails_the_gate_without_numpy_warnings():
    """Zero variance within every chain makes R-hat undefined (numpy divides by zero inside
    ArviZ): the gate must fail and say why, and no RuntimeWarning may escape."""
    rng = np.random.default_rng(0)
    samples = {"a": rng.normal(size=(3, 2, 300)), "b": rng.normal(size=(3, 2, 300))}
    samples["a"][1, 0], samples["a"][1, 1] = 0.25, 0.5  # two stuck chains, apart: R-hat inf
    samples["a"][2] = 0.25  # both stuck at one value: R-hat NaN (and a perfect ESS)
    step_size = np.full((3, 2, 300), 0.02)
    step_size[1, 0] = 1e-4  # the stuck chain of "apart" adapted a collapsed step size
    stats = {"diverging": np.zeros((3, 2, 300), bool), "energy": rng.normal(size=(3, 2, 300)),
             "n_steps": np.full((3, 2, 300), 7), "step_size": step_size}
    table = batch_diagnostics(samples, stats, ["a", "b"], ["moving", "apart", "together"])
    assert list(table["ok"]) == [True, False, False]
    assert all("a chain did not move" in problems for problems in table["problems"][1:])
    assert "chain 0 adapted a step size 100x smaller" in table["problems"][1]
    assert "adapted a step size" not in table["problems"][2]


def test_batch_speaks_the_result_protocol(batch):
    """The verbs of Posterior: check() (a table), draws(names) (a dict), summary(); 0.1's
    diagnostics() and draws(name) still answer for one release, with a DeprecationWarning."""
    table = batch.check()
    assert list(table["fit"]) == batch.names and "ok" in table
    draws = batch.draws(["alpha", "beta"])
    assert set(draws) == {"alpha", "beta"} and draws["alpha"].shape[0] == len(batch)
    with pytest.warns(DeprecationWarning, match=r"now \.check\(\)"):
        assert batch.diagnostics() is table
    with pytest.warns(DeprecationWarning, match=r"draws\(\[name\]\)\[name\]"):
        np.testing.assert_array_equal(batch.draws("alpha"), draws["alpha"])
