"""The reference baseline: Hoffmann et al.'s Huber grid fit and its bootstrap, against Epoch AI."""

import contextlib

import jax
import jax.monitoring
import numpy as np
import pytest
import scipy.special
import scipy.stats

import bayes_scaling as bs
from bayes_scaling.validation.baseline import (HOFFMANN_GRID, Bootstrap, bootstrap_predictive,
                                    huber_bootstrap, huber_fit, resample_weights)
from bayes_scaling.datasets import EPOCH_CHINCHILLA

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

PARAMS = ("E", "A", "alpha", "B", "beta")
# Besiroglu et al. 2024 (Epoch AI), data_analysis.ipynb: Hoffmann's grid + L-BFGS-B on the sum
# of Huber losses, and the bootstrap standard errors of their fit (4,000 resamples); see the
# dataset's PROVENANCE.md.
EPOCH_GRID_FIT = {"A": 477.8, "B": 2143.9, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
# SE and the unit of its last reported digit
EPOCH_SE = {"alpha": (0.0154, 1e-4), "beta": (0.0206, 1e-4), "E": (0.026, 1e-3)}
EPOCH_RESAMPLES = 4000
NUM_RESAMPLES = 500  # gives 11-16 % bands on the SEs (see test_bootstrap_standard_errors)


def subset(runs, index):
    return bs.Runs(N=runs.N[index], D=runs.D[index], C=runs.C[index], loss=runs.loss[index])


def as_start(fit):
    """A fit as a one-row grid (a, b, e, alpha, beta): a warm start that skips the full grid."""
    return np.array([[np.log(fit["A"]), np.log(fit["B"]), np.log(fit["E"]), fit["alpha"],
                      fit["beta"]]])


def huber_objective(params, runs, delta=1e-3):
    """Σ Huber(log L̂ − log L) by hand in NumPy, independently of the module."""
    law = (params["E"] + params["A"] * runs.N ** -params["alpha"]
           + params["B"] * runs.D ** -params["beta"])
    return float(np.sum(scipy.special.huber(delta, np.log(law) - np.log(runs.loss))))


@pytest.fixture(scope="module")
def epoch_runs(datasets_dir):
    runs = bs.load_dataset("chinchilla-epoch240", data_dir=datasets_dir)
    assert len(runs) == 240
    return runs


@pytest.fixture(scope="module")
def epoch_fit(epoch_runs):
    return huber_fit(epoch_runs)


@pytest.fixture(scope="module")
def epoch_boot(epoch_runs, epoch_fit):
    return huber_bootstrap(epoch_runs, key=jax.random.key(42), num_resamples=NUM_RESAMPLES,
                           fit=epoch_fit)


@pytest.mark.slow
def test_reproduces_epoch_grid_fit(epoch_runs, epoch_fit):
    """Hoffmann's grid on the 240 points gives Epoch's grid fit, and no start does better.

    Epoch's values have 4-5 significant digits, and their B is 2e-4 (relative) above the optimum
    found here, presumably where SciPy's L-BFGS-B stopped; 1e-3 covers both.
    """
    assert epoch_fit["converged"]
    for name, value in EPOCH_GRID_FIT.items():
        assert epoch_fit[name] == pytest.approx(value, rel=1e-3), name
    # The reported objective is the sum of Huber losses at the fit, and Epoch's rounded values
    # (or Hoffmann's published ones) are no better.
    assert epoch_fit["objective"] == pytest.approx(huber_objective(epoch_fit, epoch_runs),
                                                   rel=1e-9)
    hoffmann = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
    for other in (EPOCH_GRID_FIT, hoffmann):
        assert epoch_fit["objective"] <= huber_objective(other, epoch_runs)


def test_recovers_simulated_truth():
    """Runs simulated with tiny noise are fitted back to the truth.

    The noise scale 1e-4 is 75 times below the RMS residual of the Chinchilla fit (0.0075), so
    the estimates' spread is about Epoch's bootstrap SEs / 75: 2e-4 for alpha, 3e-4 for beta and
    E, 0.4 % for A and 0.8 % for B. The tolerances are five of those. Every 450th start of the
    grid is enough here (and shares its compiled program with the doctests); the full grid
    gives the same fit, and is exercised on Epoch's data above.
    """
    runs = bs.simulate(jax.random.key(3), num_runs=240, sigma=1e-4)
    fit = huber_fit(runs, grid=HOFFMANN_GRID[::450])
    truth = EPOCH_CHINCHILLA
    assert fit["converged"]
    assert fit["alpha"] == pytest.approx(truth["alpha"], abs=1e-3)
    assert fit["beta"] == pytest.approx(truth["beta"], abs=1.5e-3)
    assert fit["E"] == pytest.approx(truth["E"], abs=1.5e-3)
    assert fit["A"] == pytest.approx(truth["A"], rel=0.02)
    assert fit["B"] == pytest.approx(truth["B"], rel=0.04)


def test_bootstrap_shapes_and_reproducibility(epoch_runs, epoch_fit, epoch_boot):
    assert set(epoch_boot.draws) == {*PARAMS, "sigma"}
    for values in epoch_boot.draws.values():
        assert values.shape == (NUM_RESAMPLES,) and np.all(np.isfinite(values))
    assert epoch_boot.converged.shape == (NUM_RESAMPLES,) and epoch_boot.converged.all()
    assert epoch_boot.num_resamples == NUM_RESAMPLES and epoch_boot.delta == 1e-3
    for name in PARAMS:  # the warm start is the full-data fit, and the point fit is kept
        assert epoch_boot.point[name] == pytest.approx(epoch_fit[name], rel=1e-6)
    # σ_b: the RMS residual, by hand for the point fit
    law = (epoch_fit["E"] + epoch_fit["A"] * epoch_runs.N ** -epoch_fit["alpha"]
           + epoch_fit["B"] * epoch_runs.D ** -epoch_fit["beta"])
    rms = np.sqrt(np.mean((np.log(law) - np.log(epoch_runs.loss)) ** 2))
    assert epoch_boot.point["sigma"] == pytest.approx(rms, rel=1e-6)

    again = huber_bootstrap(epoch_runs, key=jax.random.key(42), num_resamples=NUM_RESAMPLES,
                            fit=epoch_fit)
    other = huber_bootstrap(epoch_runs, key=jax.random.key(43), num_resamples=NUM_RESAMPLES,
                            fit=epoch_fit)
    for name, values in epoch_boot.draws.items():
        np.testing.assert_array_equal(again.draws[name], values)
        assert not np.array_equal(other.draws[name], values)


@pytest.mark.slow
def test_bootstrap_standard_errors(epoch_boot):
    """Bootstrap SEs on the 240 points agree with Epoch's, within their Monte Carlo error.

    The SD of R draws has relative standard error sqrt((κ − 1) / 4R), κ the draws' kurtosis.
    Ours (R = 500) and Epoch's (R = 4,000) give a combined error of 3-4 %; the band is four of
    those, plus half a unit of the last digit Epoch reports (0.026 for E is ±1.9 %).
    """
    summary = epoch_boot.summary()
    for name, (reported, digit) in EPOCH_SE.items():
        kurtosis = scipy.stats.kurtosis(epoch_boot.draws[name], fisher=False)
        mc = np.sqrt((kurtosis - 1) / 4 * (1 / NUM_RESAMPLES + 1 / EPOCH_RESAMPLES))
        band = 4 * mc + 0.5 * digit / reported
        se = summary.loc[name, "se"]
        assert abs(se / reported - 1) <= band, f"{name}: SE {se:.4f}, Epoch {reported} ± {band:.0%}"


def test_weights_really_resample(epoch_runs, epoch_fit, epoch_boot):
    """Count weights are resampling: a resample's fit is the fit of the runs it drew, explicit
    weights give the key's fits, and 0/1 weights fit the subset they select.

    Both sides of each comparison run the same BFGS from the same start on the same objective,
    up to the order of summation; rounding moves the flat (log B, beta) direction by ~1e-7.
    """
    n = len(epoch_runs)
    counts = resample_weights(jax.random.key(42), n, NUM_RESAMPLES)  # the fixture's resamples
    assert (counts[0] == 0).any() and (counts[0] > 1).any()
    drawn = huber_fit(subset(epoch_runs, np.repeat(np.arange(n), counts[0].astype(int))),
                      grid=as_start(epoch_fit))
    for name in PARAMS:
        assert epoch_boot.draws[name][0] == pytest.approx(drawn[name], rel=1e-5), name

    chosen = np.sort(np.random.default_rng(0).choice(n, size=160, replace=False))
    weights = counts.copy()
    weights[0] = np.isin(np.arange(n), chosen)
    boot = huber_bootstrap(epoch_runs, weights=weights, fit=epoch_fit)
    for name in (*PARAMS, "sigma"):
        np.testing.assert_allclose(boot.draws[name][1:], epoch_boot.draws[name][1:], rtol=1e-9)
    on_subset = huber_fit(subset(epoch_runs, chosen), grid=as_start(epoch_fit))
    assert on_subset["converged"] and boot.converged.all()
    for name in PARAMS:
        assert boot.draws[name][0] == pytest.approx(on_subset[name], rel=1e-5), name
    assert abs(on_subset["A"] / epoch_fit["A"] - 1) > 0.05  # a fit of its own, not the start


@contextlib.contextmanager
def compilations():
    """Count the programs XLA compiles inside the block (jitted functions and eager operations),
    checking first that the count sees a compilation (a fresh function always compiles)."""
    count = [0]

    def listen(event, duration, **kwargs):
        count[0] += event == "/jax/core/compile/backend_compile_duration"

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        jax.jit(lambda x: x + 1)(0)
        assert count == [1], "no longer sees compilations: JAX renamed its event?"
        count[0] = 0
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def test_other_numbers_of_runs_reuse_the_compiled_fit():
    """Runs are padded with zero weight to a bucket (a power of two): a fit and a bootstrap of
    380 or 450 runs compile nothing after those of 300 (all three pad to 512)."""
    runs = bs.simulate(jax.random.key(5), num_runs=450, sigma=1e-3)
    counts = []
    for size in (300, 380, 450):
        chosen = subset(runs, np.arange(size))
        weights = resample_weights(jax.random.key(size), size, 20)  # compiles per shape
        with compilations() as count:
            fit = huber_fit(chosen, grid=HOFFMANN_GRID[::450])
            boot = huber_bootstrap(chosen, weights=weights, fit=fit)
        counts.append(count[0])
        assert fit["converged"] and boot.converged.all()
    assert counts[1:] == [0, 0], counts


def test_padding_changes_no_fit():
    """Padded runs have weight zero: 60 runs (padded to 64 with copies of the first) have the
    objective and residual scale of those 60 by hand, and the optimum they have as a 0/1
    resample of 300 runs (240 more at weight zero, padded to 512)."""
    runs = bs.simulate(jax.random.key(4), num_runs=300, sigma=1e-3)
    first = subset(runs, np.arange(60))
    fit = huber_fit(first, grid=HOFFMANN_GRID[::450])
    assert fit["converged"]
    # Float64 sums of 60 non-negative terms differ by rounding only (~1e-14); 1e-9 as in
    # test_reproduces_epoch_grid_fit leaves room for NumPy's and XLA's exp and log.
    assert fit["objective"] == pytest.approx(huber_objective(fit, first), rel=1e-9)
    boot = huber_bootstrap(runs, weights=(np.arange(300) < 60)[None] * 1.0, fit=fit)
    assert boot.converged.all()
    # The same BFGS from the same start on the same objective, summed in another order: as in
    # test_weights_really_resample, rounding moves the flat directions by ~1e-7.
    drawn = {name: boot.draws[name][0] for name in (*PARAMS, "sigma")}
    for name in PARAMS:
        assert drawn[name] == pytest.approx(fit[name], rel=1e-5), name
    law = (drawn["E"] + drawn["A"] * first.N ** -drawn["alpha"]
           + drawn["B"] * first.D ** -drawn["beta"])
    rms = np.sqrt(np.mean((np.log(law) - np.log(first.loss)) ** 2))
    assert drawn["sigma"] == pytest.approx(rms, rel=1e-9)


def test_predictive_draws(epoch_boot):
    N, D = np.array([7e10, 1e9, 4e8]), np.array([1.4e12, 2e10, 8e9])
    expected, observed = bootstrap_predictive(epoch_boot, N, D, key=jax.random.key(0))
    assert expected.shape == observed.shape == (NUM_RESAMPLES, 3)
    # The curve is the project's Chinchilla law at each resample's parameters.
    law = bs.LAWS["chinchilla"]
    d = {name: epoch_boot.draws[name][:, None] for name in PARAMS}
    by_law = np.asarray(law.log_loss(d, {"N": np.log(N)[None], "D": np.log(D)[None]}))
    np.testing.assert_allclose(expected, by_law, rtol=1e-6)
    # The observation noise is Normal(0, σ_b): 1,500 standardised draws have mean 0 ± 0.026
    # and SD 1 ± 0.018 (one standard error); allow four.
    z = (observed - expected) / epoch_boot.draws["sigma"][:, None]
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.std() - 1) < 4 / np.sqrt(2 * z.size)
    again = bootstrap_predictive(epoch_boot, N, D, key=jax.random.key(0))
    np.testing.assert_array_equal(again[1], observed)
    # At Chinchilla's own size (70B parameters, 1.4T tokens) the resamples centre on the loss
    # that Epoch's grid fit predicts there, 1.973.
    assert np.median(np.exp(expected[:, 0])) == pytest.approx(1.973, abs=0.005)


@pytest.mark.parametrize("x64", [False, True])
def test_float64_whatever_the_global_setting(x64):
    """The fit runs in float64 inside the call and leaves the user's setting as it was."""
    runs = bs.simulate(jax.random.key(0), num_runs=240, sigma=1e-3)  # as in the doctests
    with jax.enable_x64(x64):
        fit = huber_fit(runs, grid=HOFFMANN_GRID[::450])
        assert jax.numpy.zeros(1).dtype == (np.float64 if x64 else np.float32)
    reference = huber_fit(runs, grid=HOFFMANN_GRID[::450])
    assert fit == reference and fit["converged"]


def test_resamples_whatever_the_global_setting():
    with jax.enable_x64(True):
        wide = resample_weights(jax.random.key(0), 240, NUM_RESAMPLES)
    with jax.enable_x64(False):
        narrow = resample_weights(jax.random.key(0), 240, NUM_RESAMPLES)
    np.testing.assert_array_equal(wide, narrow)


def too_few_runs(count):
    N = np.geomspace(1e8, 1e10, count)
    D = 20 * N
    return bs.Runs(N=N, D=D, C=6 * N * D, loss=1.8 + 400 * N ** -0.34 + 400 * D ** -0.28)


@pytest.mark.parametrize("call", [
    lambda runs: huber_fit(runs),
    lambda runs: huber_bootstrap(runs, key=jax.random.key(0), num_resamples=10),
])
def test_too_few_runs(call):
    with pytest.raises(ValueError, match="too few runs: the Huber fit has 5 parameters .* got 4"):
        call(too_few_runs(4))


@pytest.mark.parametrize("kwargs, match", [
    ({"delta": 0.0}, "delta must be positive"),
    ({"grid": np.zeros((3, 4))}, r"grid must have shape \(starts, 5\)"),
    ({"grid": np.full((1, 5), np.nan)}, "grid must be finite"),
])
def test_bad_fit_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        huber_fit(too_few_runs(8), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "give either key .* or weights"),
    ({"key": jax.random.key(0), "weights": np.ones((2, 8))}, "not both"),
    ({"key": jax.random.key(0), "num_resamples": 0}, "num_resamples must be at least 1"),
    ({"weights": np.ones((2, 7))}, r"weights must have shape \(resamples, 8\)"),
    ({"weights": -np.ones((2, 8))}, "non-negative"),
    ({"weights": np.eye(8)[:2]}, "too few runs: resample 0 puts weight on fewer than 5"),
    ({"key": jax.random.key(0), "fit": {"E": 1.8}}, "fit must be a huber_fit result"),
    ({"key": jax.random.key(0), "fit": {**EPOCH_CHINCHILLA, "A": -1.0}}, "positive E, A, B"),
])
def test_bad_bootstrap_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        huber_bootstrap(too_few_runs(8), **kwargs)


def test_bootstrap_is_frozen():
    boot = Bootstrap(point={}, draws={}, converged=np.array([], bool), delta=1e-3)
    with pytest.raises(AttributeError):
        boot.delta = 1.0
