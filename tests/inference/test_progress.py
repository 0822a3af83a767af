"""The progress display: stages and counts, one bar for a batch, Jupyter and terminal."""

import re
import sys

import jax
import numpy as np
import pytest
from tqdm import std as tqdm_std

import bayes_scaling as bs
from bayes_scaling.emergence.fit import fit_emergence
from bayes_scaling.emergence.simulate import simulate_scores
from bayes_scaling.inference import progress
from bayes_scaling.inference.progress import report, tracking
from bayes_scaling.inference.sampler import SamplerConfig, settled
from bayes_scaling.validation.backtest import rolling_backtest

# Short runs on purpose: these tests look at the bar, not at the posterior.
pytestmark = pytest.mark.filterwarnings("ignore::bayes_scaling.ConvergenceWarning")


def test_bar_shows_stage_and_finished_chains():
    with tracking(total_chains=3, iterations=20, warmup=10, label="NUTS 3 chains",
                  enabled=True) as bar:
        assert bar.desc == "NUTS 3 chains: compiling"
        report(0, 4)
        assert (bar.n, bar.desc) == (5, "NUTS 3 chains: warmup, 0/3 chains done")
        report(0, 19)
        report(np.array([1, 2]), np.array([14, 19]))  # vectorised chains report together
        assert (bar.n, bar.desc) == (55, "NUTS 3 chains: sampling, 2/3 chains done")
    with tracking(total_chains=4, iterations=10, warmup=5, label="2 fits", enabled=True,
                  chains_per_fit=2) as bar:
        report(np.arange(3), np.full(3, 9))
        assert bar.desc == "2 fits: sampling, 1/2 fits done"


def test_no_bar_unless_enabled_or_watched(capsys):
    with tracking(total_chains=1, iterations=5, warmup=2, label="x", enabled=False) as bar:
        report(0, 4)  # the sampler's callback is harmless without a bar
    assert bar is None and capsys.readouterr().err == ""
    # Under pytest stderr is captured: not a terminal, not Jupyter, so "auto" means off.
    assert settled(SamplerConfig()).progress_bar is False
    assert settled(SamplerConfig(progress_bar=True)).progress_bar is True


def test_notebook_without_widgets_falls_back_to_text(monkeypatch):
    """In Jupyter without ipywidgets tqdm's widget raises ImportError; the bar becomes text on
    stderr (which Jupyter shows) instead of the fit failing."""
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets -> ImportError
    with tracking(total_chains=1, iterations=5, warmup=2, label="x", enabled=True) as bar:
        assert type(bar) is tqdm_std.tqdm


def test_fit_reports_every_iteration_of_every_chain(sim_runs, capsys):
    """Chains run one by one (on each of the host devices) and report through host callbacks;
    the bar reaches the total with every chain done."""
    config = SamplerConfig(num_chains=4, num_warmup=150, num_samples=101, progress_bar=True)
    bs.fit(sim_runs, key=jax.random.key(0), config=config)
    err = capsys.readouterr().err
    assert "NUTS 4 chains: compiling" in err
    assert re.search(r"NUTS 4 chains: sampling, 4/4 chains done: 100%.*1004/1004", err), err[-500:]


def test_batch_has_one_bar_over_all_fits(sim_runs, capsys):
    config = SamplerConfig(num_chains=2, num_warmup=100, num_samples=50, progress_bar=True)
    sizes = (60, 90, 120)
    data = [sim_runs.subset(np.arange(len(sim_runs)) < n) for n in sizes]
    bs.fit_many(data, key=jax.random.key(0), config=config)
    err = capsys.readouterr().err
    assert re.search(r"3 fits: sampling, 3/3 fits done: 100%.*900/900", err), err[-500:]
    assert "NUTS" not in err  # no bar per fit inside the batch's bar


def test_rolling_backtest_has_a_bar_over_its_cutoffs(sim_runs, capsys):
    config = SamplerConfig(num_chains=4, num_warmup=150, num_samples=101, progress_bar=True)
    rolling_backtest(sim_runs, key=jax.random.key(0),
                     holdout_fractions=(0.2, 0.4), config=config, num_resamples=20)
    err = capsys.readouterr().err
    assert re.search(r"backtest cutoffs: 100%.*2/2", err), err[-500:]
    assert "NUTS 4 chains: sampling, 4/4 chains done" in err  # each fit's own bar below it


def test_emergence_bar_counts_only_real_tasks(capsys):
    """Emergence pads 3 tasks to a bucket of 4 fits; the bar counts the 3."""
    scores, _ = simulate_scores(jax.random.key(0), num_tasks=3)
    config = SamplerConfig(num_chains=2, num_warmup=100, num_samples=50, target_accept=0.95,
                           progress_bar=True)
    fit_emergence(scores, key=jax.random.key(1), config=config)
    err = capsys.readouterr().err
    assert re.search(r"3 fits: sampling, 3/3 fits done: 100%.*900/900", err), err[-500:]
