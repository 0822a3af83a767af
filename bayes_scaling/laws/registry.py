"""Scaling laws as records of pure JAX functions, and the `LAWS` registry.

Every law is evaluated in log space, ``log L = law.log_loss(params, log_x)``, where ``params`` maps
the law's parameter names to arrays and ``log_x`` maps each input (``"N"``, ``"D"``, ...) to the log of
its values. There is no Python branching on values, so jit, vmap and grad work everywhere.

Adding a law is one function and one registry entry. The family beyond Chinchilla (one
variable, pure power, Kaplan, broken, data-constrained, effective data) lives in `laws_family`;
`make_law` turns a user's own jnp function into a registered law.

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

import jax.numpy as jnp
from jax.scipy.special import logsumexp

from ..errors import PriorError
from .base import Law, PowerTerm, compute_optimal_exponents, term_log_input
from .family import FAMILY
from .names import LAW_INPUTS, canonical_name, record_law

__all__ = ["Law", "LAWS", "PowerTerm", "get_law", "make_law", "register_law",
           "compute_optimal_exponents", "term_log_input"]


def _chinchilla_log_loss(p, log_x):
    # log(E + A N^-α + B D^-β) as a logsumexp of the three terms' logs: stable for any scale.
    terms = jnp.stack(jnp.broadcast_arrays(
        jnp.log(p["E"]),
        jnp.log(p["A"]) - p["alpha"] * log_x["N"],
        jnp.log(p["B"]) - p["beta"] * log_x["D"],
    ))
    return logsumexp(terms, axis=0)


CHINCHILLA = Law(
    name="chinchilla",
    inputs=("N", "D"),
    param_names=("E", "A", "alpha", "B", "beta"),
    log_loss=_chinchilla_log_loss,
    power_terms=(PowerTerm("A", "alpha", "N"), PowerTerm("B", "beta", "D")),
    reference="Hoffmann et al. 2022, arXiv:2203.15556, eq. (2): L(N, D) = E + A/N^α + B/D^β",
    derived=compute_optimal_exponents,
)

LAWS = {law.name: law for law in (CHINCHILLA, *FAMILY)}
_BUILT_IN = frozenset(LAWS)
# `laws.names` lists the built-ins' inputs for code that must not import JAX; keep it true.
if {name: law.inputs for name, law in LAWS.items()} != LAW_INPUTS:
    raise RuntimeError("laws.names.LAW_INPUTS disagrees with the built-in laws; update it")


def get_law(law):
    """Return a `Law` given itself or its registry name (with a clear error for unknown names).

    Names are matched ignoring case and ``-`` for ``_``; an unknown one gets a suggestion.

    >>> get_law("data-constrained").name
    'data_constrained'
    """
    if isinstance(law, Law):
        return law
    return LAWS[canonical_name(law)]


def register_law(law, replace=False):
    """Add ``law`` to `LAWS` under its name, so fits of it can be saved, loaded and compared.

    A built-in law is never replaced; another user law of the same name only with ``replace``.
    """
    if law.name in _BUILT_IN:
        raise ValueError(f"{law.name!r} is a built-in law; give your law another name")
    if law.name in LAWS and not replace:
        raise ValueError(f"a law named {law.name!r} is already registered; pass replace=True")
    LAWS[law.name] = law
    record_law(law.name, law.inputs)
    return law


def make_law(name, loss, *, inputs, params, priors, power_terms=(), log_space=False,
             reference="user-defined", register=True):
    """Make a `Law` from your own jnp function; it then fits, forecasts and backtests as any other.

    Parameters
    ----------
    name : str
        Registry name (`register_law`; a later `make_law` of the same name replaces it).
    loss : callable
        ``loss(p, x) -> L`` where ``p`` maps parameter names and ``x`` input names (``"N"``,
        ``"D"``, ``"C"`` or other columns of the runs) to arrays in natural units, written with
        ``jax.numpy`` and no Python branching on values. With ``log_space=True`` it is instead
        ``log_loss(p, log_x) -> log L`` on the logs of the inputs (better for huge inputs).
    inputs, params : sequence of str
        The input and parameter names the function uses.
    priors : dict or callable
        One NumPyro distribution (or fixed number) per parameter, or ``priors(runs) -> dict``
        for priors scaled to the data. Every parameter needs one (`laws.priors.PriorError` otherwise).
    power_terms : sequence of PowerTerm, optional
        Terms ``coef·x^-exponent`` of the law; the sampler centres them on the data, which removes
        the correlation between log coef and exponent (recommended when x spans decades).
    log_space : bool
    reference : str
    register : bool
        Add the law to `LAWS` (needed to load a saved fit of it in a later session: call
        `make_law` again before `Posterior.load`).

    Returns
    -------
    Law

    Examples
    --------
    >>> import jax.numpy as jnp, numpyro.distributions as dist
    >>> law = make_law("saturating", lambda p, x: p["E"] + p["A"] / (1 + x["N"] / p["N0"]),
    ...                inputs=["N"], params=["E", "A", "N0"],
    ...                priors={"E": dist.HalfNormal(2.0), "A": dist.LogNormal(0.0, 1.0),
    ...                        "N0": dist.LogNormal(20.0, 2.0)})
    >>> float(jnp.exp(law.log_loss({"E": 1.0, "A": 2.0, "N0": 1e9}, {"N": jnp.log(1e9)})))
    2.0
    """
    params, inputs = tuple(params), tuple(inputs)
    for term in power_terms:
        if term.coef not in params or term.exponent not in params:
            raise ValueError(f"power term {term} names parameters that {name!r} lacks")
    if not callable(priors):
        missing = [p for p in params if p not in priors]
        if missing:
            raise PriorError(f"law {name!r}: no prior for parameter(s) {missing}; give one each, "
                             f"e.g. priors={{{missing[0]!r}: dist.LogNormal(0.0, 1.0), ...}}")
        unknown = sorted(set(priors) - set(params))
        if unknown:
            raise PriorError(f"law {name!r}: priors given for unknown parameter(s) {unknown}; "
                             f"parameters are {list(params)}")
        fixed = dict(priors)
        priors = lambda runs: fixed  # noqa: E731
    if log_space:
        log_loss = loss
    else:
        def log_loss(p, log_x):
            return jnp.log(loss(p, {k: jnp.exp(v) for k, v in log_x.items()}))
    law = Law(name=name, inputs=inputs, param_names=params, log_loss=log_loss,
              power_terms=tuple(power_terms), reference=reference, priors=priors)
    return register_law(law, replace=True) if register else law
