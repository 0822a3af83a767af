"""A fit's own evidence about its extrapolation discrepancy κ, gathered when it is fitted.

The field's κ distribution (`discrepancy.field_discrepancy`) is what the public sweeps say about
a sweep not yet seen. A sweep's own runs say something about its own κ too: fit the runs below a
compute cutoff (the largest 20% by compute held out, whole budgets), forecast the held-out runs,
and score those forecasts widened by each κ of the grid (`kappa_evidence`). `api.fit` does this
after its own fit (one more fit, of about 80% of the runs) and keeps the result with the
posterior and in its file; the default forecast (`discrepancy.resolve_discrepancy`, "sweep")
updates the field's κ by it. Measured on docs/validation.md's protocol, the update narrows the
intervals of sweeps whose law held beyond their own smaller runs and keeps those whose law
drifted wide: pooled 90% width over error 7.1 → 5.8 at 0.89 coverage.

The evidence counts as one observation: the *mean* over the held-out runs of their log
predictive density, not the sum. Those runs mostly repeat one error of the law (the same drift
beyond the same cutoff), so summing them as independent would be far too sure: on the shared
sweeps the sum made a sweep whose law held over its own largest runs and broke beyond them
(Hitchhiker's ladders) narrow its κ until its 90% intervals covered 45% of its future; the mean
keeps it above 75% and still narrows the well-behaved sweeps. Counts between one and sixteen,
chosen across datasets by leave-one-dataset-out log density, came back to one for three of the
four datasets (benchmarks/results/discrepancy_models.md).

Example
-------
>>> import jax
>>> from bayes_scaling import simulate
>>> from bayes_scaling.laws.registry import get_law
>>> evidence = kappa_evidence(simulate(jax.random.key(0), num_runs=60), key=jax.random.key(1),
...                           law=get_law("chinchilla"))
>>> evidence.held_out, evidence.log_likelihood.shape
(12, (121,))
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .discrepancy import (HELD_OUT_BUCKET, LOG_KAPPA_GRID, SweepEvidence,
                          extrapolation_distance, kappa_log_likelihood)
from .inference.padding import pad_to, padded_size
from .inference.remedy import fit_runs
from .laws.priors import all_param_names
from .prediction import posterior_params

__all__ = ["split_by_compute", "internal_forecast", "kappa_evidence", "EVIDENCE_HOLDOUT",
           "BUDGET_RTOL"]

EVIDENCE_HOLDOUT = 0.2  # the share of runs, the largest by compute, the internal backtest holds out
BUDGET_RTOL = 0.1  # runs within 10% in compute count as one budget, never split


def split_by_compute(runs, *, holdout_top=None, cutoff_flops=None, min_train=1):
    """Split runs into (train, held_out) by training compute.

    Parameters
    ----------
    runs : Runs
    holdout_top : float, optional
        Hold out at least this fraction of the runs, the ones with the largest compute; runs
        within 10% below the smallest of them are held out too (one compute budget is never
        split), so the share can be a little larger.
    cutoff_flops : float, optional
        Hold out the runs with C >= cutoff_flops. Give exactly one of the two.
    min_train : int
        Fewest training runs accepted (the number of parameters to fit).

    Returns
    -------
    (Runs, Runs)

    Raises
    ------
    ValueError
        When the split leaves fewer than ``min_train`` training runs or nothing to hold out.

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_scaling import Runs
    >>> runs = Runs(N=np.full(5, 1e8), D=np.full(5, 1e9), C=np.geomspace(1e18, 1e20, 5),
    ...             loss=np.linspace(3.5, 3.0, 5))
    >>> [len(part) for part in split_by_compute(runs, holdout_top=0.2)]
    [4, 1]
    """
    if (holdout_top is None) == (cutoff_flops is None):
        raise ValueError("give holdout_top (a fraction) or cutoff_flops (a compute), one of them")
    C = np.asarray(runs.C)
    if holdout_top is not None:
        if not 0 < holdout_top < 1:
            raise ValueError(f"holdout_top must be a fraction in (0, 1), got {holdout_top}")
        smallest_held = np.sort(C)[::-1][math.ceil(holdout_top * len(C)) - 1]
        # Never split one compute budget between fit and forecast: runs within BUDGET_RTOL of
        # the smallest held-out compute are held out too (nominal sizes make one "6e20" budget
        # span 5.96e20-6.08e20 in datablations). One step, not a chain: on a continuum of
        # compute values (Chinchilla's) a chain would run away.
        cutoff_flops = float(smallest_held / (1 + BUDGET_RTOL))
    elif not (np.isfinite(cutoff_flops) and cutoff_flops > 0):
        raise ValueError(f"cutoff_flops must be a positive number of FLOPs, got {cutoff_flops}")
    held = C >= cutoff_flops
    if not held.any():
        raise ValueError(f"{runs.source}: no run has C >= {cutoff_flops:.4g} FLOPs (the largest "
                         f"is {C.max():.4g}), so there is nothing to hold out")
    if (~held).sum() < min_train:
        raise ValueError(f"{runs.source}: the cutoff C >= {cutoff_flops:.4g} FLOPs leaves "
                         f"{(~held).sum()} training runs, fewer than the {min_train} parameters "
                         f"to fit; choose a larger cutoff or a smaller holdout fraction")
    return runs.subset(~held), runs.subset(held)


def internal_forecast(runs, *, key, law, priors=None, likelihood="student_t", config=None,
                      dtype=None, remedy=None, holdout_top=EVIDENCE_HOLDOUT):
    """Fit the runs below an internal compute cutoff.

    Parameters
    ----------
    runs : Runs
    key : jax.random key
    law : Law
    priors, likelihood, config, dtype, remedy
        As for `api.fit`.
    holdout_top : float
        As for `split_by_compute`.

    Returns
    -------
    (Runs, Runs, Posterior)
        The runs fitted, the runs held out, and the posterior of the first.
    """
    train, held = split_by_compute(runs, holdout_top=holdout_top,
                                   min_train=len(all_param_names(law, likelihood)))
    # Its posterior predictive of the runs (the fit file's, for `az.plot_ppc`) is never used.
    post = fit_runs(law, train, key=key, priors=priors, likelihood=likelihood, config=config,
                    dtype=dtype, remedy=remedy, predictive=False)
    return train, held, post


def kappa_evidence(runs, *, key, law, priors=None, likelihood="student_t", config=None,
                   dtype=None, remedy=None, holdout_top=EVIDENCE_HOLDOUT):
    """What a sweep's own runs say about its extrapolation discrepancy κ (see the module
    docstring): an internal leave-future-out backtest. The parameters are `internal_forecast`'s.

    Returns
    -------
    discrepancy.SweepEvidence
        The mean over the internally held-out runs of `discrepancy.kappa_log_likelihood`'s
        per-run terms on `discrepancy.LOG_KAPPA_GRID`; or none, with the reason, when the runs
        cannot be split (too few, one compute budget) or the internal fit fails the gate (its
        forecasts would be no evidence).
    """
    try:
        train, held, post = internal_forecast(runs, key=key, law=law, priors=priors,
                                              likelihood=likelihood, config=config,
                                              dtype=dtype, remedy=remedy,
                                              holdout_top=holdout_top)
    except ValueError as err:
        return SweepEvidence.missing(f"no internal backtest: {err}")
    gate = post.check()
    if not gate.ok:
        return SweepEvidence.missing(f"the internal fit of the {len(train)} runs below the "
                                     f"largest {holdout_top:.0%} by compute failed the "
                                     f"diagnostics gate ({'; '.join(gate.problems)})")
    params = posterior_params(post)
    # Padded as `kappa_log_likelihood` pads, and cut back: the law on a new number of held-out
    # runs would compile its programs again.
    size = padded_size(len(held), smallest=HELD_OUT_BUCKET)
    log_x = {name: jnp.log(jnp.asarray(pad_to(held.input(name, law.name), size)))[None, :]
             for name in law.inputs}
    log_mean = np.asarray(law.log_loss({k: v[:, None] for k, v in params.items()}, log_x),
                          np.float64)[:, :len(held)]
    fitted = {k: np.asarray(getattr(train, k)) for k in ("N", "D", "C")}
    points = {k: np.asarray(getattr(held, k)) for k in ("N", "D", "C")}
    noise = {k: np.asarray(params[k]) for k in ("sigma", "nu") if k in params}
    loglik = kappa_log_likelihood(log_mean, noise, extrapolation_distance(points, fitted),
                                  np.log(held.loss), likelihood=likelihood,
                                  log_kappa=LOG_KAPPA_GRID)
    return SweepEvidence(loglik / len(held), len(held))
