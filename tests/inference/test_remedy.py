"""Remedies for a failed gate: which one for which failure, the time budget, and that the
default fit path uses them and says so."""

import dataclasses

import jax
import pytest

import bayes_scaling as bs
from bayes_scaling.inference import remedy
from bayes_scaling.inference.remedy import fit_with_remedies, next_remedy
from bayes_scaling.inference.sampler import SamplerConfig
from bayes_scaling.posterior import Diagnostics

PASSED = Diagnostics(True, (), 1.002, 2000.0, 1800.0, 0, 0.9)


def failed(*problems, divergences=0):
    return Diagnostics(False, problems, 1.02, 300.0, 350.0, divergences, 0.9)


def test_each_failure_gets_its_remedy():
    config = SamplerConfig()
    assert next_remedy(PASSED, config) is None
    step = next_remedy(failed("4 divergent transitions", divergences=4), config)
    assert step.config.target_accept == 0.967 and "4 divergent transitions" in step.reason
    ceiling = dataclasses.replace(config, target_accept=0.99)
    again = next_remedy(failed("4 divergent transitions", divergences=4), ceiling)
    assert again.config == ceiling and "another key" in again.reason  # at 0.99 already
    more = next_remedy(failed("4 divergent transitions", "min ESS 300 < 400", divergences=4),
                       ceiling)
    assert more.config.num_samples == 2000  # and the ESS too low: more draws
    lagging = next_remedy(failed("chain 2 adapted a step size 90x smaller than the median "
                                 "chain: ..."), config)
    assert lagging.config == config and "another key" in lagging.reason
    longer = next_remedy(failed("R-hat 1.02 > 1.01", "min ESS 300 < 400"), config)
    assert (longer.config.num_warmup, longer.config.num_samples) == (2000, 2000)
    assert longer.reason.startswith("R-hat 1.02 > 1.01; min ESS 300 < 400: refitted with twice")
    at_most = dataclasses.replace(config, num_samples=remedy.MAX_DRAWS_PER_CHAIN)
    assert next_remedy(failed("min ESS 300 < 400"), at_most) is None


class FakeFit:
    """Stands for a fit: its gate passes once the settings reach ``passes_at`` draws."""

    def __init__(self, passes_at):
        self.passes_at, self.keys = passes_at, []

    def __call__(self, config, key):
        self.keys.append(key)
        ok = config.num_samples >= self.passes_at
        return type("Fit", (), {"check": lambda _: PASSED if ok else failed("min ESS 300 < 400")})()


def test_remedies_are_tried_in_turn_with_new_keys_and_said():
    fake = FakeFit(passes_at=4000)
    post, notes = fit_with_remedies(fake, SamplerConfig(), jax.random.key(0))
    assert post.check().ok and len(fake.keys) == 3
    assert len({str(jax.random.key_data(k)) for k in fake.keys}) == 3  # every refit its own key
    assert notes[0].endswith("(2000 + 2000 per chain); the gate still failed")
    assert notes[1].endswith("(4000 + 4000 per chain); the gate passed")


def test_a_remedy_past_the_time_budget_is_not_started_and_said():
    fake = FakeFit(passes_at=4000)
    post, notes = fit_with_remedies(fake, SamplerConfig(), jax.random.key(0), budget_s=0.0)
    assert not post.check().ok and len(fake.keys) == 1
    assert notes == [notes[0]] and "past the 0 s budget" in notes[0]


def test_the_default_fit_remedies_and_records_it_an_explicit_config_does_not(sim_runs,
                                                                          monkeypatch):
    calls, warned = [], []

    def fake_fit_with_remedies(fit_once, config, key, budget_s):
        calls.append((config, budget_s))
        return fit_once(config, key), ["min ESS 300 < 400: refitted with twice the warmup and "
                                       "draws; the gate passed"]

    def fake_run_nuts(law, priors, runs, *, key, config, likelihood, dtype, warn=True,
                      predictive=True):
        warned.append(warn)
        return bs.Posterior.from_arrays(law=law, likelihood=likelihood, priors=priors,
                                        runs=runs, samples=SAMPLES, stats=STATS, loglik=None,
                                        config=config)

    monkeypatch.setattr(remedy, "fit_with_remedies", fake_fit_with_remedies)
    monkeypatch.setattr(remedy, "run_nuts", fake_run_nuts)
    with pytest.warns(bs.ConvergenceWarning):  # 2 x 10 fake draws: ESS far below 400
        post = bs.fit(sim_runs, key=jax.random.key(0), sweep_evidence=False)
    # Remedies decide; the gate is warned about once, by `fit`, after the last of them.
    assert calls == [(SamplerConfig(), remedy.REMEDY_BUDGET_S)] and warned == [False]
    assert post.remedies == ("min ESS 300 < 400: refitted with twice the warmup and draws; "
                             "the gate passed",)
    with pytest.warns(bs.ConvergenceWarning):
        explicit = bs.fit(sim_runs, key=jax.random.key(0), config=SamplerConfig(num_samples=10),
                          sweep_evidence=False)
    assert len(calls) == 1 and warned == [False, False] and explicit.remedies == ()


SAMPLES = {name: 1.0 + 0.1 * jax.random.uniform(jax.random.key(i), (2, 10))
           for i, name in enumerate(("E", "A", "B", "alpha", "beta", "sigma", "nu"))}
STATS = {"diverging": jax.numpy.zeros((2, 10), bool),
         "energy": jax.random.normal(jax.random.key(9), (2, 10)),
         "step_size": jax.numpy.ones((2, 10)), "num_steps": jax.numpy.ones((2, 10))}
