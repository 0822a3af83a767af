"""bayes_scaling: Bayesian neural scaling laws in JAX/NumPyro.

Fit a law to runs with NUTS, then forecast with honest uncertainty::

    import jax, bayes_scaling as bs
    runs = bs.load_runs("runs.csv")
    post = bs.fit(runs, key=jax.random.key(0))
    print(post.summary())
    print(bs.forecast(post, N=70e9, D=1.4e12, key=jax.random.key(1)))

The public names below are imported on first use (PEP 562), so that ``bayes-scaling --help`` and
argument errors answer at once instead of after importing JAX.
"""

import importlib
import os
import sys
import types

from bayes_scaling.xla_flags import with_small_loop_option

__version__ = "0.1.0"

# Before JAX's backend starts: compile the sampler's small loops whole on CPU (see xla_flags).
os.environ["XLA_FLAGS"] = with_small_loop_option(os.environ.get("XLA_FLAGS", ""))

# public name -> module that defines it
_EXPORTS = {
    "ScalingLawFit": "api", "fit": "api",
    "fit_many": "inference.batch", "FitBatch": "inference.batch",
    "compute_for_target": "allocation", "optimal": "allocation", "plan": "allocation",
    "Runs": "data", "load_runs": "data", "parse_number": "data",
    "RunsError": "errors", "ConvergenceWarning": "errors", "PriorError": "errors",
    "load_dataset": "datasets", "simulate": "datasets",
    "forecast": "forecast",
    "fit_pooled": "inference.pooled",
    "PooledPosterior": "posterior", "Posterior": "posterior",
    "fit_emergence": "emergence.fit", "EmergenceFit": "emergence.fit",
    "load_scores": "emergence.data",
    "SamplerConfig": "inference.sampler", "run_nuts": "inference.sampler",
    "Law": "laws.base", "PowerTerm": "laws.base", "LAWS": "laws.registry",
    "make_law": "laws.registry",
    "plot_fit": "plots.fit", "plot_residuals": "plots.fit", "plot_pairs": "plots.fit",
    "plot_backtest": "plots.backtest", "plot_rolling_backtest": "plots.backtest",
    "write_report": "report", "render_report": "report",
    "build_model": "models", "model_inputs": "models",
    "default_priors": "laws.priors", "parse_priors": "laws.priors",
    "backtest": "validation.backtest", "rolling_backtest": "validation.backtest",
    "split_by_compute": "validation.backtest", "estimate_discrepancy": "validation.backtest",
    "sbc": "validation.sbc",
    "huber_fit": "validation.baseline", "huber_bootstrap": "validation.baseline",
    "loo_pit": "validation.checks", "ppc_summary": "validation.checks",
    "replicated_losses": "validation.checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``bayes_scaling.forecast`` the function: importing the submodule of the same name
    would otherwise rebind the package attribute to the module."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
