"""The records a scaling law is made of: `Law` and `PowerTerm` (re-exported by `laws`).

They live apart from the registry so that `laws_family` can build laws that `laws` registers.

>>> PowerTerm("A", "alpha", "N").input
'N'
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import jax.numpy as jnp
from jax.scipy.special import logsumexp

__all__ = ["Law", "PowerTerm", "term_log_input", "compute_optimal_exponents"]


class PowerTerm(NamedTuple):
    """A term ``coef · x^-exponent`` of a law; the sampler centres it on the data (see models).

    ``input`` names one input, or a tuple of inputs whose sum is ``x`` (e.g. token sources).
    """

    coef: str
    exponent: str
    input: str | tuple


def term_log_input(term, log_x):
    """The log of a power term's ``x`` from the log inputs (log of the sum for a tuple)."""
    if isinstance(term.input, str):
        return log_x[term.input]
    return logsumexp(jnp.stack([log_x[name] for name in term.input]), axis=0)


class Law(NamedTuple):
    """A scaling law.

    Attributes
    ----------
    name : str
        Registry key.
    inputs : tuple of str
        Inputs the law needs: ``"N"``, ``"D"``, ``"C"``, or other columns of the runs such as
        unique tokens ``"U"`` (see `data.load_runs`'s ``inputs``).
    param_names : tuple of str
        Parameters in the published parameterization, in display order.
    log_loss : callable
        ``log_loss(params, log_x) -> log L``, pure and vectorised over trailing array axes.
    power_terms : tuple of PowerTerm
        Terms ``coef · x^-exponent``; their coefficients are sampled as the log of the term at the
        data's centre, which removes the near-perfect correlation between log coef and exponent.
    reference : str
        Where the law comes from.
    derived : callable, optional
        ``derived(params) -> dict`` of quantities reported with the posterior (NumPy or JAX).
    priors : callable, optional
        ``priors(runs) -> dict`` of default priors carried by the law itself (user laws, see
        `make_law`); built-in laws leave it None and get theirs from `laws.priors.default_priors`.
    """

    name: str
    inputs: tuple
    param_names: tuple
    log_loss: Callable[[Mapping, Mapping], jnp.ndarray]
    power_terms: tuple = ()
    reference: str = ""
    derived: Callable[[Mapping], Mapping] | None = None
    priors: Callable | None = None


def compute_optimal_exponents(p):
    # N* ∝ C^a and D* ∝ C^b under C = k·N·D (Hoffmann et al. 2022, eq. 4).
    total = p["alpha"] + p["beta"]
    return {"a": p["beta"] / total, "b": p["alpha"] / total}
