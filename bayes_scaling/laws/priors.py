"""Default priors per law, and parsing of ``"alpha=Beta(2,5)"``-style overrides.

Priors are stated on the published parameterization (A, B, α, β, E, plus the noise scale σ and,
for the Student-t likelihood, its degrees of freedom ν) and honoured exactly by the model. A prior
may also be a plain number, which fixes that parameter (``"nu=5"``, ``"E=0"``).

The defaults are weakly informative and scaled to the data's design (the geometric-mean N and D)
and to its typical loss ``s`` (the median), because the sensible size of a coefficient such as A
depends entirely on the units of N:

==========  ==============================================  ===========================================
parameter   default                                         why
==========  ==============================================  ===========================================
E           HalfNormal(s)                                   irreducible loss: positive, below the
                                                            typical loss with ~68% probability
alpha, beta LogNormal(log 0.35, 0.4)                        published Chinchilla-form exponents sit at
                                                            0.2-0.7; 95% of the mass is in 0.16-0.77
A, B        LogNormal(log(s/4) + 0.35·mean log x, 1)        a priori each term is about a quarter of
                                                            the typical loss at the runs' central size
                                                            (within a factor e either way, 1 sd)
sigma       HalfNormal(0.1)                                 noise sd of log-loss; observed scatter is
                                                            0.005-0.05
nu          ShiftedGamma(2, 0.1, low=2): ν − 2 ~ Gamma(2,   Student-t degrees of freedom (Juárez and
            0.1)                                            Steel 2010, from 2: finite variance):
                                                            robust yet Normal-capable
==========  ==============================================  ===========================================

(σ's and ν's defaults are the likelihood's own: `likelihood.LIKELIHOODS`.)

Every coefficient of a term ``coef·x^-exponent`` (any law) gets the A, B rule above, with the
median of its exponent's prior in place of 0.35, x the term's input (the sum of the sources for
effective data), and the whole typical loss instead of a quarter when the term is the law's only
one (pure power laws). The other laws' own parameters (`laws_family`):

==============  ====================================  ==========================================
parameter       default                               why
==============  ====================================  ==========================================
alpha of        LogNormal(log 0.175, 0.5)             compute splits between N and D, so its
power_C                                               exponent is about αβ/(α+β), half of 0.35;
                                                      95% in 0.066-0.47
alpha of        LogNormal(log 0.1, 0.75)              without an irreducible term loss exponents
pure_power_*                                          are small (Kaplan et al.: 0.050-0.095);
                                                      95% in 0.023-0.43
alpha_N,        LogNormal(log 0.1, 0.75)              as above (Kaplan et al. Table 2: 0.076,
alpha_D                                               0.103)
N_c, D_c        LogNormal(mean log x + log(s)/0.1, 5)  where (x_c/x)^0.1 is the typical loss at the
                                                      runs' central x; sd 5 nats of log x_c
alpha of        LogNormal(log 0.2, 1)                 exponent before the break; may be near 0
broken_*                                              (BNSL 4-digit addition: 0.055)
beta of         LogNormal(log 0.5, 1.5)               change of exponent at the break: 95% in
broken_*                                              0.026-9.5 (sharp drops are large)
x_b             LogNormal(mean log x, max(r/2, 0.5))  break inside the runs' log range r (±1 sd
                                                      covers it)
f               LogNormal(log 0.3, 1)                 sharpness of the bend (small: sharp)
R_D_star,       LogNormal(log 10, 1)                  epochs (parameter excess) over which
R_N_star                                              repetition stops helping; published 15.4
                                                      and 5.3; 95% in 1.4-71
w_2, w_3, ...   LogNormal(0, 1)                       a token of source i is a priori worth one
                                                      of source 1, within a factor e (1 sd)
==============  ====================================  ==========================================

A user law (`laws.registry.make_law`) brings its own priors; every parameter must have one.

Because A and α are independent a priori and log N sits near 20, the prior on each term's size
is still wide: on a Chinchilla-like design the prior predictive loss has median ≈ 2.4 s, and
about two thirds of it lies below 12 nats (an untrained language model's loss), which
`tests/test_priors.py` checks. Users with real knowledge should state it (``--prior``).

Example
-------
>>> p = parse_prior("alpha=Beta(2, 5)")
>>> p["alpha"].concentration1
2.0
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import numpyro.distributions as dist

from ..errors import PriorError
from ..likelihood import ShiftedGamma, noise_param_names, noise_priors
from .registry import get_law, term_log_input

__all__ = ["default_priors", "parse_prior", "parse_priors", "read_prior_file", "check_priors",
           "all_param_names", "describe_prior", "PriorError"]

EXPONENT_PRIOR_MEDIAN = 0.35
EXPONENT_PRIOR_SD = 0.4  # of log exponent
TERM_SHARE = 0.25  # prior median of a term at the centre, as a share of the median loss
COEF_PRIOR_SD = 1.0  # of log coefficient
SMALL_EXPONENT = (math.log(0.1), 0.75)  # LogNormal (loc, scale): exponents of laws without E
CRITICAL_SCALE_SD = 5.0  # of log N_c, log D_c (Kaplan)
REPEAT_PRIOR = (math.log(10.0), 1.0)  # R_D*, R_N* (data-constrained)
WEIGHT_PRIOR = (0.0, 1.0)  # w_i (effective data)

# Distributions accepted in prior strings; positional arguments follow NumPyro's order.
_DISTRIBUTIONS = {name: getattr(dist, name) for name in (
    "Normal", "LogNormal", "HalfNormal", "HalfCauchy", "Cauchy", "StudentT", "Beta", "Gamma",
    "InverseGamma", "Exponential", "Uniform", "TruncatedNormal", "LogUniform", "Laplace",
)} | {"ShiftedGamma": ShiftedGamma}
_SPEC = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*$")
_CALL = re.compile(r"^([A-Za-z]\w*)\s*\((.*)\)$")


def all_param_names(law, likelihood):
    """Every parameter a fit has: the law's, then the likelihood's."""
    return tuple(get_law(law).param_names) + noise_param_names(likelihood)


def default_priors(law, runs, likelihood="student_t"):
    """Weakly informative priors for ``law`` scaled to ``runs`` (see the module docstring).

    Parameters
    ----------
    law : Law or str
    runs : Runs
    likelihood : {"student_t", "normal"}

    Returns
    -------
    dict of str to numpyro.distributions.Distribution

    Examples
    --------
    >>> from bayes_scaling.simulation import simulate
    >>> import jax
    >>> priors = default_priors("chinchilla", simulate(jax.random.key(0)))
    >>> sorted(priors)
    ['A', 'B', 'E', 'alpha', 'beta', 'nu', 'sigma']
    """
    law = get_law(law)
    if law.priors is not None:
        priors = dict(law.priors(runs))  # a user law's own; `check_priors` names any missing
    else:
        priors = _built_in_priors(law, runs)
    priors.update(noise_priors(likelihood))
    return priors


def _built_in_priors(law, runs):
    """The law's parameters' defaults (module docstring); names without a rule are left out."""
    scale = float(np.median(runs.loss))
    log_mean = {name: float(np.mean(np.log(runs.input(name, law.name)))) for name in law.inputs}
    priors = {}
    for name in law.param_names:
        prior = _named_prior(law, name, scale, log_mean, runs)
        if prior is not None:
            priors[name] = prior
    exponents = {term.exponent for term in law.power_terms}
    for name in exponents - set(priors):
        priors[name] = dist.LogNormal(math.log(EXPONENT_PRIOR_MEDIAN), EXPONENT_PRIOR_SD)
    share = 1.0 if "E" not in law.param_names and len(law.power_terms) == 1 else TERM_SHARE
    for term in law.power_terms:
        exponent = priors[term.exponent]
        median = float(np.exp(exponent.loc)) if isinstance(exponent, dist.LogNormal) \
            else EXPONENT_PRIOR_MEDIAN
        log_x = term_log_input(term, {n: np.log(runs.input(n, law.name)) for n in law.inputs})
        loc = math.log(share * scale) + median * float(np.mean(log_x))
        priors[term.coef] = dist.LogNormal(loc, COEF_PRIOR_SD)
    return {name: priors[name] for name in law.param_names if name in priors}


def _named_prior(law, name, scale, log_mean, runs):
    """The default of parameter ``name`` of ``law`` by its name, or None (see the tables)."""
    family = law.name.rsplit("_", 1)[0]
    if name == "E":
        return dist.HalfNormal(scale)
    if name in ("alpha", "beta"):
        if family == "pure_power" and name == "alpha":
            return dist.LogNormal(*SMALL_EXPONENT)
        if family == "power" and law.inputs == ("C",):
            return dist.LogNormal(math.log(EXPONENT_PRIOR_MEDIAN / 2), 0.5)
        if family == "broken":
            return dist.LogNormal(math.log(0.2), 1.0) if name == "alpha" \
                else dist.LogNormal(math.log(0.5), 1.5)
        return dist.LogNormal(math.log(EXPONENT_PRIOR_MEDIAN), EXPONENT_PRIOR_SD)
    if name in ("alpha_N", "alpha_D"):
        return dist.LogNormal(*SMALL_EXPONENT)
    if name in ("N_c", "D_c"):
        centre = log_mean[name[0]] + math.log(scale) / math.exp(SMALL_EXPONENT[0])
        return dist.LogNormal(centre, CRITICAL_SCALE_SD)
    if name == "x_b":
        values = np.log(runs.input(law.inputs[0], law.name))
        return dist.LogNormal(float(np.mean(values)), max(float(np.ptp(values)) / 2, 0.5))
    if name == "f":
        return dist.LogNormal(math.log(0.3), 1.0)
    if name in ("R_D_star", "R_N_star"):
        return dist.LogNormal(*REPEAT_PRIOR)
    if re.fullmatch(r"w_\d+", name):
        return dist.LogNormal(*WEIGHT_PRIOR)
    return None


def _parse_value(text, spec):
    try:
        return float(text)
    except ValueError:
        raise PriorError(f"prior {spec!r}: {text!r} is not a number") from None


def parse_prior(spec):
    """Parse one ``"name=Dist(a, b, key=c)"`` or ``"name=value"`` string.

    Returns
    -------
    dict
        ``{name: Distribution}`` or ``{name: float}`` for a fixed value.

    Examples
    --------
    >>> parse_prior("nu=5")
    {'nu': 5.0}
    """
    match = _SPEC.match(spec)
    if not match:
        raise PriorError(f"cannot read prior {spec!r}: write e.g. 'alpha=Beta(2,5)' or 'nu=5'")
    name, rhs = match.groups()
    if rhs.count("(") != rhs.count(")"):
        raise PriorError(f"prior {spec!r}: unbalanced parentheses")
    call = _CALL.match(rhs)
    if not call:
        return {name: _parse_value(rhs, spec)}
    family, arg_text = call.groups()
    if family not in _DISTRIBUTIONS:
        raise PriorError(f"prior {spec!r}: unknown distribution {family!r}; "
                         f"known: {', '.join(sorted(_DISTRIBUTIONS))}")
    args, kwargs = [], {}
    for part in filter(None, (p.strip() for p in arg_text.split(","))):
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            kwargs[key] = _parse_value(value, spec)
        else:
            args.append(_parse_value(part, spec))
    try:
        prior = _DISTRIBUTIONS[family](*args, **kwargs, validate_args=True)
    except (TypeError, ValueError) as err:
        raise PriorError(f"prior {spec!r}: invalid arguments for {family} ({err})") from None
    return {name: prior}


def parse_priors(specs):
    """Parse several prior strings into one dict; a name given twice is an error."""
    priors = {}
    for spec in specs:
        parsed = parse_prior(spec)
        (name,) = parsed
        if name in priors:
            raise PriorError(f"prior for {name!r} is given twice")
        priors.update(parsed)
    return priors


def read_prior_file(path):
    """Read priors from a text file, one ``name=Dist(...)`` per line; ``#`` starts a comment."""
    if not os.path.exists(path):
        raise PriorError(f"{path}: no such prior file")
    specs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                try:
                    parse_prior(text)
                except PriorError as err:
                    raise PriorError(f"{path}, line {number}: {err}") from None
                specs.append(text)
    return parse_priors(specs)


def check_priors(law, priors, likelihood):
    """Raise `PriorError` unless ``priors`` has exactly one valid entry per parameter."""
    law = get_law(law)
    expected = set(all_param_names(law, likelihood))
    unknown = sorted(set(priors) - expected)
    if unknown:
        raise PriorError(f"prior given for unknown parameter(s) {unknown} of law {law.name!r} "
                         f"with {likelihood} likelihood; parameters are {sorted(expected)}")
    missing = sorted(expected - set(priors))
    if missing:
        raise PriorError(f"no prior for parameter(s) {missing} of law {law.name!r}")
    positive = {term.coef for term in law.power_terms} | set(noise_param_names(likelihood))
    for name, prior in priors.items():
        if isinstance(prior, (int, float, np.number)):
            if name in positive and not prior > 0:
                raise PriorError(f"fixed {name}={prior} must be positive")
            if name == "E" and not prior >= 0:
                raise PriorError(f"fixed E={prior} must be zero or positive")
            continue
        if not isinstance(prior, dist.Distribution):
            raise PriorError(f"prior for {name!r} must be a NumPyro distribution or a number, "
                             f"got {type(prior).__name__}")
        if (name in positive or name == "E") and not has_positive_support(prior):
            raise PriorError(f"prior for {name!r} must put all its mass on positive values "
                             f"(e.g. LogNormal, HalfNormal, Gamma), got {type(prior).__name__}")


def has_positive_support(prior):
    support = prior.support
    lower = getattr(support, "lower_bound", None)
    if support is dist.constraints.positive:
        return True
    return lower is not None and np.all(np.asarray(lower) >= 0)


def describe_prior(prior, exact=False):
    """A readable form of a prior, e.g. ``"LogNormal(loc=-1.204, scale=0.5)"`` or ``"fixed 5"``.

    With ``exact``, every number is written in full and a fixed value without the word
    "fixed": the form `parse_prior` reads back to the same prior (fit files keep priors so).

    >>> describe_prior(dist.HalfNormal(0.1))
    'HalfNormal(scale=0.1)'
    >>> parse_prior("x=" + describe_prior(dist.LogNormal(-1 / 3, 0.5), exact=True))["x"].loc
    -0.3333333333333333
    """
    number = repr if exact else (lambda value: f"{value:.4g}")
    if not isinstance(prior, dist.Distribution):
        return number(float(prior)) if exact else f"fixed {float(prior):g}"
    args = ", ".join(f"{name}={number(float(np.asarray(getattr(prior, name))))}"
                     for name in prior.arg_constraints if hasattr(prior, name))
    return f"{type(prior).__name__}({args})"
