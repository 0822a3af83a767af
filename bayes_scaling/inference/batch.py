"""Many independent fits of one law in one compiled program: `fit_many` and `FitBatch`.

Sweeps (backtest cutoffs, bootstrap-like refits, one fit per task or per dataset, prior
sensitivity) are where accelerators pay: a single 5-parameter fit is too small to fill one. The
data sets may differ in size: each is padded to the longest with its first run and a mask that
leaves the padding out of the likelihood and of the centring (see `models.build_model`).
How the fits share the hardware is `inference.sampler.batch_strategy`'s choice: vectorised in
lockstep on GPUs and TPUs, one after another on each CPU core; either way split over every
local device. Across hosts, see `inference.distributed`.

Example
-------
>>> import jax, bayes_scaling as bs
>>> sets = [bs.simulate(jax.random.key(k), num_runs=n) for k, n in [(0, 40), (1, 60)]]
>>> batch = bs.fit_many(sets, key=jax.random.key(2),
...                     config=bs.SamplerConfig(num_chains=2, num_warmup=500, num_samples=1000))
>>> batch.draws("alpha").shape
(2, 2000)
>>> list(batch.diagnostics().columns[:3])
['fit', 'num_runs', 'ok']
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import xarray as xr

from ..data import Runs, load_runs
from .distributed import map_items
from .sampler import LawModel, SamplerConfig, run_batch, split_priors
from ..laws.registry import get_law
from ..models import model_inputs
from ..posterior import ConvergenceWarning, Posterior, convergence_statistics, gate
from ..laws.priors import all_param_names, check_priors, default_priors

__all__ = ["fit_many", "FitBatch"]


def fit_many(datasets, *, key, law="chinchilla", priors=None, likelihood="student_t",
             config=None, dtype=None, strategy="auto", num_devices=None, names=None,
             processes=False, **load_options):
    """Fit one law to each of many data sets with a single compiled NUTS program.

    Parameters
    ----------
    datasets : sequence of Runs, str, os.PathLike or pandas.DataFrame
        The data sets (paths and frames go through `load_runs` with ``load_options``). They may
        have different numbers of runs.
    key : jax.random key
        Split into one key per fit (or an array of one key per fit), each split per chain.
    law : str or Law
    priors : dict or sequence of dict, optional
        Overrides of the default priors (scaled to each data set), for all fits or one dict per
        fit. Every fit must end up with the same kinds of distributions.
    likelihood : {"student_t", "normal"}
    config : SamplerConfig, optional
    dtype : optional
        Floating dtype (default: JAX's).
    strategy : {"auto", "vectorized", "sequential"}
        See `inference.sampler.batch_strategy`.
    num_devices : int, optional
        Local devices to split the fits over (default: all).
    names : sequence of str, optional
        A name per fit (default: each data set's source).
    processes : bool
        Split the fits over the processes of a ``jax.distributed`` job (call
        `inference.distributed.initialize` first); every process returns the whole batch.
        See docs/multihost.md.

    Returns
    -------
    FitBatch
        Warns once with `ConvergenceWarning` if any fit fails the diagnostics gate.
    """
    law = get_law(law)
    config = config or SamplerConfig()
    runs = [d if isinstance(d, Runs) else load_runs(d, **load_options) for d in datasets]
    if not runs:
        raise ValueError("fit_many needs at least one data set")
    overrides = priors if isinstance(priors, (list, tuple)) else [priors] * len(runs)
    if len(overrides) != len(runs):
        raise ValueError(f"got {len(overrides)} prior dicts for {len(runs)} data sets")
    num_params = len(all_param_names(law, likelihood))
    chosen = []
    for i, (r, extra) in enumerate(zip(runs, overrides)):
        if len(r) < num_params:
            raise ValueError(f"data set {i} ({r.source}): {len(r)} runs are too few to fit "
                             f"{num_params} parameters of {law.name!r}")
        chosen.append({**default_priors(law, r, likelihood), **(extra or {})})
        check_priors(law, chosen[-1], likelihood)
    data, mask = _padded(runs, law, dtype)
    splits = [split_priors(p, data[1].dtype) for p in chosen]
    spec = splits[0][0]
    for i, (other, _) in enumerate(splits):
        if other != spec:
            raise ValueError(f"data set {i}: its priors are not the same kinds of distribution "
                             f"as data set 0's; one batch needs one model")
    prior_values = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *[v for _, v in splits])
    fit_keys = _fit_keys(key, len(runs))

    def fit_block(block):
        # Each fit's chains get keys split from that fit's own key, so a fit's draws do not
        # depend on which other fits share its block (or process).
        index = np.asarray(block["index"])
        keys = jax.vmap(lambda k: jax.random.split(k, config.num_chains))(fit_keys[index])
        take = functools.partial(jax.tree_util.tree_map, lambda v: v[index])
        samples, stats = run_batch(LawModel(law, likelihood, spec), config, keys,
                                   take((*data, mask)), take(prior_values), strategy, num_devices)
        return {"samples": samples, "stats": stats}

    items = {"index": np.arange(len(runs))}
    if processes:
        result = map_items(fit_block, items)
    else:
        result = fit_block(items)
    samples, stats = result["samples"], result["stats"]
    batch = FitBatch(law=law, likelihood=likelihood, config=config, runs=runs, priors=chosen,
                     samples=samples, stats=stats,
                     names=list(names) if names is not None else [r.source for r in runs])
    batch.warn_if_unconverged()
    return batch


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


def _fit_keys(key, num_fits):
    """One key per fit: split from a single key, or given as an array of ``num_fits`` keys."""
    if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)  # a legacy uint32 key, e.g. jax.random.PRNGKey(0)
    if key.shape == ():
        return jax.random.split(key, num_fits)
    if key.shape != (num_fits,):
        raise ValueError(f"key must be one PRNG key or one per data set ({num_fits}), "
                         f"got shape {key.shape}")
    return key


def _padded(runs, law, dtype):
    """Inputs and log-losses of every data set padded to the longest, and the mask."""
    longest = max(len(r) for r in runs)
    xs, ys, masks = [], [], []
    for r in runs:
        pad = longest - len(r)
        x = model_inputs(r, law, dtype=dtype)
        xs.append({k: jnp.concatenate([v, jnp.repeat(v[:1], pad)]) for k, v in x.items()})
        y = jnp.log(jnp.asarray(r.loss, dtype=x[law.inputs[0]].dtype))
        ys.append(jnp.concatenate([y, jnp.repeat(y[:1], pad)]))
        masks.append(np.arange(longest) < len(r))
    x = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *xs)
    return (x, jnp.stack(ys)), jnp.asarray(np.stack(masks))


class FitBatch:
    """The posteriors of `fit_many`: arrays with leading axes (fit, chain, draw).

    ``batch[i]`` (or ``batch.posterior(i)``) is fit ``i`` as a full `Posterior` (built on demand;
    without the pointwise log-likelihood, which a batch does not keep). ``diagnostics()`` and
    ``summary()`` are tidy tables over all fits.
    """

    def __init__(self, *, law, likelihood, config, runs, priors, samples, stats, names):
        self.law, self.likelihood, self.config = law, likelihood, config
        self.runs, self.priors, self.names = runs, priors, names
        self.samples, self.stats = samples, stats
        self._diagnostics = None

    def __len__(self):
        return len(self.runs)

    def __getitem__(self, i):
        return self.posterior(i)

    def posterior(self, i):
        """Fit ``i`` as a `Posterior`."""
        return Posterior.from_arrays(
            law=self.law, likelihood=self.likelihood, priors=self.priors[i], runs=self.runs[i],
            samples={k: v[i] for k, v in self.samples.items()},
            stats={k: v[i] for k, v in self.stats.items()}, loglik=None, config=self.config)

    @property
    def param_names(self):
        """Sampled parameters (fixed ones excluded)."""
        return [n for n in all_param_names(self.law, self.likelihood)
                if np.ptp(self.samples[n]) > 0]

    def draws(self, name):
        """Draws of one parameter, shape (fit, chain·draw)."""
        return np.asarray(self.samples[name]).reshape(len(self), -1)

    def diagnostics(self):
        """One row per fit: the diagnostics gate's numbers and verdict."""
        if self._diagnostics is None:
            self._diagnostics = self._gate()
        return self._diagnostics

    def _gate(self):
        table = batch_diagnostics(self.samples, self.stats, self.param_names, self.names)
        table.insert(1, "num_runs", [len(r) for r in self.runs])
        return table

    def warn_if_unconverged(self):
        """One `ConvergenceWarning` naming the fits that failed the gate; returns their count."""
        return warn_failed(self.diagnostics(), "fit", "FitBatch.diagnostics()")

    def summary(self, prob=0.9):
        """Tidy table: one row per (fit, parameter) with median and central ``prob`` interval."""
        lo, hi = (1 - prob) / 2, (1 + prob) / 2
        frames = []
        for name in self.param_names:
            values = self.draws(name)
            frames.append(pd.DataFrame({
                "fit": self.names, "param": name, "median": np.median(values, axis=1),
                f"q{lo:.3g}": np.quantile(values, lo, axis=1),
                f"q{hi:.3g}": np.quantile(values, hi, axis=1)}))
        return pd.concat(frames, ignore_index=True)
