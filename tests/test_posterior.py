"""The diagnostics gate, the summary table and netCDF save/load."""

import os
import warnings

import arviz as az
import jax
import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.api import ScalingLawFit
from bayes_scaling import ConvergenceWarning, Posterior
from conftest import TEST_CONFIG

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical


def test_summary_table(sim_post):
    table = sim_post.summary()
    assert list(table.index) == ["E", "A", "alpha", "B", "beta", "sigma", "nu", "a", "b"]
    assert {"median", "mean", "sd", "q0.05", "q0.95", "r_hat", "ess_bulk", "ess_tail"} <= \
        set(table.columns)
    assert np.allclose(table.loc["a", "median"] + table.loc["b", "median"], 1.0, atol=1e-3)
    assert (table["q0.05"] <= table["median"]).all() and (table["median"] <= table["q0.95"]).all()


def test_gate_passes_and_metadata(sim_post):
    diagnostics = sim_post.check()
    assert sim_post.check() is diagnostics  # computed once per posterior
    assert diagnostics.ok and diagnostics.divergences == 0 and diagnostics.max_r_hat <= 1.01
    attrs = sim_post.attrs
    assert attrs["law"] == "chinchilla" and attrs["likelihood"] == "student_t"
    assert attrs["priors"]["sigma"] == "HalfNormal(scale=0.1)"
    assert attrs["sampler"]["num_chains"] == 4
    assert set(sim_post.idata.groups()) >= {"posterior", "sample_stats", "log_likelihood",
                                            "observed_data", "constant_data"}
    assert sim_post.idata.log_likelihood["log_loss"].shape == (4, TEST_CONFIG.num_samples, 245)


def test_arviz_own_checks_work_on_the_saved_fit(sim_post, tmp_path):
    """posterior_predictive and log_likelihood are in the file: az.plot_ppc, az.loo and
    az.compare run on it, and the replicated runs look like the observed ones."""
    import matplotlib

    matplotlib.use("Agg")
    path = tmp_path / "fit.nc"
    sim_post.save(path)
    idata = Posterior.load(path).idata
    replicated = idata.posterior_predictive["log_loss"].values
    assert replicated.shape == (4, TEST_CONFIG.num_samples, 245)
    observed = idata.observed_data["log_loss"].values
    lo, hi = np.quantile(replicated.reshape(-1, 245), [0.05, 0.95], axis=0)
    # In-sample predictive intervals cover at least their level on data from the model; 0.85
    # is 2.6 binomial standard deviations below 0.9 for 245 runs.
    assert np.mean((lo <= observed) & (observed <= hi)) >= 0.85
    assert np.isfinite(az.loo(idata).elpd_loo)
    with warnings.catch_warnings():  # arviz 0.23's own use of deprecated pandas/matplotlib
        warnings.filterwarnings("ignore", message="The inplace keyword")
        warnings.filterwarnings("ignore", message="Passing a dict or None as alias_mapping")
        assert len(az.compare({"a": idata, "b": idata})) == 2
        axes = az.plot_ppc(idata, num_pp_samples=20)
    assert axes is not None
    matplotlib.pyplot.close("all")


def test_unconverged_fit_warns_everywhere(sim_runs):
    """Too few draws for ESS ≥ 400: the fit, and every forecast from it, say so."""
    tiny = bs.SamplerConfig(num_chains=2, num_warmup=60, num_samples=40)
    with pytest.warns(ConvergenceWarning, match="DIAGNOSTICS GATE: .*min ESS"):
        post = bs.fit(sim_runs, key=jax.random.key(0), config=tiny)
    assert not post.check().ok
    with pytest.warns(ConvergenceWarning, match="forecasting from a fit that failed the gate"):
        bs.forecast(post, N=1e9, D=2e10, key=jax.random.key(0))


def test_save_load_round_trip_gives_identical_forecasts(sim_post, tmp_path):
    path = tmp_path / "fit.nc"
    sim_post.save(path)
    loaded = Posterior.load(path)
    key = jax.random.key(4)
    a = bs.forecast(sim_post, N=[7e10, 1e9], D=[1.4e12, 2e10], key=key)
    b = bs.forecast(loaded, N=[7e10, 1e9], D=[1.4e12, 2e10], key=key)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(sim_post.summary(), loaded.summary())
    assert loaded.attrs == sim_post.attrs


def test_save_never_overwrites_unless_forced(sim_post, tmp_path):
    path = tmp_path / "fit.nc"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        sim_post.save(path)
    assert path.read_text() == "precious"
    sim_post.save(path, force=True)
    assert Posterior.load(path).law.name == "chinchilla"
    assert os.listdir(tmp_path) == ["fit.nc"]  # no partial files left behind
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such fit file"):
        Posterior.load(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    with pytest.raises(ValueError, match="not a bayes_scaling fit file"):
        Posterior.load(junk)


def test_scaling_law_fit_facade(sim_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ScalingLawFit(num_warmup=500, num_samples=1000).fit(sim_runs,
                                                                      key=jax.random.key(1))
    assert model.diagnostics_.ok and model.idata_ is model.posterior_.idata
    assert model.summary().loc["alpha", "median"] == pytest.approx(0.35, abs=0.03)
    table = model.forecast(N=7e10, D=1.4e12)
    assert set(table["quantity"]) == {"expected", "observed"}


def test_noise_at_its_floor_is_said(sim_post, monkeypatch):
    """ν pressed against its floor of 2 passes the gate but means outliers: a note says so;
    a fit whose ν is free says nothing."""
    assert sim_post.outlier_note() is None
    draws = sim_post.draws
    monkeypatch.setattr(sim_post, "draws", lambda names=None: {
        **draws(names), "nu": np.full(4, 2.003)})
    note = sim_post.outlier_note()
    assert note.startswith("the noise's degrees of freedom ν sit at their floor of 2 "
                           "(median 2)") and "--kind residuals" in note
