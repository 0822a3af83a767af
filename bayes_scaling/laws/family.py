"""The family of laws beyond Chinchilla: one variable, pure power, Kaplan, broken, data-constrained
and effective data. `laws.registry.LAWS` registers them; each is a pure log-space function as in `laws`.

==================  ======================  ===============================================
registry name       inputs                  law
==================  ======================  ===============================================
power_N/_D/_C       N, D or C               L = E + A·x^-α
pure_power_N/_D/_C  N, D or C               L = A·x^-α (E = 0: a straight line in log-log)
kaplan              N, D                    L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D
broken_N/_D/_C      N, D or C               L = E + A·x^-α·(1 + (x/x_b)^(1/f))^(-β·f)
data_constrained    N, D, U                 Chinchilla on the effective N' and D' of repeated
                                            data (Muennighoff et al. 2023)
data_constrained_   N, D, U                 the same with β = α (the published fit's form)
tied
effective_data      N, D_1, D_2             L = E + A·N^-α + B·(D_1 + w_2·D_2)^-β
==================  ======================  ===============================================

`effective_data_law` builds the effective-data law for any number of token sources. Default
priors for every parameter are in `priors` (the table in its docstring).

Example
-------
>>> import jax.numpy as jnp
>>> law = power_law("N")
>>> p = dict(E=1.7, A=400.0, alpha=0.34)
>>> round(float(jnp.exp(law.log_loss(p, {"N": jnp.log(jnp.array([1e9]))}))[0]), 4)
2.0484
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.nn import softplus
from jax.scipy.special import logsumexp

from .base import Law, PowerTerm, compute_optimal_exponents

__all__ = ["power_law", "pure_power_law", "broken_power_law", "effective_data_law", "KAPLAN",
           "DATA_CONSTRAINED", "DATA_CONSTRAINED_TIED", "FAMILY", "MUENNIGHOFF_FIT", "KAPLAN_FIT"]

# Kaplan et al. 2020, Table 2 (fit of eq. 1.5 to L(N, D)).
KAPLAN_FIT = {"N_c": 6.4e13, "alpha_N": 0.076, "D_c": 1.8e13, "alpha_D": 0.103}
# Muennighoff et al. 2023, README of huggingface/datablations (stored as a = log A, b, e).
MUENNIGHOFF_FIT = {"E": math.exp(0.6254804), "A": math.exp(6.255414), "alpha": 0.3526596,
                   "B": math.exp(7.3049974), "beta": 0.3526596, "R_D_star": 15.387756,
                   "R_N_star": 5.309743}


def _lse(*terms):
    """log(Σ exp(term)) of broadcastable terms."""
    return logsumexp(jnp.stack(jnp.broadcast_arrays(*terms)), axis=0)


def power_law(x):
    """L(x) = E + A·x^-α in one input ``x`` ("N", "D" or "C"); Kaplan et al. 2020 fit each alone.

    >>> power_law("D").inputs
    ('D',)
    """
    def log_loss(p, log_x):
        return _lse(jnp.log(p["E"]), jnp.log(p["A"]) - p["alpha"] * log_x[x])

    return Law(name=f"power_{x}", inputs=(x,), param_names=("E", "A", "alpha"),
               log_loss=log_loss, power_terms=(PowerTerm("A", "alpha", x),),
               reference=f"L({x}) = E + A·{x}^-α; Kaplan et al. 2020, arXiv:2001.08361, sec. 3 "
                         f"(with an irreducible term as in Henighan et al. 2020, arXiv:2010.14701)")


def pure_power_law(x):
    """L(x) = A·x^-α, no irreducible term: log L = log A − α·log x, a straight line in log-log.

    >>> pure_power_law("C").param_names
    ('A', 'alpha')
    """
    def log_loss(p, log_x):
        return jnp.log(p["A"]) - p["alpha"] * log_x[x]

    return Law(name=f"pure_power_{x}", inputs=(x,), param_names=("A", "alpha"),
               log_loss=log_loss, power_terms=(PowerTerm("A", "alpha", x),),
               reference=f"L({x}) = A·{x}^-α; Kaplan et al. 2020, arXiv:2001.08361, eqs. 1.1-1.3 "
                         f"(written there as ({x}_c/{x})^α)")


def _kaplan_log_loss(p, log_x):
    # log L = α_D · log[(N_c/N)^(α_N/α_D) + D_c/D]
    ratio = p["alpha_N"] / p["alpha_D"]
    return p["alpha_D"] * _lse(ratio * (jnp.log(p["N_c"]) - log_x["N"]),
                               jnp.log(p["D_c"]) - log_x["D"])


KAPLAN = Law(
    name="kaplan",
    inputs=("N", "D"),
    param_names=("N_c", "alpha_N", "D_c", "alpha_D"),
    log_loss=_kaplan_log_loss,
    reference="Kaplan et al. 2020, arXiv:2001.08361, eq. (1.5): "
              "L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D; Table 2 fit: α_N=0.076, α_D=0.103, "
              "N_c=6.4e13, D_c=1.8e13",
)


def broken_power_law(x):
    """Smoothly broken power law with one break (BNSL) in one input ``x``.

    L = E + A·x^-α·(1 + (x/x_b)^(1/f))^(-β·f): exponent α below the break at ``x_b``, α + β above
    it, and ``f`` sets how sharp the bend is (small f: sharp). In log space the bend is
    ``β·f·softplus((log x − log x_b)/f)``, stable for any f > 0.

    >>> broken_power_law("D").param_names
    ('E', 'A', 'alpha', 'beta', 'x_b', 'f')
    """
    def log_loss(p, log_x):
        v = log_x[x]
        bend = p["beta"] * p["f"] * softplus((v - jnp.log(p["x_b"])) / p["f"])
        return _lse(jnp.log(p["E"]), jnp.log(p["A"]) - p["alpha"] * v - bend)

    return Law(name=f"broken_{x}", inputs=(x,), param_names=("E", "A", "alpha", "beta", "x_b", "f"),
               log_loss=log_loss, power_terms=(PowerTerm("A", "alpha", x),),
               reference="Caballero et al. 2023, Broken Neural Scaling Laws, arXiv:2210.14891, "
                         "eq. (1) with n = 1: y = a + b·x^-c0·(1 + (x/d1)^(1/f1))^(-c1·f1) "
                         "(a=E, b=A, c0=α, c1=β, d1=x_b, f1=f)")


def _log_repeat_gain(log_ratio, r_star):
    """log of the effective over the unique amount, 1 + R*·(1 − e^(−R/R*)), where
    R = e^log_ratio − 1 ≥ 0 counts the repetitions (Muennighoff et al. 2023, eq. 5)."""
    repeats = jnp.expm1(log_ratio)
    return jnp.log1p(-r_star * jnp.expm1(-repeats / r_star))


def _data_constrained_log_loss(p, log_x):
    alpha, beta = p["alpha"], p["beta"]
    log_unique_d = jnp.minimum(log_x["U"], log_x["D"])  # U_D: at most the tokens seen
    log_d_eff = log_unique_d + _log_repeat_gain(log_x["D"] - log_unique_d, p["R_D_star"])
    # U_N: the compute-optimal size for U_D tokens, N = G·(U_D·G)^(β/α) (Hoffmann et al. eq. 4)
    log_g = (jnp.log(alpha * p["A"]) - jnp.log(beta * p["B"])) / (alpha + beta)
    log_unique_n = jnp.minimum(log_x["N"], log_g + beta / alpha * (log_unique_d + log_g))
    log_n_eff = log_unique_n + _log_repeat_gain(log_x["N"] - log_unique_n, p["R_N_star"])
    return _lse(jnp.log(p["E"]), jnp.log(p["A"]) - alpha * log_n_eff,
                jnp.log(p["B"]) - beta * log_d_eff)


DATA_CONSTRAINED = Law(
    name="data_constrained",
    inputs=("N", "D", "U"),
    param_names=("E", "A", "alpha", "B", "beta", "R_D_star", "R_N_star"),
    log_loss=_data_constrained_log_loss,
    power_terms=(PowerTerm("A", "alpha", "N"), PowerTerm("B", "beta", "U")),
    reference="Muennighoff et al. 2023, Scaling Data-Constrained Language Models, "
              "arXiv:2305.16264, eqs. (5)-(6): L = E + A/N'^α + B/D'^β with "
              "D' = U_D + U_D·R_D*·(1 − e^(−R_D/R_D*)) and likewise N'; "
              "published R_D*=15.4, R_N*=5.3, α=β=0.353",
    derived=compute_optimal_exponents,
)


def _tied_log_loss(p, log_x):
    return _data_constrained_log_loss({**p, "beta": p["alpha"]}, log_x)


DATA_CONSTRAINED_TIED = Law(
    name="data_constrained_tied",
    inputs=("N", "D", "U"),
    param_names=("E", "A", "alpha", "B", "R_D_star", "R_N_star"),
    log_loss=_tied_log_loss,
    power_terms=(PowerTerm("A", "alpha", "N"), PowerTerm("B", "alpha", "U")),
    reference="data_constrained with β = α, as in the published fit (α = β = 0.353; "
              "Muennighoff et al. 2023)",
)


def effective_data_law(num_sources=2, name=None):
    """Chinchilla on effective data D_eff = D_1 + w_2·D_2 + ... from several token sources.

    Source 1 is the reference (w_1 = 1): the weights and B are not separately identifiable, so
    each ``w_i`` is the worth of a token of source i in tokens of source 1. Inputs are
    ``N, D_1, ..., D_k``; ``load_runs(..., inputs={"D_1": "web_tokens", ...})`` maps them.

    >>> effective_data_law(3).param_names
    ('E', 'A', 'alpha', 'B', 'beta', 'w_2', 'w_3')
    """
    if num_sources < 2:
        raise ValueError(f"effective data needs at least 2 sources, got {num_sources}")
    sources = tuple(f"D_{i}" for i in range(1, num_sources + 1))
    weights = tuple(f"w_{i}" for i in range(2, num_sources + 1))

    def log_loss(p, log_x):
        log_d_eff = _lse(log_x[sources[0]],
                         *(jnp.log(p[w]) + log_x[d] for w, d in zip(weights, sources[1:])))
        return _lse(jnp.log(p["E"]), jnp.log(p["A"]) - p["alpha"] * log_x["N"],
                    jnp.log(p["B"]) - p["beta"] * log_d_eff)

    return Law(name=name or ("effective_data" if num_sources == 2 else
                             f"effective_data_{num_sources}"),
               inputs=("N",) + sources, param_names=("E", "A", "alpha", "B", "beta") + weights,
               log_loss=log_loss,
               power_terms=(PowerTerm("A", "alpha", "N"), PowerTerm("B", "beta", sources)),
               reference="L = E + A·N^-α + B·D_eff^-β with D_eff = Σ w_i·D_i (w_1 = 1); "
                         "Chinchilla (Hoffmann et al. 2022) on quality-weighted tokens, "
                         "cf. the effective-data view of Muennighoff et al. 2023",
               derived=compute_optimal_exponents)


FAMILY = (
    *(power_law(x) for x in ("N", "D", "C")),
    *(pure_power_law(x) for x in ("N", "D", "C")),
    KAPLAN,
    *(broken_power_law(x) for x in ("N", "D", "C")),
    DATA_CONSTRAINED,
    DATA_CONSTRAINED_TIED,
    effective_data_law(2),
)
