"""bayes_scaling: Bayesian neural scaling laws in JAX/NumPyro.

Fit a law to runs with NUTS, then forecast with honest uncertainty::

    import jax, bayes_scaling as bs
    runs = bs.load_runs("runs.csv")
    post = bs.fit(runs, key=jax.random.key(0))
    print(post.summary())
    print(bs.forecast(post, N=70e9, D=1.4e12, key=jax.random.key(1)))

The top level holds the everyday names (`__all__`); the rest live in their packages
(``bayes_scaling.laws``, ``.inference``, ``.validation``, ``.emergence``, ``.plots``; see
docs/architecture.md), reachable as attributes too (``bs.plots.plot_frontier``). Names are
imported on first use (PEP 562), so that ``bayes-scaling --help`` and argument errors answer at
once instead of after importing JAX. Names that were at the top level before 0.2 still work for
one release, with a DeprecationWarning naming their new home.
"""

import importlib
import os
import warnings

from bayes_scaling.xla_flags import with_small_loop_option

__version__ = "0.2.0"

# Before JAX's backend starts: compile the sampler's small loops whole on CPU (see xla_flags).
os.environ["XLA_FLAGS"] = with_small_loop_option(os.environ.get("XLA_FLAGS", ""))

# public name -> module that defines it: the everyday path from a runs table to a decision
_EXPORTS = {
    "Runs": "data", "load_runs": "data", "load_dataset": "datasets", "simulate": "simulation",
    "LAWS": "laws.registry", "make_law": "laws.registry",
    "fit": "api", "fit_pooled": "inference.pooled", "fit_many": "inference.batch",
    "SamplerConfig": "inference.sampler", "Posterior": "posterior",
    "forecast": "prediction", "optimal": "allocation", "plan": "allocation",
    "compute_for_target": "allocation",
    "backtest": "validation.backtest", "sbc": "validation.sbc",
    "fit_emergence": "emergence.fit", "load_scores": "emergence.data",
    "write_report": "report",
    "RunsError": "errors", "PriorError": "errors", "ConvergenceWarning": "errors",
}

# Top-level names of 0.1, kept for one release (each warns once per use, naming its module).
_MOVED = {
    "ScalingLawFit": "api", "FitBatch": "inference.batch", "PooledPosterior": "posterior",
    "EmergenceFit": "emergence.fit", "parse_number": "data", "run_nuts": "inference.sampler",
    "Law": "laws.base", "PowerTerm": "laws.base", "default_priors": "laws.priors",
    "parse_priors": "laws.priors", "build_model": "models", "model_inputs": "models",
    "plot_fit": "plots", "plot_residuals": "plots", "plot_pairs": "plots",
    "plot_backtest": "plots", "plot_rolling_backtest": "plots", "render_report": "report",
    "rolling_backtest": "validation.backtest", "split_by_compute": "sweep_evidence",
    "estimate_discrepancy": "validation.backtest", "huber_fit": "validation.baseline",
    "huber_bootstrap": "validation.baseline", "loo_pit": "validation.checks",
    "ppc_summary": "validation.checks", "replicated_losses": "validation.checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _MOVED:
        module = f"{__name__}.{_MOVED[name]}"
        warnings.warn(f"bayes_scaling.{name} moved to {module}.{name}; the top-level alias goes "
                      f"in 0.3", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), name)
    if not name.startswith("_"):
        try:  # a subpackage or module: bs.plots, bs.validation.backtest, ...
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
