"""Law comparison: LOO and the backtest side by side pick the law that generated the data."""

import os
import shutil
import subprocess
import warnings

import jax
import pytest

import bayes_scaling as bs
from bayes_scaling.validation.compare import STATEMENT, compare_laws

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical


@pytest.fixture(scope="module")
def chinchilla_runs():
    """120 Chinchilla-like runs (Epoch AI's refit): tokens per parameter vary 2-200, so a law
    of N alone misses the D dependence the data carry."""
    return bs.simulate(jax.random.key(0), num_runs=120)


def test_the_true_law_wins_by_loo_and_by_backtest(chinchilla_runs):
    with warnings.catch_warnings():
        # The misspecified law's fits may fail the gate (a law of N alone against data that
        # vary in D): that warns, and the table says so in fit_ok / backtest_ok.
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        table = compare_laws(chinchilla_runs, ["power_N", "chinchilla"], key=jax.random.key(1),
                             config=bs.SamplerConfig(num_chains=4, num_warmup=500,
                                                     num_samples=1000))
    print(table.to_string())
    assert list(table["law"]) == ["chinchilla", "power_N"]  # best ELPD first
    best, other = table.iloc[0], table.iloc[1]
    assert best["elpd_diff"] == 0 and other["elpd_diff"] < -4 * max(best["elpd_se"],
                                                                     other["elpd_se"])
    assert best["backtest_rel_error"] < other["backtest_rel_error"]
    assert best["fit_ok"] and best["backtest_ok"]
    assert table["runs_bad_k"].between(0, len(chinchilla_runs)).all()


def test_laws_must_differ(chinchilla_runs):
    with pytest.raises(ValueError, match="each law once"):
        compare_laws(chinchilla_runs, ["chinchilla", "chinchilla"], key=jax.random.key(0))
    with pytest.raises(ValueError, match="unknown law 'chinchila'"):
        compare_laws(chinchilla_runs, ["chinchila", "power_N"], key=jax.random.key(0))


def test_cli_bad_laws_exit_2(tmp_path, chinchilla_runs):
    chinchilla_runs.to_frame().to_csv(tmp_path / "runs.csv", index=False)
    exe = shutil.which("bayes-scaling")
    env = {**os.environ, "XLA_FLAGS": ""}
    for laws, message in (("chinchilla", "--laws needs two or more laws"),
                          ("chinchilla,kaplann", "unknown law 'kaplann'")):
        out = subprocess.run([exe, "compare", "runs.csv", "--laws", laws], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and message in out.stderr, out.stderr[-2000:]
    assert "interpolation" in STATEMENT and "extrapolation" in STATEMENT
