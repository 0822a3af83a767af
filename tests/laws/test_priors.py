"""Prior defaults, parsing, validation, and the prior predictive check."""

import jax
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.infer import Predictive

from bayes_scaling.laws.priors import (PriorError, check_priors, default_priors, describe_prior,
                                       parse_prior, parse_priors, read_prior_file)
from bayes_scaling.models import build_model, model_inputs

UNTRAINED_LM_LOSS = 12.0  # ≈ log(vocabulary) nats: no trained LM does worse


def test_parse_prior_forms():
    assert describe_prior(parse_prior("alpha=Beta(2, 5)")["alpha"]) == \
        "Beta(concentration1=2, concentration0=5)"
    assert describe_prior(parse_prior("A = LogNormal(loc=6, scale=2)")["A"]) == \
        "LogNormal(loc=6, scale=2)"
    assert parse_prior("nu=5") == {"nu": 5.0}


@pytest.mark.parametrize("spec, match", [
    ("alpha", "cannot read prior"), ("alpha=Betta(2,5)", "unknown distribution 'Betta'"),
    ("alpha=Beta(2)", "invalid arguments for Beta"), ("alpha=Beta(2,x)", "'x' is not a number"),
    ("sigma=HalfNormal(-1)", "invalid arguments"), ("E=abc", "'abc' is not a number")])
def test_parse_prior_errors(spec, match):
    with pytest.raises(PriorError, match=match):
        parse_prior(spec)


def test_duplicate_and_file(tmp_path):
    with pytest.raises(PriorError, match="given twice"):
        parse_priors(["nu=5", "nu=4"])
    path = tmp_path / "priors.txt"
    path.write_text("# my priors\nalpha = Beta(2,5)  # tight\n\nnu=7\n")
    assert sorted(read_prior_file(path)) == ["alpha", "nu"]
    path.write_text("alpha=Beta(2,5)\nbeta=Nope(1)\n")
    with pytest.raises(PriorError, match=r"priors.txt, line 2: .*unknown distribution"):
        read_prior_file(path)


@pytest.mark.parametrize("name, prior, match", [
    ("sigma", -1.0, "fixed sigma=-1.0 must be positive"),
    ("nu", 0.0, "fixed nu=0.0 must be positive"),
    ("E", -0.5, "fixed E=-0.5 must be zero or positive"),
    ("sigma", dist.Normal(0, 1), "prior for 'sigma' must put all its mass on positive values"),
    ("E", dist.Normal(2, 1), "prior for 'E' must put all its mass on positive values")])
def test_priors_outside_a_parameters_support(sim_runs, name, prior, match):
    priors = {**default_priors("chinchilla", sim_runs), name: prior}
    with pytest.raises(PriorError, match=match):
        check_priors("chinchilla", priors, "student_t")


def test_unbalanced_parentheses():
    with pytest.raises(PriorError, match="unbalanced parentheses"):
        parse_prior("alpha=Beta(2,5")


def test_check_priors(sim_runs):
    priors = default_priors("chinchilla", sim_runs)
    check_priors("chinchilla", priors, "student_t")
    with pytest.raises(PriorError, match=r"unknown parameter\(s\) \['gamma'\]"):
        check_priors("chinchilla", {**priors, "gamma": dist.Normal()}, "student_t")
    with pytest.raises(PriorError, match=r"no prior for parameter\(s\) \['nu'\]"):
        check_priors("chinchilla", {k: v for k, v in priors.items() if k != "nu"}, "student_t")
    with pytest.raises(PriorError, match="prior for 'A' must put all its mass on positive"):
        check_priors("chinchilla", {**priors, "A": dist.Normal(0, 1)}, "student_t")
    with pytest.raises(PriorError, match="unknown parameter"):
        check_priors("chinchilla", priors, "normal")  # nu has no place in a Normal likelihood


def test_prior_predictive_is_plausible(sim_runs):
    """Default priors put realistic runs' losses in a plausible range (not at 1e6 nats)."""
    model = build_model("chinchilla", default_priors("chinchilla", sim_runs))
    draws = Predictive(model, num_samples=4000)(jax.random.key(3), model_inputs(sim_runs))
    # Quantiles of log-loss: the prior's Student-t noise (σ up to 0.3, ν from 2) has tails far
    # beyond any real loss, which says nothing about the bulk.
    log_loss = np.asarray(draws["log_loss"], np.float64)
    observed = np.median(sim_runs.loss)
    assert observed / 3 < np.exp(np.median(log_loss)) < 3 * observed
    assert np.mean(log_loss < np.log(UNTRAINED_LM_LOSS)) > 0.6
    assert np.exp(np.quantile(log_loss, 0.99)) < 1e3
