"""Remedies for a fit that fails the diagnostics gate, tried automatically within a time budget.

On real sweeps most failures of the default sampler are of three kinds, each with a standard
cure (Stan's and NumPyro's own advice):

- divergent transitions: the step size is too coarse for the posterior's curvature; refit with
  a higher ``target_accept`` (0.9 -> 0.97 -> 0.99), which adapts a smaller step; at 0.99
  already (the emergence model's default), divergences alone: refit from another key;
- one chain whose warmup settled in a narrow corner (a step size far smaller than the others'):
  refit from another key;
- R-hat just above 1.01, bulk or tail ESS below 400, or a low E-BFMI on a hard but healthy
  posterior: refit with twice the warmup and draws, which shrinks R-hat's own noise and
  multiplies the ESS.

`fit_with_remedies` applies them one at a time (at most `MAX_REMEDIES` refits, each from a new
key folded from the fit's), only while the estimated time stays within the budget, and says
what it did; a fit that still fails is reported as failing, with the remedies tried.

Example
-------
>>> from bayes_scaling.inference.sampler import SamplerConfig
>>> from bayes_scaling.posterior import Diagnostics
>>> failed = Diagnostics(False, ("3 divergent transitions",), 1.003, 900.0, 800.0, 3, 0.8)
>>> remedy = next_remedy(failed, SamplerConfig())
>>> remedy.config.target_accept, remedy.reason
(0.967, '3 divergent transitions: refitted with target_accept 0.967 (smaller steps)')
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import jax

from ..laws.priors import default_priors
from ..posterior import GATE
from .sampler import SamplerConfig, run_nuts

__all__ = ["Remedy", "next_remedy", "fit_with_remedies", "fit_runs", "REMEDY_BUDGET_S",
           "MAX_REMEDIES"]

REMEDY_BUDGET_S = 120.0  # wall time a fit may take in all, remedies included, before giving up
MAX_REMEDIES = 2
MAX_TARGET_ACCEPT = 0.99
MAX_DRAWS_PER_CHAIN = 8000
REMEDY_STREAM = 1000  # fold_in(key, 1000 + attempt): each refit's key, apart from the first fit's
LAGGING = "adapted a step size"  # the gate's words for a chain stuck in a corner


class Remedy(NamedTuple):
    """The settings of the next attempt and why, in words."""

    config: object
    reason: str


def next_remedy(diagnostics, config):
    """The remedy for the first problem of a failed gate that has one, or None.

    Parameters
    ----------
    diagnostics : posterior.Diagnostics
    config : inference.sampler.SamplerConfig
        The settings that failed.

    Returns
    -------
    Remedy or None
        None when the gate passed or nothing more can be tried (target_accept already at
        0.99, draws already at `MAX_DRAWS_PER_CHAIN`).
    """
    if diagnostics.ok:
        return None
    if diagnostics.divergences > GATE["divergences"] and config.target_accept < MAX_TARGET_ACCEPT:
        target = round(min(MAX_TARGET_ACCEPT, 1 - (1 - config.target_accept) / 3), 3)
        return Remedy(dataclasses.replace(config, target_accept=target),
                      f"{diagnostics.divergences} divergent transitions: refitted with "
                      f"target_accept {target:g} (smaller steps)")
    if any(LAGGING in problem for problem in diagnostics.problems):
        return Remedy(config, "a chain's warmup settled in a narrow corner of the posterior: "
                              "refitted from another key")
    if diagnostics.divergences > GATE["divergences"] and all(
            "divergent" in problem for problem in diagnostics.problems):
        # Divergences alone at the highest acceptance: more draws would only meet more of
        # them; a few are often chance (a rate of one in 4,000 leaves none in a refit 37% of
        # the time, in one of twice the length 13%).
        return Remedy(config, f"{diagnostics.divergences} divergent transitions at "
                              f"target_accept {config.target_accept:g}: refitted from another key")
    if 2 * config.num_samples <= MAX_DRAWS_PER_CHAIN:
        what = "; ".join(p for p in diagnostics.problems if "divergent" not in p)
        warmup, samples = 2 * config.num_warmup, 2 * config.num_samples
        return Remedy(dataclasses.replace(config, num_warmup=warmup, num_samples=samples),
                      f"{what or 'the gate failed'}: refitted with twice the warmup and draws "
                      f"({warmup} + {samples} per chain)")
    return None


def fit_with_remedies(fit_once, config, key, budget_s=REMEDY_BUDGET_S,
                      max_remedies=MAX_REMEDIES):
    """Fit, and while the gate fails and a remedy fits in the time budget, refit with it.

    Parameters
    ----------
    fit_once : callable
        ``fit_once(config, key)`` returns a `Posterior` (without warning about the gate).
    config : SamplerConfig
    key : jax.random key
        The first fit's key; refit ``i`` uses ``fold_in(key, REMEDY_STREAM + i)``.
    budget_s : float
        Wall time in seconds for all attempts together; a refit whose estimated time (the last
        fit's, scaled by its iterations) would pass it is not started, and that is said.
    max_remedies : int

    Returns
    -------
    tuple
        ``(posterior, notes)``: the last fit, and one line per remedy tried (empty when the
        first fit passed).
    """
    start = time.perf_counter()
    post, notes = fit_once(config, key), []
    last_took = time.perf_counter() - start
    for attempt in range(1, max_remedies + 1):
        remedy = next_remedy(post.check(), config)
        if remedy is None:
            break
        scale = ((remedy.config.num_warmup + remedy.config.num_samples)
                 / (config.num_warmup + config.num_samples))
        elapsed = time.perf_counter() - start
        if elapsed + last_took * scale > budget_s:
            notes.append(f"not tried ({remedy.reason.split(':')[0]}): a refit would take about "
                         f"{last_took * scale:.0f} s, past the {budget_s:g} s budget")
            break
        config, began = remedy.config, time.perf_counter()
        post = fit_once(config, jax.random.fold_in(key, REMEDY_STREAM + attempt))
        last_took = time.perf_counter() - began
        outcome = "the gate passed" if post.check().ok else "the gate still failed"
        notes.append(f"{remedy.reason}; {outcome}")
    return post, notes


def fit_runs(law, runs, *, key, priors=None, likelihood="student_t", config=None, dtype=None,
             remedy=None, remedy_budget_s=REMEDY_BUDGET_S, predictive=True):
    """NUTS on loaded runs with the law's default priors (``priors`` override them by name),
    and the remedies when asked: the sampling part of `api.fit`, without its warning.

    Parameters
    ----------
    law : Law
    runs : Runs
    key : jax.random key
    priors, likelihood, config, dtype, remedy, remedy_budget_s
        As for `api.fit` (``remedy`` None: on with the default settings, off with your own).
    predictive : bool
        As for `inference.sampler.run_nuts`.

    Returns
    -------
    Posterior
        With ``remedies`` recorded when they were on; it does not warn about the gate.
    """
    chosen = {**default_priors(law, runs, likelihood), **(priors or {})}
    if not (config is None if remedy is None else remedy):
        return run_nuts(law, chosen, runs, key=key, config=config or SamplerConfig(),
                        likelihood=likelihood, dtype=dtype, warn=False, predictive=predictive)

    def fit_once(settings, fit_key):
        return run_nuts(law, chosen, runs, key=fit_key, config=settings,
                        likelihood=likelihood, dtype=dtype, warn=False, predictive=predictive)

    post, notes = fit_with_remedies(fit_once, config or SamplerConfig(), key, remedy_budget_s)
    post.record_remedies(notes)
    return post
