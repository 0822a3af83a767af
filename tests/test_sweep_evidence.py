"""A fit's own evidence about κ: the split by compute, the internal backtest `fit` runs, what
a fit without evidence says, and the evidence's round trip through a fit file."""

import dataclasses
import json
import warnings

import jax
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.discrepancy import (LOG_KAPPA_GRID, SweepEvidence, field_discrepancy,
                                       fit_evidence, resolve_discrepancy)
from bayes_scaling.errors import ConvergenceWarning
from bayes_scaling.laws.registry import get_law
from bayes_scaling.sweep_evidence import kappa_evidence, split_by_compute

from conftest import TEST_CONFIG

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical


def _runs_with_compute(C):
    C = np.asarray(C, dtype=float)
    N = np.sqrt(C / 6 / 20)
    return bs.Runs(N=N, D=C / (6 * N), C=C, loss=2 + 1 / np.log(C), lines=np.arange(len(C)) + 2)


def test_split_holds_out_the_largest_compute():
    runs = _runs_with_compute(np.logspace(18, 22, 10))
    train, held = split_by_compute(runs, holdout_top=0.2)
    assert len(held) == 2 and held.C.min() > train.C.max()
    assert list(held.lines) == [10, 11]  # line numbers travel with the runs


def test_split_never_divides_a_compute_budget():
    # three budgets of four runs each; within a budget C differs by < 10%
    C = np.concatenate([b * np.array([1.0, 1.02, 1.04, 0.97]) for b in (1e19, 1e20, 1e21)])
    train, held = split_by_compute(_runs_with_compute(C), holdout_top=0.2)
    assert len(held) == 4 and held.C.min() > 5e20 and train.C.max() < 2e20


def test_split_by_cutoff_flops():
    runs = _runs_with_compute(np.logspace(18, 22, 9))
    train, held = split_by_compute(runs, cutoff_flops=1e21)
    assert held.C.min() >= 1e21 > train.C.max() and len(train) + len(held) == 9


@pytest.mark.parametrize("options, message", [
    ({}, "one of them"),
    ({"holdout_top": 0.2, "cutoff_flops": 1e20}, "one of them"),
    ({"holdout_top": 1.5}, "fraction"),
    ({"cutoff_flops": -3.0}, "positive"),
    ({"cutoff_flops": 1e30}, "nothing to hold out"),
    ({"cutoff_flops": 1e18, "min_train": 7}, "leaves 3 training runs, fewer than the 7"),
])
def test_split_errors_are_clear(options, message):
    runs = _runs_with_compute(np.logspace(17, 22, 12))
    with pytest.raises(ValueError, match=message):
        split_by_compute(runs, **options)


def test_a_fit_keeps_its_evidence_in_its_file(sim_post, tmp_path):
    """`fit` gathers the evidence (the largest 20% by compute held out internally), the file
    keeps it, and the default κ read back from the file is the one of the fit in memory."""
    evidence = fit_evidence(sim_post)
    assert evidence.reason == "" and evidence.log_likelihood.shape == LOG_KAPPA_GRID.shape
    assert evidence.held_out >= 0.2 * len(sim_post.runs)
    path = tmp_path / "fit.nc"
    sim_post.save(path)
    again = resolve_discrepancy("sweep", bs.Posterior.load(path))
    assert again.values.tolist() == resolve_discrepancy("sweep", sim_post).values.tolist()
    assert "updated by an internal backtest" in again.origin()


def test_without_evidence_the_default_is_the_fields_and_says_why(sim_runs):
    """Too few runs for the internal backtest, or a fit asked to skip it: the default κ is the
    field's, and its origin names the reason (never silently the field's)."""
    field = field_discrepancy().values.tolist()
    few = sim_runs.subset(sim_runs.C <= np.sort(sim_runs.C)[7])
    with warnings.catch_warnings():  # 8 runs for 7 parameters: convergence is not the point
        warnings.simplefilter("ignore", ConvergenceWarning)
        post = bs.fit(few, key=jax.random.key(0), config=TEST_CONFIG)
    kappa = resolve_discrepancy("sweep", post)
    assert kappa.values.tolist() == field
    assert "no internal backtest" in kappa.origin() and "fewer than the 7" in kappa.origin()
    skipped = bs.fit(sim_runs, key=jax.random.key(0), config=TEST_CONFIG, sweep_evidence=False)
    kappa = resolve_discrepancy("sweep", skipped)
    assert kappa.values.tolist() == field and "sweep_evidence=False" in kappa.origin()


def test_an_internal_fit_that_fails_the_gate_is_no_evidence(sim_runs):
    """Forecasts from a fit that did not converge are no evidence about κ: 40 draws per chain
    cannot pass the gate's ESS of 400, so the evidence is refused, with the gate's words."""
    short = dataclasses.replace(TEST_CONFIG, num_warmup=40, num_samples=10)
    evidence = kappa_evidence(sim_runs, key=jax.random.key(0), law=get_law("chinchilla"),
                              config=short)
    assert evidence.log_likelihood is None and "failed the diagnostics gate" in evidence.reason


def test_evidence_scored_on_another_grid_is_not_used():
    stored = json.loads(SweepEvidence(np.zeros(len(LOG_KAPPA_GRID)), 12).to_json())
    assert SweepEvidence.from_json(stored).held_out == 12
    stored["grid"] = [-9.0, 0.0, 61]
    old = SweepEvidence.from_json(json.dumps(stored))
    assert old.log_likelihood is None and "another grid" in old.reason
