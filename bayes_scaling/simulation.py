"""Simulated sweeps with known truth, for tests, calibration and benchmarks.

Example
-------
>>> import jax
>>> runs = simulate(jax.random.key(0), num_runs=50)
>>> len(runs), runs.source
(50, 'simulate(chinchilla)')
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .data import Runs
from .datasets import EPOCH_CHINCHILLA
from .laws.registry import get_law

__all__ = ["simulate"]


def simulate(key, *, num_runs=245, params=None, sigma=0.01, nu=5.0, law="chinchilla",
             n_range=(5e7, 1.6e10), tokens_per_param=(2.0, 200.0), flops_per_param_token=6.0):
    """Simulate a Chinchilla-like sweep with known truth.

    Model sizes are log-uniform over ``n_range`` and tokens per parameter log-uniform over
    ``tokens_per_param``; losses follow the law with Student-t noise (scale ``sigma``, ``nu``
    degrees of freedom; ``nu=inf`` for Normal) on log-loss, as the default model assumes.

    Parameters
    ----------
    key : jax.random key
    num_runs : int
    params : dict, optional
        True parameters; Epoch AI's Chinchilla refit (`EPOCH_CHINCHILLA`) by default.

    Returns
    -------
    Runs
    """
    law = get_law(law)
    params = dict(EPOCH_CHINCHILLA if params is None else params)
    k_n, k_ratio, k_noise = jax.random.split(key, 3)
    log_n = jax.random.uniform(k_n, (num_runs,), minval=np.log(n_range[0]),
                               maxval=np.log(n_range[1]))
    log_ratio = jax.random.uniform(k_ratio, (num_runs,), minval=np.log(tokens_per_param[0]),
                                   maxval=np.log(tokens_per_param[1]))
    log_x = {"N": log_n, "D": log_n + log_ratio}
    noise = sigma * (jax.random.normal(k_noise, (num_runs,)) if np.isinf(nu)
                     else jax.random.t(k_noise, nu, (num_runs,)))
    loss = jnp.exp(law.log_loss(params, log_x) + noise)
    N, D = np.exp(np.asarray(log_x["N"], np.float64)), np.exp(np.asarray(log_x["D"], np.float64))
    return Runs(N=N, D=D, C=flops_per_param_token * N * D, loss=np.asarray(loss, np.float64),
                lines=np.arange(num_runs), source=f"simulate({law.name})",
                flops_per_param_token=flops_per_param_token)
