"""Partial pooling across groups of runs (model families, datasets, optimisers): one hierarchical fit.

Runs carry a group label. Each parameter of the law named in ``pool`` is partially pooled on the
log scale: group g has log θ_g = log θ_pop + τ_θ·z_g with z_g ~ Normal(0, 1) (the non-centred
form, which samples well when the groups agree), so τ_θ is the relative spread between groups
(τ = 0.1: groups differ by about 10%). The population value θ_pop gets the law's prior for θ and
τ_θ a half-normal prior (`TAU_PRIOR_SCALE`; override with a prior named ``"<θ>_tau"``). Every
other parameter of the law is the group's own, with the law's prior, independently per group.
The noise (σ, ν) is shared by all runs.

Coefficients (A, B) keep the single fit's geometry (`models`): each group's is sampled as the log
of its term at the centre of that group's runs. A pooled coefficient has log A_g ~ Normal(log
A_pop, τ_A) (τ_A in nats, `COEF_TAU_PRIOR_SCALE`: families' coefficients differ by factors of
several), with A_pop sampled through its term at the centre of all runs; it needs its exponent
pooled too, so that the population has a term to speak of.

The result, `PooledPosterior`, summarises every group and the population. ``for_group(name)``
gives an ordinary `Posterior` of one group's parameters and runs, and ``for_new_group(key)`` one of
a group not yet seen (each draw's parameters drawn afresh from the population, which needs every
parameter of the law pooled); forecasts, plots, reports and compute-optimal plans then work on
them unchanged.

Example
-------
A pooled fit takes a minute on 2 CPU cores (tests/inference/test_pooled.py fits these runs):

>>> import jax, bayes_scaling as bs
>>> from bayes_scaling.inference.pooled import fit_pooled, simulate_groups
>>> runs = simulate_groups(jax.random.key(11), num_groups=3, runs_per_group=30)
>>> post = fit_pooled(runs, key=jax.random.key(12), pool=("alpha", "beta"))  # doctest: +SKIP
>>> post.groups  # doctest: +SKIP
['g0', 'g1', 'g2']
>>> post.idata.posterior["alpha"].dims  # doctest: +SKIP
('chain', 'draw', 'group')
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import transforms

from ..data import Runs, RunsError, load_runs
from ..datasets import EPOCH_CHINCHILLA
from ..laws.priors import (PriorError, all_param_names, check_priors, default_priors,
                           has_positive_support)
from ..laws.registry import get_law, term_log_input
from ..likelihood import get_likelihood
from ..models import centre_site, model_data, observation_noise
from ..posterior import PooledPosterior
from .padding import pad_runs, pad_to, padded_size
from .sampler import (MAX_POINTWISE_LOGLIK, SamplerConfig, chain_layout, compiled_model,
                      join_priors, sample_with_progress, settled, split_priors)

__all__ = ["fit_pooled", "pooled_config", "PooledPosterior", "simulate_groups", "TAU_PRIOR_SCALE",
           "COEF_TAU_PRIOR_SCALE", "POOLED_TARGET_ACCEPT"]

# Default target acceptance of a pooled fit. On 3 simulated groups of 30 runs, 0.9 and 0.95 left
# 4 divergent transitions each; at 0.99, 3 of 20 fits (keys x CPU instruction sets) still had 1-2,
# all in the upper tail of a spread τ (0.21 against a 95% quantile of 0.13), where the
# non-centred geometry curves; at 0.995, none in 36 fits (12 keys x native, AVX2, SSE4_2; one of
# them failed the gate on R-hat alone, 1.0103), for ~20% more time (8.6 s against 7.2 s a fit).
POOLED_TARGET_ACCEPT = 0.995
TAU_PRIOR_SCALE = 0.1  # HalfNormal scale of τ for exponents, E, ...: groups within ~10% a priori
COEF_TAU_PRIOR_SCALE = 1.0  # HalfNormal scale of τ for a coefficient's log term (nats)


def _log_of(prior):
    """The distribution of log θ for θ ~ ``prior`` (positive support)."""
    return dist.TransformedDistribution(prior, transforms.ExpTransform().inv)


def tau_prior(law, name):
    """The default prior of the between-group spread τ of parameter ``name``."""
    coefs = {term.coef for term in law.power_terms}
    return dist.HalfNormal(COEF_TAU_PRIOR_SCALE if name in coefs else TAU_PRIOR_SCALE)


def check_pool(law, pool, priors):
    """Raise `PriorError` unless every name in ``pool`` can be pooled (see the module)."""
    exponent_of = {term.coef: term.exponent for term in law.power_terms}
    repeated = sorted({name for name in pool if list(pool).count(name) > 1})
    if repeated:
        raise PriorError(f"{repeated} named twice in the pooled parameters {list(pool)}")
    unknown = [name for name in pool if name not in law.param_names]
    if unknown:
        raise PriorError(f"cannot pool {unknown}: law {law.name!r} has parameters "
                         f"{list(law.param_names)}")
    for name in pool:
        prior = priors[name]
        if not isinstance(prior, dist.Distribution):
            raise PriorError(f"cannot pool {name!r}: its prior fixes it at {prior}")
        if not has_positive_support(prior):
            raise PriorError(f"cannot pool {name!r}: pooling is on the log scale and its prior "
                             f"{type(prior).__name__} allows values ≤ 0")
        if name in exponent_of and exponent_of[name] not in pool:
            raise PriorError(f"pooling the coefficient {name!r} needs its exponent "
                             f"{exponent_of[name]!r} pooled too")


def _group_parameter(name, prior, tau, pooled, plate):
    """Group values of a non-coefficient parameter (shape (groups,)), and its population log."""
    if not isinstance(prior, dist.Distribution):
        return numpyro.deterministic(name, jnp.full(plate.size, prior)), None
    if not pooled:
        with plate:
            return numpyro.sample(name, prior), None
    log_pop = numpyro.sample(f"log_{name}_pop", _log_of(prior))
    spread = numpyro.sample(f"{name}_tau", tau)
    with plate:
        z = numpyro.sample(f"{name}_z", dist.Normal(0.0, 1.0))
    numpyro.deterministic(f"{name}_pop", jnp.exp(log_pop))
    return numpyro.deterministic(name, jnp.exp(log_pop + spread * z)), log_pop


def _group_coefficient(term, prior, tau, params, log_pop, values, group, mask, plate):
    """Group values of a coefficient, sampled through the log of its term at a centre (of the
    runs where ``mask`` is True: the rest is padding)."""
    if not isinstance(prior, dist.Distribution):
        return numpyro.deterministic(term.coef, jnp.full(plate.size, prior))
    exponent = params[term.exponent]
    weight = mask.astype(values.dtype)
    counts = jax.ops.segment_sum(weight, group, plate.size)
    centre = jax.ops.segment_sum(values * weight, group, plate.size) / counts
    shift = exponent * centre  # log coef = log term at the group's centre + shift
    if log_pop is None:  # group-specific: the law's prior, as in a single fit
        group_prior = prior
    else:
        # The population's coefficient, through its term at the centre of all runs (as in a
        # single fit); each group's log coefficient ~ Normal(its log, τ), centred: groups'
        # coefficients differ by factors of several, so τ is large and there is no funnel.
        centre_all = jnp.sum(values * weight) / jnp.sum(weight)
        shift_pop = jnp.exp(log_pop) * centre_all
        pop_term = numpyro.sample(f"{centre_site(term.coef)}_pop", dist.TransformedDistribution(
            prior, [transforms.ExpTransform().inv, transforms.AffineTransform(-shift_pop, 1.0)]))
        log_coef_pop = pop_term + shift_pop
        numpyro.deterministic(f"{term.coef}_pop", jnp.exp(log_coef_pop))
        group_prior = dist.LogNormal(log_coef_pop, numpyro.sample(f"{term.coef}_tau", tau))
    with plate:
        log_term = numpyro.sample(centre_site(term.coef), dist.TransformedDistribution(
            group_prior, [transforms.ExpTransform().inv, transforms.AffineTransform(-shift, 1.0)]))
    coef = jnp.exp(log_term + shift)
    if prior.support is not dist.constraints.positive:  # bounded prior: see models._coefficient
        numpyro.factor(f"{term.coef}_in_support",
                       jnp.where(prior.support(coef), 0.0, -jnp.inf).sum())
    return numpyro.deterministic(term.coef, coef)


def _make_pooled_model(law, priors, likelihood, pool, num_groups):
    """``model(x, y, group, mask)``: the hierarchical model (see the module); ``group`` indexes
    runs, ``mask`` is False for padding (see `inference.padding`)."""
    coefs = {term.coef for term in law.power_terms}

    def model(x, y, group, mask):
        plate = numpyro.plate("group", num_groups)
        params, log_pop = {}, {}
        for name in law.param_names:
            if name not in coefs:
                params[name], log_pop[name] = _group_parameter(
                    name, priors[name], priors.get(f"{name}_tau"), name in pool, plate)
        for term in law.power_terms:
            params[term.coef] = _group_coefficient(
                term, priors[term.coef], priors.get(f"{term.coef}_tau"), params,
                log_pop.get(term.exponent) if term.coef in pool else None,
                term_log_input(term, x), group, mask, plate)
        mean = law.log_loss({name: value[group] for name, value in params.items()}, x)
        numpyro.sample("log_loss", observation_noise(likelihood, mean, priors).mask(mask), obs=y)

    return model


@dataclasses.dataclass(frozen=True)
class PooledLawModel:
    """Model spec of a pooled fit for the cached sampler (see `sampler.LawModel`)."""

    law: object
    likelihood: str
    prior_spec: tuple
    pool: tuple
    num_groups: int
    observed: str = "log_loss"

    def build(self, prior_values):
        priors = join_priors(self.prior_spec, prior_values)
        return _make_pooled_model(self.law, priors, self.likelihood, self.pool, self.num_groups)


def pooled_config(**settings):
    """The sampler settings of a pooled fit: `SamplerConfig` of ``settings`` with target
    acceptance `POOLED_TARGET_ACCEPT` unless given (`fit_pooled`'s default; the CLI's for
    ``fit --group-col``).

    >>> pooled_config(num_chains=2).target_accept == POOLED_TARGET_ACCEPT
    True
    """
    return SamplerConfig(**{"target_accept": POOLED_TARGET_ACCEPT, **settings})


def fit_pooled(data, *, key, pool=None, law="chinchilla", priors=None, likelihood="student_t",
               config=None, dtype=None, **load_options):
    """Fit one law to groups of runs with partial pooling of the parameters in ``pool``.

    Parameters
    ----------
    data : Runs, str, os.PathLike or pandas.DataFrame
        Runs with a group label (`load_runs`'s ``group=COLUMN`` names the column).
    key : jax.random key
    pool : sequence of str, optional
        Parameters partially pooled across groups; default: the law's exponents. Parameters not
        named are the groups' own.
    law, likelihood, dtype
        As for `api.fit`.
    config : SamplerConfig, optional
        Default: `pooled_config()`, 4 chains × (1000 + 1000) at target acceptance
        `POOLED_TARGET_ACCEPT` (0.995).
    priors : dict, optional
        Overrides by name: the law's parameters (the population's prior for a pooled one, each
        group's for the others), the noise, and ``"<name>_tau"`` for a spread.

    Returns
    -------
    PooledPosterior
        Warns with `ConvergenceWarning` if the diagnostics gate fails.
    """
    law = get_law(law)
    get_likelihood(likelihood)  # a clear error for an unknown name
    runs = data if isinstance(data, Runs) else load_runs(data, law=law, **load_options)
    if runs.group is None:
        raise RunsError(f"{runs.source}: a pooled fit needs a group column; name it with "
                        f"group=COLUMN (CLI: --group-col COLUMN)")
    pool = tuple(pool) if pool is not None else tuple(t.exponent for t in law.power_terms)
    names, group = np.unique(runs.group, return_inverse=True)
    names = [str(name) for name in names]
    if len(names) < 2:
        raise RunsError(f"{runs.source}: pooling needs at least 2 groups, found {names}")
    spreads = {f"{name}_tau": name for name in pool}
    chosen = {**default_priors(law, runs, likelihood),
              **{tau: tau_prior(law, name) for tau, name in spreads.items()}}
    chosen.update(priors or {})
    base = {name: prior for name, prior in chosen.items() if name not in spreads}
    unknown = sorted(name for name in set(base) - set(all_param_names(law, likelihood))
                     if name.endswith("_tau"))
    if unknown:
        raise PriorError(f"prior given for the spread(s) {unknown} of parameters that are not "
                         f"pooled; pooled: {list(pool)}")
    check_priors(law, base, likelihood)
    check_pool(law, pool, chosen)
    config = settled(config or pooled_config())
    x, y = model_data(runs, law, dtype)
    size = padded_size(len(runs)) if config.pad_runs else len(runs)
    x, y, mask, group = jax.device_put((*pad_runs(x, y, size),
                                        pad_to(np.asarray(group, np.int32), size)))
    prior_spec, prior_values = split_priors(chosen, y.dtype)
    spec = PooledLawModel(law, likelihood, prior_spec, pool, len(names))
    pointwise = config.num_chains * config.num_samples * size <= MAX_POINTWISE_LOGLIK
    run = compiled_model(spec, config, chain_layout(config), pointwise)
    keys = jax.random.split(key, config.num_chains)
    samples, stats, loglik = sample_with_progress(run, config, keys, (x, y, group, mask),
                                                  prior_values)
    loglik = None if loglik is None else np.asarray(loglik)[..., :len(runs)]
    post = PooledPosterior.from_arrays(law=law, likelihood=likelihood, priors=chosen, runs=runs,
                                       samples=samples, stats=stats, loglik=loglik,
                                       config=config, pool=pool, groups=names)
    post.warn_if_unconverged()
    return post


def simulate_groups(key, *, num_groups=4, runs_per_group=40, law="chinchilla", truth=None,
                    spread=None, sigma=0.01, flops_per_param_token=6.0):
    """Simulated runs of several groups that share exponents and E but not A and B.

    Parameters
    ----------
    key : jax.random key
    num_groups, runs_per_group : int
    law : str
        Only the Chinchilla form is supported.
    truth : dict, optional
        Population parameters (default: Epoch AI's refit, `datasets.EPOCH_CHINCHILLA`).
    spread : dict, optional
        Relative spread between groups per parameter (log scale); default: A and B vary by
        30%, the rest is shared.
    sigma : float
        Normal noise sd of log-loss.

    Returns
    -------
    Runs
        With ``group`` labels ``"g0"``, ``"g1"``, ... and a design of N in 10^7.5–10^9.5 and
        D/N in 5–80 per group (log-uniform).

    >>> runs = simulate_groups(jax.random.key(0), num_groups=2, runs_per_group=5)
    >>> len(runs), sorted(set(runs.group.tolist()))
    (10, ['g0', 'g1'])
    """
    if get_law(law).name != "chinchilla":
        raise ValueError("simulate_groups simulates the Chinchilla form only")
    truth = dict(EPOCH_CHINCHILLA if truth is None else truth)
    spread = {"A": 0.3, "B": 0.3} if spread is None else spread
    k_params, k_n, k_ratio, k_noise = jax.random.split(key, 4)
    size = (num_groups, runs_per_group)
    z = np.asarray(jax.random.normal(k_params, (num_groups, len(truth))))
    params = {name: truth[name] * np.exp(spread.get(name, 0.0) * z[:, i])[:, None]
              for i, name in enumerate(truth)}
    N = 10 ** np.asarray(jax.random.uniform(k_n, size, minval=7.5, maxval=9.5), np.float64)
    D = N * 10 ** np.asarray(jax.random.uniform(k_ratio, size, minval=np.log10(5),
                                                maxval=np.log10(80)), np.float64)
    mean = params["E"] + params["A"] / N ** params["alpha"] + params["B"] / D ** params["beta"]
    loss = mean * np.exp(sigma * np.asarray(jax.random.normal(k_noise, size), np.float64))
    group = np.repeat([f"g{i}" for i in range(num_groups)], runs_per_group)
    return Runs(N=N.ravel(), D=D.ravel(), C=flops_per_param_token * (N * D).ravel(),
                loss=loss.ravel(), group=group, source="simulate_groups",
                flops_per_param_token=flops_per_param_token,
                columns={"group": "group"})
