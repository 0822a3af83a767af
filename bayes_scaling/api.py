"""The convenience layer: `fit` in one call, and the `ScalingLawFit` object.

Both only string together the pure core (data, priors, inference, forecast).

Example
-------
>>> import jax
>>> from bayes_scaling import simulate
>>> runs = simulate(jax.random.key(0))
>>> model = ScalingLawFit(num_warmup=500, num_samples=1000).fit(runs, key=jax.random.key(1))
>>> model.diagnostics_.ok
True
>>> len(model.forecast(N=70e9, D=1.4e12, key=jax.random.key(2)))
2
"""

from __future__ import annotations

import jax
import numpy as np

from .data import Runs, load_runs
from .prediction import DEFAULT_PROBS, forecast
from .inference.remedy import REMEDY_BUDGET_S, fit_runs
from .inference.sampler import SamplerConfig
from .laws.registry import get_law
from .laws.priors import all_param_names
from .sweep_evidence import kappa_evidence

# The internal backtest's key: fold_in(key, EVIDENCE_STREAM), apart from the fit's and its
# remedies' (`inference.remedy.REMEDY_STREAM` + attempt).
EVIDENCE_STREAM = 2000

__all__ = ["fit", "ScalingLawFit"]


def fit(data, *, key, law="chinchilla", priors=None, likelihood="student_t", config=None,
        dtype=None, remedy=None, remedy_budget_s=REMEDY_BUDGET_S, sweep_evidence=True,
        **load_options):
    """Fit a scaling law to runs with NUTS.

    Parameters
    ----------
    data : Runs, str, os.PathLike or pandas.DataFrame
        The runs, or a CSV path / DataFrame for `load_runs` (with ``load_options``).
    key : jax.random key
    law : str or Law
        A registry name (`laws.registry.LAWS`) or a `Law`, e.g. your own from `laws.registry.make_law`.
    priors : dict, optional
        Overrides of the default priors (NumPyro distributions or fixed numbers), by name.
    likelihood : {"student_t", "normal"}
    config : SamplerConfig, optional
    remedy : bool, optional
        When the fit fails the diagnostics gate, refit with the standard remedy for its
        failure (higher target_accept after divergences, another key for a stuck chain,
        twice the draws for R-hat or ESS; `inference.remedy`) within ``remedy_budget_s``
        seconds in all. The remedies tried are in ``post.attrs["remedies"]``. Default: on
        with the default sampler settings (``config`` None), off with settings of your own.
    remedy_budget_s : float
    sweep_evidence : bool
        Also gather the runs' own evidence about the law's error beyond the data (one more
        fit, of the runs below the largest 20% by compute; `sweep_evidence`), kept in
        ``post.attrs["kappa_evidence"]`` and used by the default forecast. False skips it
        (forecasts then use the field's κ alone and say so).

    Returns
    -------
    Posterior
        Warns with `ConvergenceWarning` if the (last) fit fails the gate.

    Examples
    --------
    >>> import jax
    >>> from bayes_scaling import simulate
    >>> post = fit(simulate(jax.random.key(0), num_runs=60), key=jax.random.key(1))
    >>> post.check().ok, post.attrs["kappa_evidence"]["held_out"]
    (True, 12)
    """
    law = get_law(law)
    runs = data if isinstance(data, Runs) else load_runs(data, law=law, **load_options)
    check_fittable(law, runs, likelihood)
    settings = dict(priors=priors, likelihood=likelihood, config=config, dtype=dtype,
                    remedy=remedy)
    post = fit_runs(law, runs, key=key, remedy_budget_s=remedy_budget_s, **settings)
    post.warn_if_unconverged()
    if sweep_evidence:
        evidence = kappa_evidence(runs, key=jax.random.fold_in(key, EVIDENCE_STREAM), law=law,
                                  **settings)
        post.record_kappa_evidence(evidence.to_json())
    return post


def check_fittable(law, runs, likelihood="student_t"):
    """Refuse runs that cannot be fitted: fewer runs than the law and likelihood have
    parameters, or an input with one value only (`check_identifiable`). Cheap, so callers that
    announce a long fit check first.

    >>> import numpy as np, bayes_scaling as bs
    >>> runs = bs.Runs(N=np.array([1e8]), D=np.array([2e9]), C=np.array([1.2e18]),
    ...                loss=np.array([3.2]))
    >>> check_fittable(get_law("chinchilla"), runs)
    Traceback (most recent call last):
    ...
    ValueError: DataFrame: 1 run is too few to fit 7 parameters of 'chinchilla' with a student_t likelihood
    """
    num_params = len(all_param_names(law, likelihood))
    if len(runs) < num_params:
        runs_are = "1 run is" if len(runs) == 1 else f"{len(runs)} runs are"
        raise ValueError(f"{runs.source}: {runs_are} too few to fit {num_params} "
                         f"parameters of {law.name!r} with a {likelihood} likelihood")
    check_identifiable(law, runs)


def check_identifiable(law, runs):
    """Refuse runs that cannot identify the law: an input of the law with one value only (all
    runs at one N, say) leaves its term's coefficient and exponent undetermined, and the
    sampler would only report divergences.

    >>> import numpy as np, bayes_scaling as bs
    >>> runs = bs.Runs(N=np.full(9, 1e8), D=np.geomspace(1e9, 1e11, 9), C=np.ones(9),
    ...                loss=np.linspace(3.5, 3.0, 9))
    >>> check_identifiable(get_law("chinchilla"), runs)
    Traceback (most recent call last):
    ...
    ValueError: DataFrame: every run has N = 1e+08, so the law's N term cannot be identified from these runs (its coefficient and exponent trade off freely); add runs at other N, or fit a law without N (e.g. --law power_D)
    """
    for name in law.inputs:
        values = np.unique(runs.input(name, law.name))
        if len(values) == 1:
            others = [n for n in ("N", "D", "C") if n != name and n in law.inputs]
            hint = f" (e.g. --law power_{others[0]})" if len(others) == 1 else ""
            raise ValueError(f"{runs.source}: every run has {name} = {values[0]:.3g}, so the "
                             f"law's {name} term cannot be identified from these runs (its "
                             f"coefficient and exponent trade off freely); add runs at other "
                             f"{name}, or fit a law without {name}{hint}")


class ScalingLawFit:
    """Object-style façade: ``ScalingLawFit(...).fit(runs, key=...)`` then ``.forecast(...)``.

    ``__init__`` only stores the settings; fitted attributes end in ``_``:
    ``posterior_`` (Posterior), ``idata_`` (ArviZ InferenceData), ``diagnostics_``.
    """

    def __init__(self, law="chinchilla", priors=None, likelihood="student_t", num_chains=4,
                 num_warmup=1000, num_samples=1000, target_accept=0.9):
        self.law = law
        self.priors = priors
        self.likelihood = likelihood
        self.num_chains = num_chains
        self.num_warmup = num_warmup
        self.num_samples = num_samples
        self.target_accept = target_accept

    def fit(self, data, *, key, **load_options):
        """Fit to ``data`` (Runs, CSV path or DataFrame); returns self."""
        config = SamplerConfig(num_chains=self.num_chains, num_warmup=self.num_warmup,
                               num_samples=self.num_samples, target_accept=self.target_accept)
        self.posterior_ = fit(data, key=key, law=self.law, priors=self.priors,
                              likelihood=self.likelihood, config=config, **load_options)
        self.idata_ = self.posterior_.idata
        self.diagnostics_ = self.posterior_.check()
        return self

    def summary(self, prob=0.9):
        """The parameter table (see `Posterior.summary`)."""
        return self.posterior_.summary(prob)

    def forecast(self, N=None, D=None, C=None, *, key=None, probs=DEFAULT_PROBS):
        """Predictive loss at new points (see `forecast`)."""
        key = jax.random.key(0) if key is None else key
        return forecast(self.posterior_, N=N, D=D, C=C, key=key, probs=probs)
