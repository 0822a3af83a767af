"""Simulation-based calibration (SBC) of a law, its priors, its likelihood and the sampler.

Talts et al. (2018): draw parameters from the prior, simulate a data set from them, fit it, and
record the rank of each true parameter among (nearly independent) posterior draws. If the model
and the sampler are right, every rank is uniform on 0..max_rank; a sampler that explores too
little gives U-shaped ranks, a biased one skewed ranks.

The design (the N, D of the runs) is fixed and realistic, by default the Chinchilla-like sweep of
`simulate`, and the priors are the defaults scaled to that design, fixed before any data are
simulated (SBC checks a fixed prior). All replicates share one compiled sampler
(`inference.sampler.sample_many`).

Example
-------
>>> import jax
>>> from bayes_scaling import SamplerConfig
>>> result = sbc(key=jax.random.key(0), num_replicates=4, num_runs=40, max_rank=19,
...              config=SamplerConfig(num_warmup=200, num_samples=100))
>>> result.ranks.shape, result.max_rank
((4, 7), 19)
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import numpyro.distributions as dist
import pandas as pd
from numpyro.infer import Predictive

from ..simulation import simulate
from ..inference.sampler import SamplerConfig, sample_many
from ..laws.registry import get_law
from ..models import build_model, model_inputs
from ..laws.priors import all_param_names, default_priors
from .scoring import chi2_uniformity

__all__ = ["sbc", "SBCResult", "DEFAULT_SBC_CONFIG"]

# 4 x 200 draws thinned to 99 (every 8th): NUTS draws of these models are close to independent
# at that spacing, which the rank statistic assumes. Data simulated from the prior are often
# harder than real sweeps (10-55 leapfrog steps per iteration against 7), hence the short runs.
DEFAULT_SBC_CONFIG = SamplerConfig(num_chains=4, num_warmup=400, num_samples=200)


@dataclasses.dataclass(frozen=True)
class SBCResult:
    """Ranks of the true parameters and their uniformity tests.

    Attributes
    ----------
    ranks : numpy.ndarray of int, shape (replicates, parameters)
        Number of the ``max_rank`` thinned posterior draws below the true value.
    max_rank : int
    names : list of str
        The parameters, in the column order of ``ranks``.
    truths : dict
        The true (prior-drawn) value of each parameter per replicate.
    divergences : numpy.ndarray of int
        Divergent transitions per replicate.
    table : pandas.DataFrame
        Per parameter: χ² statistic and p-value of rank uniformity over ``bins`` bins.
    bins : int
    """

    ranks: np.ndarray
    max_rank: int
    names: list
    truths: dict
    divergences: np.ndarray
    table: pd.DataFrame
    bins: int

    def passed(self, level=0.01):
        """True when no parameter's uniformity test rejects at ``level``."""
        return bool((self.table["p_value"] >= level).all())


def _default_bins(num_replicates, max_rank):
    """The most bins (dividing max_rank + 1) that keep at least 10 expected ranks in each
    (at least 2, for tiny examples)."""
    fitting = [b for b in range(2, max_rank + 2)
               if (max_rank + 1) % b == 0 and num_replicates / b >= 10]
    return max(fitting, default=2)


def sbc(*, key, law="chinchilla", likelihood="student_t", num_replicates=200, num_runs=245,
        priors=None, config=DEFAULT_SBC_CONFIG, max_rank=99, bins=None, strategy="auto"):
    """Simulation-based calibration on a realistic design.

    Parameters
    ----------
    key : jax.random key
    law : str or Law
    likelihood : {"student_t", "normal"}
    num_replicates : int
        Data sets simulated from the prior and fitted.
    num_runs : int
        Runs per data set (the `simulate` design).
    priors : dict, optional
        Overrides of the default priors; the defaults are scaled to the design.
    config : SamplerConfig
        Must give at least ``max_rank`` draws in all.
    max_rank : int
        Posterior draws kept per replicate (evenly thinned); ranks lie in 0..max_rank.
    bins : int, optional
        Bins of the χ² test (default: as many as keep ≥ 10 expected ranks per bin).
    strategy : {"auto", "vectorized", "sequential"}
        How the replicates' fits run together (`inference.sampler.batch_strategy`).

    Returns
    -------
    SBCResult
    """
    law = get_law(law)
    total = config.num_chains * config.num_samples
    if total < max_rank:
        raise ValueError(f"the sampler gives {total} draws per fit, fewer than max_rank={max_rank}")
    if num_replicates < 2:
        raise ValueError(f"num_replicates must be at least 2, got {num_replicates}")
    k_design, k_prior, k_fit = jax.random.split(key, 3)
    design = simulate(k_design, num_runs=num_runs, law=law)
    chosen = {**default_priors(law, design, likelihood), **(priors or {})}
    model = build_model(law, chosen, likelihood)
    x = model_inputs(design, law)
    truth = Predictive(model, num_samples=num_replicates)(k_prior, x)
    samples, stats = sample_many(law, chosen, design, truth["log_loss"], key=k_fit, config=config,
                                 likelihood=likelihood, strategy=strategy)
    names = [n for n in all_param_names(law, likelihood)
             if isinstance(chosen[n], dist.Distribution)]  # fixed parameters have no rank
    keep = np.linspace(0, total - 1, max_rank).round().astype(int)
    ranks = np.stack([
        (np.asarray(samples[n]).reshape(num_replicates, -1)[:, keep]
         < np.asarray(truth[n]).reshape(num_replicates, 1)).sum(axis=1)
        for n in names], axis=1)
    bins = bins or _default_bins(num_replicates, max_rank)
    tests = [chi2_uniformity(ranks[:, j], max_rank, bins) for j in range(len(names))]
    table = pd.DataFrame({"param": names, "chi2": [t[0] for t in tests],
                          "p_value": [t[1] for t in tests]})
    divergences = np.asarray(stats["diverging"]).reshape(num_replicates, -1).sum(axis=1)
    return SBCResult(ranks=ranks, max_rank=max_rank, names=names,
                     truths={n: np.asarray(truth[n]).reshape(-1) for n in names},
                     divergences=divergences, table=table, bins=bins)
