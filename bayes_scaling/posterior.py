"""Posterior: an ArviZ InferenceData with the diagnostics gate, a summary table and netCDF I/O.

The InferenceData holds the posterior in the published parameterization plus derived quantities
(for Chinchilla the compute-optimal exponents a = β/(α+β), b = α/(α+β)), sample_stats,
observed_data (log-loss), constant_data (N, D, C, loss and any further inputs such as unique
tokens U) and, when small enough, the pointwise log_likelihood and the posterior predictive of
the fitted runs (so that ArviZ's own ``loo``, ``compare`` and ``plot_ppc`` work on it). Its
attributes record the law, likelihood, priors, sampler settings and source, so a loaded file
gives the same forecasts.

The gate (DESIGN.md): R-hat > 1.01, bulk or tail ESS < 400, any divergence, or E-BFMI < 0.3 fails
it, and every user of the posterior says so.

Every result of a fit speaks the same protocol: ``check()`` (the gate), ``draws(names)`` (a dict
of arrays), ``summary(prob)``, ``warn_if_unconverged()``, ``save(path)`` and ``load(path)``
(netCDF, written atomically). `Posterior` and `PooledPosterior` are one fit (``check()`` gives
`Diagnostics`); `SweepResult`, the base of `inference.batch.FitBatch` and
`emergence.fit.EmergenceFit`, is many fits with a leading item axis (``check()`` gives a table,
one row per fit or task; ``result[i]`` a `Posterior` where there is one). A file records which
of these it holds (the posterior's ``kind`` attribute; none for one fit), and each ``load``
refuses the others by name.

Example
-------
>>> import os, tempfile, jax, bayes_scaling as bs
>>> post = bs.fit(bs.simulate(jax.random.key(0)), key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> path = post.save(os.path.join(tempfile.mkdtemp(), "fit.nc"))
>>> Posterior.load(path).check().ok
True
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import warnings
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd
import xarray as xr

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
    import arviz as az

from .data import Runs
from .errors import ConvergenceWarning
from .inference.padding import pad_to, padded_size
from .laws.priors import all_param_names, describe_prior, parse_prior
from .laws.registry import get_law
from .likelihood import NU_FLOOR, noise_param_names, observation

__all__ = ["Posterior", "PooledPosterior", "SweepResult", "Diagnostics", "ConvergenceWarning",
           "GATE", "gate", "batch_diagnostics", "warn_failed"]

GATE = {"r_hat": 1.01, "ess": 400, "divergences": 0, "bfmi": 0.3}
STUCK_R_HAT = 1.1  # above it, chains explore different regions (not just too few draws)
LAGGING_STEP_RATIO = 10.0  # a chain adapted this much finer than the median one lags (see gate)
NEAR_FLOOR = 0.1  # ν this close to its floor: the noise as heavy-tailed as allowed (outlier_note)


class Diagnostics(NamedTuple):
    """Result of the diagnostics gate."""

    ok: bool
    problems: tuple
    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    min_bfmi: float

    def message(self):
        if self.ok:
            return "diagnostics OK (R-hat ≤ 1.01, ESS ≥ 400, no divergences, E-BFMI ≥ 0.3)"
        return "FIT DID NOT PASS THE DIAGNOSTICS GATE: " + "; ".join(self.problems)


def convergence_statistics(posterior):
    """ArviZ's rank-normalised R-hat, bulk ESS and tail ESS of each variable of ``posterior``
    (an xarray Dataset with chain and draw dimensions).

    A chain that did not move at all (a collapsed step size, or every draw rounded to the same
    float32 value) has zero variance, and R-hat divides by it: the result is NaN or infinite,
    which fails the gate (see `gate`), without numpy's divide-by-zero warning.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return (az.rhat(posterior), az.ess(posterior, method="bulk"),
                az.ess(posterior, method="tail"))


def lagging_chains(step_sizes):
    """Chains whose adapted step size is below 1/`LAGGING_STEP_RATIO` of the median chain's.

    Such a chain's warmup settled in a narrow corner of the posterior: it moves so little that
    it cannot reach where the others are (measured on the BNSL fit of 4-digit addition: one
    chain of four at step size 0.00014 against 0.011-0.023, every trajectory at the maximum
    tree depth, R-hat 1.23). Returns ``(chain indices, ratios median/step)``.

    >>> lagging_chains([0.011, 0.023, 0.00014, 0.022])
    ([2], [117.9])
    >>> lagging_chains([0.011, 0.0, 0.02, 0.022])  # a step size that collapsed to zero
    ([1], [inf])
    """
    step_sizes = np.asarray(step_sizes, np.float64)
    median = np.median(step_sizes)
    ratios = np.divide(median, step_sizes, out=np.full_like(step_sizes, np.inf),
                       where=step_sizes > 0)
    chains = [int(c) for c in np.flatnonzero(ratios > LAGGING_STEP_RATIO)]
    return chains, [round(float(ratios[c]), 1) for c in chains]


def format_beyond(value, limit, digits):
    """``value`` with at least ``digits`` decimals and as many more as it takes not to read as
    ``limit`` (a failed R-hat of 1.0104 is not "1.010 > 1.01").

    >>> format_beyond(1.0104, 1.01, 3), format_beyond(1.05, 1.01, 3)
    ('1.0104', '1.050')
    """
    for places in range(digits, 10):
        text = f"{value:.{places}f}"
        if float(text) != limit:
            return text
    return repr(value)


def gate(max_rhat, min_ess_bulk, min_ess_tail, divergences, min_bfmi, step_sizes=None):
    """The diagnostics gate (`GATE`) applied to a fit's numbers; returns `Diagnostics`.

    ``step_sizes``, the adapted step size of each chain, lets a failed gate name a chain that
    lags behind the others (`lagging_chains`).

    >>> gate(1.002, 3000, 2500, 0, 0.9).ok
    True
    >>> gate(1.05, 3000, 2500, 2, 0.9).problems[0]
    'max R-hat 1.050 > 1.01'
    >>> gate(float("nan"), 3000, 2500, 0, 0.9).ok
    False
    >>> gate(1.23, 12, 46, 0, 0.7, step_sizes=[0.011, 0.023, 0.00014, 0.022]).problems[2]
    'chain 2 adapted a step size 118x smaller than the median chain: its warmup settled in a narrow corner of the posterior and barely moved; refit with another key'
    """
    max_rhat, min_bfmi = float(max_rhat), float(min_bfmi)
    min_ess_bulk, min_ess_tail, divergences = float(min_ess_bulk), float(min_ess_tail), int(
        divergences)
    problems = []
    if not np.isfinite(max_rhat):
        problems.append("R-hat undefined: a chain did not move at all (zero variance within "
                        "it), so the sampler was stuck")
    elif not max_rhat <= GATE["r_hat"]:
        problems.append(f"max R-hat {format_beyond(max_rhat, GATE['r_hat'], 3)} > {GATE['r_hat']}")
    if not min(min_ess_bulk, min_ess_tail) >= GATE["ess"]:
        # Chains that disagree this much sit in different modes: more draws will not help.
        advice = ("chains disagree: likely stuck in different modes; more draws will not fix "
                  "that (try more warmup, firmer priors or a simpler law)"
                  if not max_rhat <= STUCK_R_HAT else "draw more samples")
        problems.append(f"min ESS {min(min_ess_bulk, min_ess_tail):.0f} < {GATE['ess']} "
                        f"(bulk {min_ess_bulk:.0f}, tail {min_ess_tail:.0f}); {advice}")
    lagging, ratios = lagging_chains(step_sizes) if step_sizes is not None else ([], [])
    if lagging and problems:  # which chain is to blame, where R-hat or ESS failed
        many = len(lagging) > 1
        factors = ", ".join(f"{r:.0f}x" if np.isfinite(r) else "infinitely" for r in ratios)
        problems.append(
            f"chain{'s' if many else ''} {', '.join(map(str, lagging))} adapted a step size "
            f"{factors} smaller than the median chain: {'their' if many else 'its'} warmup "
            "settled in a narrow corner of the posterior and barely moved; refit with another key")
    if divergences > GATE["divergences"]:
        problems.append(f"{divergences} divergent transitions; raise target_accept "
                        f"or revisit the priors")
    if not min_bfmi >= GATE["bfmi"]:
        problems.append(f"E-BFMI {format_beyond(min_bfmi, GATE['bfmi'], 2)} < {GATE['bfmi']}")
    return Diagnostics(not problems, tuple(problems), max_rhat, min_ess_bulk, min_ess_tail,
                       divergences, min_bfmi)


def fit_metadata(law, likelihood, priors, runs, config, sample):
    """The attributes and constant data a fit file records (see the module docstring)."""
    attrs = {
        "law": law.name, "likelihood": likelihood, "source": runs.source,
        "priors": json.dumps({k: describe_prior(v) for k, v in priors.items()}),
        "sampler": json.dumps(dataclasses.asdict(config)),
        "flops_per_param_token": runs.flops_per_param_token,
        "dropped": json.dumps(list(runs.dropped)),
        "columns": json.dumps(runs.columns),
        "dtype": str(np.asarray(sample).dtype),
    }
    # Further inputs (unique tokens U, token sources D_i) too: checks and plots re-evaluate the law.
    constant = {"N": runs.N, "D": runs.D, "C": runs.C, "loss": runs.loss, **runs.extra}
    return attrs, constant


def replicated_log_loss(law, likelihood, samples, inputs, key):
    """One replicated log-loss per draw and run, from the observation model at the draw's
    parameters: the posterior predictive of the fitted runs, shape (chain, draw, run).

    ``samples`` are the draws (chain, draw) of the law's and the likelihood's parameters,
    ``inputs`` the runs' values of each of the law's inputs. Kept in the fit file (as
    ``posterior_predictive``) so that ArviZ's own checks work on it, e.g.
    ``az.plot_ppc(post.idata)``; `validation.checks` draws more with other keys.

    The runs are padded to their bucket (`inference.padding`) and the draws cut back: each of
    these array operations compiles a program for every new shape, and unpadded, every new
    number of runs kept about 40 more (0.06 GB of resident memory a size, measured).
    """
    count = len(np.asarray(inputs[law.inputs[0]]))
    log_x = {name: np.log(pad_to(np.asarray(inputs[name], np.float64), padded_size(count)))
             for name in law.inputs}
    draws = replicate(samples, log_x, key, law=law, likelihood=likelihood)
    return np.asarray(draws, np.float64)[..., :count]


# One program: op by op, the law and the noise draws dispatched some 30 small programs
# (1.4 s of a warm CLI fit's 10 s, measured).
@functools.partial(jax.jit, static_argnames=("law", "likelihood"))
def replicate(samples, log_x, key, *, law, likelihood):
    """`replicated_log_loss` on padded inputs: draws of shape (chain, draw, padded runs)."""
    params = {name: value[..., None] for name, value in samples.items()}
    log_mean = law.log_loss(params, log_x)
    return observation(likelihood, log_mean, params).sample(key)


def posterior_idata(posterior, stats, loglik, runs, constant, attrs, dims=None, coords=None,
                    predictive=None):
    """The InferenceData of a fit: posterior, sample stats, log-likelihood, posterior
    predictive, data, attributes."""
    dims = {**{name: ["run"] for name in (*constant, "log_loss")}, **(dims or {})}
    idata = az.from_dict(
        posterior=posterior,
        sample_stats={k: np.asarray(v) for k, v in stats.items()},
        log_likelihood=None if loglik is None else {"log_loss": np.asarray(loglik, np.float64)},
        posterior_predictive=None if predictive is None else {"log_loss": predictive},
        observed_data={"log_loss": np.log(runs.loss)},
        constant_data=constant, dims=dims, coords=coords)
    idata.posterior.attrs.update(attrs)
    return idata


def batch_diagnostics(samples, stats, param_names, names):
    """The diagnostics gate per fit of a batch: one row per fit (``fit`` = its name).

    ``samples`` and ``stats`` have leading axes (fit, chain, draw); R-hat and ESS are taken
    over ``param_names`` (worst parameter per fit).
    """
    # One Dataset with a fit dimension: ArviZ computes R-hat and ESS per fit and parameter.
    posterior = xr.Dataset({n: (("fit", "chain", "draw"), np.asarray(samples[n]))
                            for n in param_names})
    rhat, bulk, tail = convergence_statistics(posterior)
    rhat = rhat.to_array().max("variable", skipna=False).values  # NaN (a stuck chain) fails
    bulk = bulk.to_array().min("variable", skipna=False).values
    tail = tail.to_array().min("variable", skipna=False).values
    divergences = np.asarray(stats["diverging"]).sum(axis=(1, 2))
    energy = np.asarray(stats["energy"], np.float64)
    bfmi = (np.square(np.diff(energy, axis=2)).mean(axis=2) / energy.var(axis=2)).min(axis=1)
    step_sizes = np.median(np.asarray(stats["step_size"]), axis=2)  # (fit, chain)
    rows = [gate(*values) for values in zip(rhat, bulk, tail, divergences, bfmi, step_sizes)]
    return pd.DataFrame({
        "fit": list(names), "ok": [d.ok for d in rows], "max_r_hat": rhat, "min_ess_bulk": bulk,
        "min_ess_tail": tail, "divergences": divergences, "min_bfmi": bfmi,
        "mean_leapfrog_steps": np.asarray(stats["n_steps"]).mean(axis=(1, 2)),
        "problems": ["; ".join(d.problems) for d in rows]})


def warn_failed(table, column, where):
    """One `ConvergenceWarning` naming the rows of a per-fit gate ``table`` that failed (by
    ``column``: "fit", "task"); returns how many failed."""
    failed = table.loc[~table["ok"], column].tolist()
    if failed:
        shown = ", ".join(map(str, failed[:5])) + (" ..." if len(failed) > 5 else "")
        warnings.warn(f"{len(failed)} of {len(table)} {column}s failed the diagnostics gate "
                      f"({shown}); see {where}", ConvergenceWarning, stacklevel=4)
    return len(failed)


_being_written = set()  # partial files of writes in progress


def files_being_written():
    """The partial files `save_idata` is writing now: what a process interrupted mid-write
    removes before it exits (the CLI's Ctrl-C)."""
    return set(_being_written)


def save_idata(idata, path, force=False):
    """Write ``idata`` to netCDF at ``path`` atomically (a partial file never takes its place);
    an existing file needs ``force=True``. Returns the path."""
    path = os.fspath(path)
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it")
    directory = os.path.dirname(os.path.abspath(path))
    handle, partial = tempfile.mkstemp(dir=directory, suffix=".nc.part")
    os.close(handle)
    _being_written.add(partial)
    try:
        idata.to_netcdf(partial)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # mkstemp's 0600, made an ordinary file's mode
        os.replace(partial, path)
    finally:
        _being_written.discard(partial)
        if os.path.exists(partial):
            os.remove(partial)
    return path


def load_idata(path, kind=None):
    """Read an InferenceData written by `save_idata` into memory; with ``kind``, check that its
    posterior's ``kind`` attribute names that result class."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such fit file")
    try:
        idata = az.from_netcdf(path)
        idata.load()
    except (OSError, ValueError) as err:
        # The reader's own words (HDF5's "file signature not found") tell a user nothing.
        if path.lower().endswith((".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".gz")):
            why = f"it looks like a table of runs: fit it first, `bayes-scaling fit {path}`"
        else:
            why = f"{type(err).__name__} reading it"
        raise ValueError(f"{path}: not a bayes_scaling fit file: it cannot be read as the "
                         f"netCDF (.nc) file that `bayes-scaling fit` writes; {why}") from None
    if kind is not None:
        found = (idata.posterior.attrs.get("kind", "one fit") if "posterior" in idata.groups()
                 else "no posterior")
        if found != kind:
            raise ValueError(f"{path}: not a bayes_scaling {kind} file (it holds {found})")
    return idata


def sweep_idata(item, names, samples, stats, constant, attrs):
    """The InferenceData of a `SweepResult`: ``samples`` and ``stats`` (arrays of leading axes
    (item, chain, draw)) with dims (chain, draw, ``item``), coordinate ``names``; ``constant``
    (name -> (dims, array)) as constant_data; ``attrs`` on the posterior."""
    def item_last(arrays):
        return {k: np.moveaxis(np.asarray(v), 0, 2) for k, v in arrays.items()}

    idata = az.from_dict(posterior=item_last(samples), sample_stats=item_last(stats),
                         coords={item: list(names)},
                         dims={k: [item] for k in {**samples, **stats}})
    idata.add_groups(constant_data=xr.Dataset(constant))
    idata.posterior.attrs.update(attrs)
    return idata


def item_axis_first(dataset):
    """The variables of a `sweep_idata` group as arrays of leading axes (item, chain, draw)."""
    return {k: np.moveaxis(v.values, 2, 0) for k, v in dataset.data_vars.items()}


class SweepResult:
    """Many fits with arrays of leading axes (item, chain, draw): the shared protocol of
    `inference.batch.FitBatch` (items are fits) and `emergence.fit.EmergenceFit` (tasks).

    The verbs are `Posterior`'s: ``check()`` is the gate as a table, one row per item (cached);
    ``draws(names)`` a dict of arrays of shape (items, chain·draw); ``summary(prob)`` one row
    per (item, parameter); ``warn_if_unconverged()`` one warning naming the items that failed.
    A subclass sets ``samples``, ``stats``, ``item_names`` and ``param_names``, names its items
    in ``ITEM`` and may add columns to the gate's table in ``_describe_items``.
    """

    ITEM = "fit"
    _diagnostics = None

    def save(self, path, force=False):
        """Write the result (``self.idata``, which records everything `load` needs) to netCDF
        atomically; an existing file needs ``force=True``. Returns the path."""
        return save_idata(self.idata, path, force)

    @classmethod
    def load(cls, path):
        """Read a result of this class written by `save`."""
        return cls.from_idata(load_idata(path, kind=cls.__name__))

    def __len__(self):
        return len(self.item_names)

    def check(self):
        """The diagnostics gate per item: a DataFrame with ``ok`` and the gate's numbers."""
        if self._diagnostics is None:
            table = batch_diagnostics(self.samples, self.stats, self.param_names, self.item_names)
            self._diagnostics = self._describe_items(table.rename(columns={"fit": self.ITEM}))
        return self._diagnostics

    def _describe_items(self, table):
        return table

    def replace_draws(self, samples, stats):
        """Put other draws (and their per-draw statistics) in place, in this object: the gate
        is computed again from them when next asked for (as after a remedy's refit)."""
        self.samples, self.stats, self._diagnostics = samples, stats, None

    def diagnostics(self):
        """Deprecated name of `check` (0.1); goes in 0.3."""
        warnings.warn(f"{type(self).__name__}.diagnostics() is now .check(), as for Posterior; "
                      f"the old name goes in 0.3", DeprecationWarning, stacklevel=2)
        return self.check()

    def warn_if_unconverged(self):
        """One `ConvergenceWarning` naming the items that failed the gate; returns their count."""
        return warn_failed(self.check(), self.ITEM, f"{type(self).__name__}.check()")

    def draws(self, names=None):
        """Draws of the parameters ``names`` (default: all sampled ones) per item: a dict of
        arrays of shape (items, chain·draw)."""
        if isinstance(names, str):  # 0.1's draws(name): one array
            warnings.warn(f"{type(self).__name__}.draws(name) is now draws([name])[name], as for "
                          f"Posterior; the old form goes in 0.3", DeprecationWarning, stacklevel=2)
            return np.asarray(self.samples[names]).reshape(len(self), -1)
        names = self.param_names if names is None else names
        return {n: np.asarray(self.samples[n]).reshape(len(self), -1) for n in names}

    def summary(self, prob=0.9):
        """Tidy table: one row per (item, parameter) with median and central ``prob`` interval."""
        lo, hi = (1 - prob) / 2, (1 + prob) / 2
        frames = [pd.DataFrame({
            self.ITEM: list(self.item_names), "param": name, "median": np.median(values, axis=1),
            f"q{lo:.3g}": np.quantile(values, lo, axis=1),
            f"q{hi:.3g}": np.quantile(values, hi, axis=1)})
            for name, values in self.draws().items()]
        return pd.concat(frames, ignore_index=True)


class Posterior:
    """A fitted scaling law: ``idata`` (ArviZ InferenceData) plus what is needed to use it.

    Build one with `run_nuts` (or `fit`), or `Posterior.load` a saved file.
    """

    def __init__(self, idata):
        self.idata = idata
        attrs = idata.posterior.attrs
        self.law = get_law(attrs["law"])
        self.likelihood = attrs["likelihood"]
        self._diagnostics = None  # the gate, computed once: every use of the posterior asks

    @classmethod
    def from_arrays(cls, *, law, likelihood, priors, runs, samples, stats, loglik, config,
                    key=None):
        """Assemble the InferenceData from the sampler's arrays (leading axes chain, draw);
        with a PRNG ``key`` (and a pointwise ``loglik``: the fit is small enough to keep per-run
        arrays) also the posterior predictive of the runs."""
        names = all_param_names(law, likelihood)
        posterior = {name: np.asarray(samples[name], np.float64) for name in names}
        if law.derived is not None:
            derived = law.derived({k: posterior[k] for k in law.param_names})
            posterior.update({k: np.asarray(v, np.float64) for k, v in derived.items()})
        attrs, constant = fit_metadata(law, likelihood, priors, runs, config, samples[names[0]])
        predictive = (None if key is None or loglik is None else
                      replicated_log_loss(law, likelihood, {n: samples[n] for n in names},
                                          {n: runs.input(n, law.name) for n in law.inputs},
                                          key))
        return cls(posterior_idata(posterior, stats, loglik, runs, constant, attrs,
                                   predictive=predictive))

    # -- what was fitted ------------------------------------------------------------------------
    @property
    def param_names(self):
        """Sampled parameters of the law and the likelihood (fixed ones excluded)."""
        names = all_param_names(self.law, self.likelihood)
        return [n for n in names if float(self.idata.posterior[n].std()) > 0]

    @property
    def derived_names(self):
        known = set(all_param_names(self.law, self.likelihood))
        return [n for n in self.idata.posterior.data_vars if n not in known]

    def draws(self, names=None):
        """Posterior draws flattened over chains: dict of name -> 1-D NumPy array."""
        names = list(self.idata.posterior.data_vars) if names is None else names
        return {n: self.idata.posterior[n].values.reshape(-1) for n in names}

    @property
    def runs_table(self):
        """The fitted runs as a DataFrame: N, D, C, loss, then any further inputs (and group)."""
        const = self.idata.constant_data
        return pd.DataFrame({k: const[k].values for k in const.data_vars})

    @property
    def runs(self):
        """The fitted runs as `Runs` (e.g. to refit them or backtest them)."""
        table = self.runs_table
        core = {k: table[k].to_numpy() for k in ("N", "D", "C", "loss")}
        extra = {k: table[k].to_numpy() for k in table.columns if k not in (*core, "group")}
        group = table["group"].to_numpy() if "group" in table else None
        return Runs(**core, group=group, extra=extra, lines=np.arange(len(table)),
                    source=self.idata.posterior.attrs["source"],
                    flops_per_param_token=self.flops_per_param_token)

    @property
    def flops_per_param_token(self):
        return float(self.idata.posterior.attrs["flops_per_param_token"])

    @property
    def priors(self):
        """The priors of the fit, read back from its record (`laws.priors.parse_prior`; a
        file keeps each number to four significant digits): to refit further runs under
        the same priors, e.g. ``fit(runs, priors=post.priors)``."""
        priors = {}
        for name, text in self.attrs["priors"].items():
            priors.update(parse_prior(f"{name}={text.removeprefix('fixed ')}"))
        return priors

    # -- diagnostics ----------------------------------------------------------------------------
    def check(self):
        """Apply the diagnostics gate; returns `Diagnostics` (``.ok`` is False on failure)."""
        if self._diagnostics is None:
            self._diagnostics = self._gate()
        return self._diagnostics

    def _gate(self):
        names = self.param_names
        rhat, ess_bulk, ess_tail = convergence_statistics(self.idata.posterior[names])
        # Over every element (a parameter may have more dimensions than (chain, draw), e.g.
        # groups), NaN included: NaN fails the gate.
        max_rhat = float(rhat.to_array().max(skipna=False))
        min_bulk = float(ess_bulk.to_array().min(skipna=False))
        min_tail = float(ess_tail.to_array().min(skipna=False))
        divergences = int(self.idata.sample_stats["diverging"].values.sum())
        bfmi = float(np.min(az.bfmi(self.idata)))
        step_sizes = self.idata.sample_stats["step_size"].median("draw").values
        return gate(max_rhat, min_bulk, min_tail, divergences, bfmi, step_sizes)

    def warn_if_unconverged(self, use=None, stacklevel=3):
        """Emit a `ConvergenceWarning` when the gate fails; returns the `Diagnostics`.

        ``use`` names what the posterior is being used for, e.g. "forecasting".
        """
        diagnostics = self.check()
        if not diagnostics.ok:
            prefix = f"{use} from a fit that failed the gate: " if use else ""
            warnings.warn(prefix + diagnostics.message(), ConvergenceWarning,
                          stacklevel=stacklevel)
        return diagnostics

    def outlier_note(self):
        """A sentence when the Student-t noise's degrees of freedom sit at their floor (median
        ν within `NEAR_FLOOR` of 2), else None. The gate can pass there, but the noise is then
        as heavy-tailed as the model allows: some runs lie far off the law (a divergent run,
        another sweep, checkpoints of one run), and the intervals lean on that.

        >>> from types import SimpleNamespace
        >>> fake = SimpleNamespace(likelihood="student_t",
        ...                        draws=lambda names: {"nu": np.full(4, 2.01)})
        >>> print(Posterior.outlier_note(fake)[:60])
        the noise's degrees of freedom ν sit at their floor of 2 (me
        """
        if self.likelihood != "student_t":
            return None
        nu = float(np.median(self.draws(["nu"])["nu"]))
        if nu - NU_FLOOR >= NEAR_FLOOR:
            return None
        return (f"the noise's degrees of freedom ν sit at their floor of {NU_FLOOR:g} (median "
                f"{nu:.3g}): some runs lie far off the law (a diverged run, another sweep, "
                f"checkpoints of one run?); the residual plot shows which "
                f"(bayes-scaling plot FIT --kind residuals)")

    def summary(self, prob=0.9):
        """Parameter table: median, mean, sd, central ``prob`` interval, R-hat, bulk/tail ESS.

        A parameter with more dimensions than (chain, draw) has a row per element, labelled
        as ArviZ does (``alpha[g0]``).
        """
        names = self.param_names + self.derived_names
        stats = az.summary(self.idata, var_names=names, kind="diagnostics")
        lo, hi = (1 - prob) / 2, (1 + prob) / 2
        rows = {}
        for label, values in _elements(self.idata.posterior, names):
            rows[label] = {"median": np.median(values), "mean": values.mean(), "sd": values.std(),
                           f"q{lo:.3g}": np.quantile(values, lo),
                           f"q{hi:.3g}": np.quantile(values, hi),
                           "r_hat": stats.loc[label, "r_hat"],
                           "ess_bulk": stats.loc[label, "ess_bulk"],
                           "ess_tail": stats.loc[label, "ess_tail"]}
        return pd.DataFrame(rows).T

    # -- files ----------------------------------------------------------------------------------
    def save(self, path, force=False):
        """Write the InferenceData to netCDF atomically; an existing file needs ``force=True``."""
        return save_idata(self.idata, path, force)

    @classmethod
    def load(cls, path):
        """Read a posterior written by `save`."""
        idata = load_idata(path)
        if "posterior" in idata.groups() and "kind" in idata.posterior.attrs:
            kind = idata.posterior.attrs["kind"]
            raise ValueError(f"{path}: holds many fits ({kind}), not one; read it with "
                             f"{kind}.load")
        if "posterior" not in idata.groups() or "law" not in idata.posterior.attrs:
            raise ValueError(f"{path}: not a bayes_scaling fit file (no posterior with a law)")
        if "pool" in idata.posterior.attrs and cls is Posterior:
            return PooledPosterior(idata)
        return cls(idata)

    def record_remedies(self, notes):
        """Keep, with the fit (and in its file), the remedies tried to pass the gate
        (`inference.remedy`): ``attrs["remedies"]``, one line each."""
        self.idata.posterior.attrs["remedies"] = json.dumps(list(notes))

    def record_kappa_evidence(self, evidence_json):
        """Keep, with the fit (and in its file), its own evidence about the extrapolation
        discrepancy (`discrepancy.SweepEvidence`, as JSON): ``attrs["kappa_evidence"]``."""
        self.idata.posterior.attrs["kappa_evidence"] = evidence_json

    @property
    def remedies(self):
        """The remedies tried to pass the gate, one line each (empty when none were)."""
        return tuple(self.attrs.get("remedies", ()))

    @property
    def attrs(self):
        """Fit metadata: law, likelihood, priors, sampler, source, dropped rows, remedies, the
        evidence about the extrapolation discrepancy."""
        raw = dict(self.idata.posterior.attrs)
        for key in ("priors", "sampler", "dropped", "columns", "pool", "groups", "remedies",
                    "kappa_evidence"):
            if key in raw:
                raw[key] = json.loads(raw[key])
        return raw


class PooledPosterior(Posterior):
    """The posterior of a pooled fit: every group's parameters (a ``group`` dimension), the
    population's (``<name>_pop``) and the spreads (``<name>_tau``) of the pooled ones.

    Use ``for_group`` / ``for_new_group`` for forecasts, plots and reports.
    """

    @classmethod
    def from_arrays(cls, *, law, likelihood, priors, runs, samples, stats, loglik, config, pool,
                    groups):
        """Assemble the InferenceData (leading axes chain, draw; then group where it has one)."""
        names = list(law.param_names) + [f"{p}_{s}" for p in pool for s in ("pop", "tau")]
        names += list(noise_param_names(likelihood))
        posterior = {name: np.asarray(samples[name], np.float64) for name in names}
        if law.derived is not None:
            posterior.update(derived_draws(law, {k: posterior[k] for k in law.param_names}))
            try:  # of the population too, when the quantities read only pooled parameters
                population = derived_draws(law, {k: posterior[f"{k}_pop"] for k in pool})
            except KeyError:
                population = {}
            posterior.update({f"{k}_pop": v for k, v in population.items()})
        attrs, constant = fit_metadata(law, likelihood, priors, runs, config, samples[names[0]])
        attrs.update(pool=json.dumps(list(pool)), groups=json.dumps(groups))
        constant["group"] = np.asarray(runs.group, dtype=str)
        dims = {name: ["group"] for name in posterior
                if posterior[name].ndim == 3}
        idata = posterior_idata(posterior, stats, loglik, runs, constant, attrs, dims,
                                 coords={"group": groups})
        return cls(idata)

    @property
    def groups(self):
        """The group labels, in the order of the ``group`` dimension."""
        return list(self.attrs["groups"])

    @property
    def pool(self):
        """The partially pooled parameters."""
        return tuple(self.attrs["pool"])

    @property
    def param_names(self):
        names = list(self.law.param_names) + [f"{p}_{s}" for p in self.pool for s in ("pop", "tau")]
        names += list(noise_param_names(self.likelihood))
        return [n for n in names if float(self.idata.posterior[n].std()) > 0]

    def draws(self, names=None):
        """Flattened draws of parameters without a group dimension; for a group's use
        ``for_group(name).draws(...)``."""
        names = list(self.idata.posterior.data_vars) if names is None else names
        grouped = [n for n in names if "group" in self.idata.posterior[n].dims]
        if grouped:
            raise ValueError(f"{grouped} differ by group in this pooled fit; use "
                             f"post.for_group(NAME) (groups: {self.groups}) or "
                             f"post.for_new_group(key)")
        return super().draws(names)

    def for_group(self, name):
        """An ordinary `Posterior` of group ``name``: its parameters and its runs.

        Its diagnostics are the pooled fit's (the gate covers every parameter of the fit).
        """
        if name not in self.groups:
            raise ValueError(f"no group {name!r} in this fit; groups: {self.groups}")
        runs = np.flatnonzero(self.idata.constant_data["group"].values == name)
        return self._sub_posterior(self.idata.posterior.sel(group=name), runs,
                                   f"group {name} of {self._described()}")

    def for_new_group(self, key):
        """An ordinary `Posterior` of a group not in the data: each draw's parameters are drawn
        from the population (θ_pop·exp(τ·z), fresh z per draw). Needs every parameter pooled.
        """
        missing = [n for n in self.law.param_names if n not in self.pool and
                   float(self.idata.posterior[n].std()) > 0]
        if missing:
            raise ValueError(f"{missing} are not pooled, so the population says nothing about a "
                             f"new group's values; pool every parameter "
                             f"({','.join(self.law.param_names)}) or forecast an existing group "
                             f"({self.groups})")
        posterior = self.idata.posterior
        shape = posterior.sizes["chain"], posterior.sizes["draw"]
        keys = jax.random.split(key, len(self.pool))
        log_new = {}
        for name, k in zip(self.pool, keys):
            z = np.asarray(jax.random.normal(k, shape), np.float64)
            log_new[name] = np.log(posterior[f"{name}_pop"].values) + posterior[f"{name}_tau"].values * z
        new = posterior.isel(group=0).copy()
        for name in self.law.param_names:
            new[name] = (("chain", "draw"), np.exp(log_new[name]))
        if self.law.derived is not None:
            for k, v in derived_draws(self.law, {n: new[n].values for n in self.law.param_names}).items():
                new[k] = (("chain", "draw"), v)
        return self._sub_posterior(new.drop_vars("group", errors="ignore"),
                                   np.arange(self.idata.constant_data.sizes["run"]),
                                   f"a new group drawn from {self._described()}")

    def _described(self):
        return (f"a fit pooling {', '.join(self.pool)} over groups {', '.join(self.groups)}; "
                f"the fit's diagnostics cover the spreads too")

    def _sub_posterior(self, posterior, runs, what):
        extras = [n for n in posterior.data_vars if n.endswith(("_pop", "_tau"))]
        posterior = posterior.drop_vars(extras)
        posterior.attrs = {k: v for k, v in self.idata.posterior.attrs.items()
                           if k not in ("pool", "groups")}
        posterior.attrs["source"] = f"{posterior.attrs.get('source', '')} ({what})"
        groups = {"posterior": posterior, "sample_stats": self.idata.sample_stats}
        for name in ("observed_data", "constant_data", "log_likelihood"):
            if name in self.idata.groups():
                data = self.idata[name].isel(run=runs)
                groups[name] = data.drop_vars("group") if "group" in data else data
        sub = Posterior(type(self.idata)(**groups))
        sub._diagnostics = self.check()
        return sub


def derived_draws(law, params):
    """The law's derived quantities (e.g. the compute-optimal exponents) of each draw."""
    return {k: np.asarray(v, np.float64) for k, v in law.derived(params).items()}



def _elements(posterior, names):
    """``(label, 1-D draws)`` for every element of the named variables, labelled like ArviZ's
    summary (``alpha`` or ``alpha[g0]``)."""
    for name in names:
        var = posterior[name]
        extra = [d for d in var.dims if d not in ("chain", "draw")]
        if not extra:
            yield name, var.values.reshape(-1)
            continue
        stacked = var.stack(element=extra).transpose("element", ...)
        for i in range(stacked.sizes["element"]):
            coord = stacked["element"].values[i]
            coord = coord if isinstance(coord, tuple) else (coord,)
            label = f"{name}[{', '.join(str(c) for c in coord)}]"
            yield label, stacked.isel(element=i).values.reshape(-1)
