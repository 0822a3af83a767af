"""The emergence model of one task: a mean score curve between chance and a ceiling, a spread
that shrinks with scale, and an observation model that keeps scores inside [0, 1].

Mean score. With ``t`` the task's scale coordinate (``log N`` or ``log C`` minus the data's
mean, or, for ``loss-linked``, minus the log-loss of a fitted law, rescaled to the same spread),
chance ``r``, ceiling ``c = r + (c_max - r)·height`` and ``σ`` the logistic function:

``sigmoid``      μ = r + (c − r)·σ(slope·(t − midpoint))
``multi-step``   μ = r + (c − r)·p^k with p = σ(slope·(t − midpoint) + logit 2^(−1/k)), so μ is
                 halfway up at the midpoint for every k: k steps must all succeed,
                 each with probability p whose error 1 − p = 1 / (1 + e^{slope·(t − midpoint)})
                 falls as a power law N^−slope once p > ½ (k = ``steps``, fitted or fixed; with
                 c_max = 1 and height = 1 this is the issue's μ = r + (1 − r)·p^k)
``loss-linked``  μ = r + (c − r)·σ(slope·(t − midpoint)) with t the rescaled −log L(N) of a
                 fitted loss law (see `emergence.fit.fit_emergence`)

Observation model. The latent accuracy ``p`` of a fresh model of scale N scatters around μ(N) as a
Beta with mean μ and variance ``μ(1 − μ)·φ(N)``, where the dispersion φ(N) = σ(logit φ₀ − γ·t)
≈ φ₀·N^−γ while it is small: the spread falls as N^−γ (γ fitted), times μ(1 − μ), the most a
variable in [0, 1] with mean μ can vary, so scores can never leave [0, 1] and their spread
vanishes as μ nears a bound, as a score's must. (A Normal or a constant-variance Beta was
rejected: the first leaves [0, 1], the second has no valid parameters when μ(1 − μ) < Var.) When
the task's number of items n is known the observed score is ``k/n`` with ``k ~ Binomial(n, p)``,
so the likelihood is the Beta-binomial: the evaluation noise μ(1 − μ)/n is modelled exactly, a
score of exactly 0 or 1 (exact match at small scale) has positive probability, and a threshold
margin δ = 0 is meaningful. When n is unknown the score itself is Beta; scores of exactly 0 or 1
are then moved `EDGE` inward (a continuous model gives them zero density), and the margin
should be positive. A logit-normal was the alternative; its mean is not μ, and with binomial
noise it has no closed-form likelihood.

Priors (weakly informative, on scales set by the data's design, never by its scores):
``height ~ Beta(2, 1)`` (ceilings near c_max favoured, any allowed), ``slope ~ LogNormal(0, 1)``
per e-fold of scale (median 1: from 12% to 88% of the way over 4 e-folds, 55x), ``midpoint ~
Normal(0, span)`` with span the data's range of t (the curve's centre may lie well outside the
data, which is how a task at chance says "not yet"), ``steps ~ LogNormal(log 2, 0.75)``,
``logit_phi ~ Normal(−4, 1)`` (φ₀ median 0.018: a spread of about 0.07 at μ = ½ at the data's
centre; 95% from 0.003 to 0.12) and ``gamma ~ Normal(0.5, 0.5)`` (the spread's variance
shrinks with scale, by e^0.5 per e-fold of N a priori, as larger models of different families
agree more; 95% from −0.5, slowly growing, to 1.5). Sampling is in the centred coordinate t, so midpoint and slope are nearly
uncorrelated.

Example
-------
>>> import jax, jax.numpy as jnp
>>> from numpyro.infer import Predictive
>>> data = task_data(t=jnp.linspace(-3, 3, 8), score=jnp.full(8, 0.5), items=jnp.zeros(8),
...                  chance=0.25)
>>> model = EmergenceModel("sigmoid").build({})
>>> prior_predictive = Predictive(model, num_samples=4)
>>> del data["score"]  # no observations: simulate scores
>>> prior_predictive(jax.random.key(0), data)["score"].shape
(4, 8)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import betainc, betaln, gammaln

__all__ = ["EmergenceModel", "MEANS", "PARAMS", "task_data", "mean_score", "score_cdf", "EDGE"]

MEANS = ("sigmoid", "multi-step", "loss-linked")
EDGE = 1e-3  # with unknown item counts, scores of exactly 0 or 1 are moved this far inward
_MU_EPS = 1e-6  # μ is kept this far from 0 and 1 (Beta parameters must be positive)
_LOG_KAPPA_MAX = 20.0
EXACT_COUNTS = 64  # score_cdf sums the Beta-binomial's pmf exactly up to this many counts


def num_params(mean, fit_steps=True):
    """How many parameters a task's fit has (a task needs at least this many scores)."""
    return 6 if mean == "multi-step" and fit_steps else 5


PARAMS = ("height", "slope", "midpoint", "steps", "logit_phi", "gamma")


def task_data(t, score, items, chance, *, ceiling=1.0, mask=None, steps=1.0, span=None):
    """The model's data dict for one task (arrays; batches stack a leading task axis).

    Parameters
    ----------
    t : array
        Scale coordinate of each score (centred log N, log C, or rescaled −log loss).
    score : array
        Scores in [0, 1].
    items : array
        Items per evaluation; 0 where unknown.
    chance, ceiling : float
        Chance level r and the largest possible score c_max (r < c_max ≤ 1).
    mask : array of bool, optional
        False for padding.
    steps : float
        k of ``multi-step`` when it is fixed (ignored when fitted).
    span : float, optional
        Prior scale of ``midpoint`` (default: the range of ``t``, at least 1).
    """
    t = jnp.asarray(t)
    mask = jnp.ones(t.shape, bool) if mask is None else jnp.asarray(mask)
    if span is None:
        live = jnp.where(mask, t, jnp.nan)
        span = jnp.maximum(jnp.nanmax(live) - jnp.nanmin(live), 1.0)
    dtype = t.dtype
    return {"t": t, "score": jnp.asarray(score, dtype), "items": jnp.asarray(items, dtype),
            "mask": mask, "chance": jnp.asarray(chance, dtype),
            "ceiling": jnp.asarray(ceiling, dtype), "steps": jnp.asarray(steps, dtype),
            "span": jnp.asarray(span, dtype)}


def mean_score(mean, params, t, chance, ceiling):
    """μ(t) of a mean shape at parameters ``params`` (a dict; arrays broadcast against t)."""
    top = chance + (ceiling - chance) * params["height"]
    z = params["slope"] * (t - params["midpoint"])
    if mean == "multi-step":
        # midpoint is where μ is halfway up (p^k = ½, p = 2^(-1/k)) for every k: sampling that
        # point instead of p's own midpoint keeps it nearly uncorrelated with k.
        k = params["steps"]
        z = z - jnp.log(jnp.expm1(jnp.log(2.0) / k))  # + logit(2^(-1/k))
        frac = jnp.exp(-k * jax.nn.softplus(-z))  # p^k, p = σ(z), in log space
    else:
        frac = jax.nn.sigmoid(z)
    return chance + (top - chance) * frac


def _dispersion_log_kappa(params, t):
    """log κ with κ = 1/φ − 1 the Beta precision; φ = σ(logit φ₀ − γ t)."""
    return jnp.clip(params["gamma"] * t - params["logit_phi"], -_LOG_KAPPA_MAX, _LOG_KAPPA_MAX)


def _beta_params(mu, log_kappa):
    mu = jnp.clip(mu, _MU_EPS, 1 - _MU_EPS)
    kappa = jnp.exp(log_kappa)
    return mu * kappa, (1 - mu) * kappa


class ScoreDistribution(dist.Distribution):
    """Score of a fresh model: Beta-binomial(n, a, b)/n where ``items`` n > 0, Beta(a, b) else."""

    arg_constraints = {}
    support = dist.constraints.unit_interval
    pytree_data_fields = ("a", "b", "items")

    def __init__(self, a, b, items, *, validate_args=None):
        self.a, self.b, self.items = jnp.broadcast_arrays(a, b, items)
        super().__init__(batch_shape=jnp.shape(self.a), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k_p, k_n = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        p = jax.random.beta(k_p, self.a, self.b, shape)
        n = jnp.broadcast_to(self.items, shape)
        counts = jax.random.binomial(k_n, jnp.maximum(n, 1.0), p)
        return jnp.where(n > 0, counts / jnp.maximum(n, 1.0), p)

    def log_prob(self, value):
        n = self.items
        known = n > 0
        k = jnp.where(known, jnp.round(value * n), 0.0)
        log_binom = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
        beta_binomial = log_binom + betaln(k + self.a, n - k + self.b) - betaln(self.a, self.b)
        s = jnp.clip(value, EDGE, 1 - EDGE)
        beta = ((self.a - 1) * jnp.log(s) + (self.b - 1) * jnp.log1p(-s)
                - betaln(self.a, self.b))
        return jnp.where(known, beta_binomial, beta)


def score_cdf(a, b, items, x, max_count):
    """P(score ≤ x) of `ScoreDistribution`; ``max_count`` (static) bounds n·x over the batch.

    Beta: the regularised incomplete beta function. Beta-binomial: the sum of its pmf over
    k = 0..⌊n·x⌋, from pmf(0) = B(a, n + b)/B(a, b) and the ratio of successive terms, in log
    space, when ``max_count`` ≤ `EXACT_COUNTS`; above that (hundreds of counts below x, where the
    discreteness no longer matters) the Beta with the Beta-binomial's mean and variance,
    evaluated at ⌊n·x⌋ + ½ (continuity correction), which costs one incomplete beta function.
    """
    n = items
    beta_cdf = betainc(a, b, jnp.clip(x, 0.0, 1.0))
    if max_count > EXACT_COUNTS:
        safe_n = jnp.maximum(n, 1.0)
        kappa = a + b
        # Var(k/n) = μ(1 − μ)·(φ + (1 − φ)/n) with φ = 1/(κ + 1): a Beta of precision κ'
        phi = (1.0 / (kappa + 1)) + (kappa / (kappa + 1)) / safe_n
        scale = (1.0 / phi - 1.0) / kappa
        edge = jnp.clip((jnp.floor(safe_n * x + 1e-6) + 0.5) / safe_n, 0.0, 1.0)
        return jnp.where(n > 0, betainc(a * scale, b * scale, edge), beta_cdf)
    k = jnp.arange(max_count + 1, dtype=jnp.result_type(a))
    kk = k.reshape((-1,) + (1,) * jnp.ndim(a))
    safe_n = jnp.maximum(n, 1.0)
    log_ratio = (jnp.log(jnp.maximum(safe_n - kk, 1e-30)) + jnp.log(kk + a)
                 - jnp.log(kk + 1) - jnp.log(jnp.maximum(safe_n - kk - 1 + b, 1e-30)))
    log_pmf0 = betaln(a, safe_n + b) - betaln(a, b)
    log_pmf = log_pmf0 + jnp.concatenate([jnp.zeros_like(log_ratio[:1]),
                                          jnp.cumsum(log_ratio[:-1], axis=0)])
    top = jnp.floor(safe_n * x + 1e-6)
    log_pmf = jnp.where((kk <= top) & (kk <= safe_n), log_pmf, -jnp.inf)
    bb_cdf = jnp.exp(jax.nn.logsumexp(log_pmf, axis=0))
    return jnp.where(n > 0, jnp.minimum(bb_cdf, 1.0), beta_cdf)


def score_distribution(mean, params, t, chance, ceiling, items):
    """`ScoreDistribution` of a fresh model at scale coordinate ``t``."""
    mu = mean_score(mean, params, t, chance, ceiling)
    a, b = _beta_params(mu, _dispersion_log_kappa(params, t))
    return ScoreDistribution(a, b, items)


@dataclasses.dataclass(frozen=True)
class EmergenceModel:
    """Model spec for the batch sampler (`inference.sampler.run_batch`): hashable, builds the model.

    ``build(model_args)`` (``model_args`` unused: the priors' scales travel in the data) returns
    ``model(data)`` with ``data`` from `task_data`; sites ``height``, ``slope``, ``midpoint``,
    (``steps``), ``logit_phi``, ``gamma`` and the observed ``score``.
    """

    mean: str = "sigmoid"
    fit_steps: bool = True
    observed: str = "score"

    def __post_init__(self):
        if self.mean not in MEANS:
            raise ValueError(f"unknown mean shape {self.mean!r}; choose one of {MEANS}")

    def build(self, model_args=None):
        return make_model(self.mean, self.fit_steps and self.mean == "multi-step")


def priors(span):
    """The prior of each parameter (``span``: the data's range of t)."""
    return {"height": dist.Beta(2.0, 1.0), "slope": dist.LogNormal(0.0, 1.0),
            "midpoint": dist.Normal(0.0, span), "steps": dist.LogNormal(jnp.log(2.0), 0.75),
            "logit_phi": dist.Normal(-4.0, 1.0), "gamma": dist.Normal(0.5, 0.5)}


def make_model(mean, fit_steps):
    """``model(data)``: the observed ``score`` is ``data["score"]`` (simulated when absent)."""

    def model(data):
        prior = priors(data["span"])
        params = {name: numpyro.sample(name, prior[name])
                  for name in ("height", "slope", "midpoint", "logit_phi", "gamma")}
        params["steps"] = (numpyro.sample("steps", prior["steps"]) if fit_steps
                           else data["steps"])
        observation = score_distribution(mean, params, data["t"], data["chance"],
                                         data["ceiling"], data["items"])
        numpyro.sample("score", observation.mask(data["mask"]), obs=data.get("score"))

    return model
