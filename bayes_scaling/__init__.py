"""bayes_scaling: Bayesian neural scaling laws in JAX/NumPyro.

Fit a law to runs with NUTS, then forecast with honest uncertainty::

    import jax, bayes_scaling as bs
    runs = bs.load_runs("runs.csv")
    post = bs.fit(runs, key=jax.random.key(0))
    print(post.summary())
    print(bs.forecast(post, N=70e9, D=1.4e12, key=jax.random.key(1)))
"""

from .api import ScalingLawFit, fit
from .data import Runs, RunsError, load_runs, parse_number
from .datasets import load_dataset, simulate
from .forecast import forecast
from .inference import SamplerConfig, run_nuts
from .laws import LAWS, Law, PowerTerm
from .models import build_model, model_inputs
from .posterior import ConvergenceWarning, Posterior
from .priors import PriorError, default_priors, parse_priors

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning", "LAWS", "Law", "Posterior", "PowerTerm", "PriorError", "Runs",
    "RunsError", "SamplerConfig", "ScalingLawFit", "build_model", "default_priors", "fit",
    "forecast", "load_dataset", "load_runs", "model_inputs", "parse_number", "parse_priors",
    "run_nuts", "simulate",
]
