"""Scaling laws as records of pure JAX functions, and the `LAWS` registry.

Every law is evaluated in log space, ``log L = law.log_loss(params, log_x)``, where ``params`` maps
the law's parameter names to arrays and ``log_x`` maps each input (``"N"``, ``"D"``, ...) to the log of
its values. There is no Python branching on values, so jit, vmap and grad work everywhere.

Adding a law is one function and one registry entry.

Example
-------
>>> import jax.numpy as jnp
>>> law = LAWS["chinchilla"]
>>> p = dict(E=1.817, A=482.01, alpha=0.3478, B=2085.43, beta=0.3659)
>>> x = {"N": jnp.log(jnp.array([70e9])), "D": jnp.log(jnp.array([1.4e12]))}
>>> round(float(jnp.exp(law.log_loss(p, x))[0]), 3)
1.973
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import jax.numpy as jnp
from jax.scipy.special import logsumexp

__all__ = ["Law", "LAWS", "PowerTerm", "get_law"]


class PowerTerm(NamedTuple):
    """A term ``coef · x^-exponent`` of a law; the sampler centres it on the data (see models)."""

    coef: str
    exponent: str
    input: str


class Law(NamedTuple):
    """A scaling law.

    Attributes
    ----------
    name : str
        Registry key.
    inputs : tuple of str
        Inputs the law needs, among ``"N"``, ``"D"``, ``"C"``.
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
    """

    name: str
    inputs: tuple
    param_names: tuple
    log_loss: Callable[[Mapping, Mapping], jnp.ndarray]
    power_terms: tuple = ()
    reference: str = ""
    derived: Callable[[Mapping], Mapping] | None = None


def _chinchilla_log_loss(p, log_x):
    # log(E + A N^-α + B D^-β) as a logsumexp of the three terms' logs: stable for any scale.
    terms = jnp.stack(jnp.broadcast_arrays(
        jnp.log(p["E"]),
        jnp.log(p["A"]) - p["alpha"] * log_x["N"],
        jnp.log(p["B"]) - p["beta"] * log_x["D"],
    ))
    return logsumexp(terms, axis=0)


def _compute_optimal_exponents(p):
    # N* ∝ C^a and D* ∝ C^b under C = k·N·D (Hoffmann et al. 2022, eq. 4).
    total = p["alpha"] + p["beta"]
    return {"a": p["beta"] / total, "b": p["alpha"] / total}


CHINCHILLA = Law(
    name="chinchilla",
    inputs=("N", "D"),
    param_names=("E", "A", "alpha", "B", "beta"),
    log_loss=_chinchilla_log_loss,
    power_terms=(PowerTerm("A", "alpha", "N"), PowerTerm("B", "beta", "D")),
    reference="Hoffmann et al. 2022, arXiv:2203.15556, eq. (2): L(N, D) = E + A/N^α + B/D^β",
    derived=_compute_optimal_exponents,
)

LAWS = {law.name: law for law in (CHINCHILLA,)}


def get_law(law):
    """Return a `Law` given itself or its registry name (with a clear error for unknown names)."""
    if isinstance(law, Law):
        return law
    try:
        return LAWS[law]
    except KeyError:
        raise ValueError(f"unknown law {law!r}; known laws: {', '.join(LAWS)}") from None
