"""Many independent fits of one law in one compiled program: `fit_many` and `FitBatch`.

Sweeps (backtest cutoffs, bootstrap-like refits, one fit per task or per dataset, prior
sensitivity) are where accelerators pay: a single 5-parameter fit is too small to fill one. The
data sets may differ in size: each is padded to the bucket of the longest (`inference.padding`)
with its first run and a mask that leaves the padding out of the likelihood and of the centring
(see `models.build_model`).
How the fits share the hardware is `inference.sampler.batch_strategy`'s choice: vectorised in
lockstep on GPUs and TPUs, one after another on each CPU core; either way split over every
local device. Across hosts, see `inference.distributed`.

Example
-------
>>> import jax, bayes_scaling as bs
>>> sets = [bs.simulate(jax.random.key(k), num_runs=n) for k, n in [(0, 40), (1, 60)]]
>>> batch = bs.fit_many(sets, key=jax.random.key(2),
...                     config=bs.SamplerConfig(num_chains=2, num_warmup=500, num_samples=1000))
>>> batch.draws(["alpha"])["alpha"].shape
(2, 2000)
>>> list(batch.check().columns[:3])
['fit', 'num_runs', 'ok']
"""

from __future__ import annotations

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np

from ..data import Runs, load_runs
from ..laws.priors import (all_param_names, check_priors, default_priors, describe_prior,
                           parse_prior)
from ..laws.registry import get_law
from ..models import model_data
from ..posterior import Posterior, SweepResult, item_axis_first, sweep_idata
from .distributed import map_items
from .padding import pad_runs, padded_size
from .sampler import LawModel, SamplerConfig, run_batch, settled, split_priors

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
    config = settled(config or SamplerConfig())
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
    data, mask = _padded(runs, law, dtype, config.pad_runs)
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


def _padded(runs, law, dtype, pad_to_bucket):
    """Inputs and log-losses of every data set padded to the longest (to its bucket, see
    `inference.padding`, with ``pad_to_bucket``), and the masks."""
    longest = max(len(r) for r in runs)
    size = padded_size(longest) if pad_to_bucket else longest
    padded = [pad_runs(*model_data(r, law, dtype), size) for r in runs]
    x, y, mask = jax.device_put(jax.tree_util.tree_map(lambda *v: np.stack(v), *padded))
    return (x, y), mask


class FitBatch(SweepResult):
    """The posteriors of `fit_many`: arrays with leading axes (fit, chain, draw).

    ``batch[i]`` (or ``batch.posterior(i)``) is fit ``i`` as a full `Posterior` (built on demand;
    without the pointwise log-likelihood, which a batch does not keep). ``check()``, ``draws``,
    ``summary()`` and ``warn_if_unconverged()`` follow the result protocol (`SweepResult`).
    """

    ITEM = "fit"

    def __init__(self, *, law, likelihood, config, runs, priors, samples, stats, names):
        self.law, self.likelihood, self.config = law, likelihood, config
        self.runs, self.priors, self.names = runs, priors, names
        self.samples, self.stats = samples, stats

    @property
    def item_names(self):
        return self.names

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

    def _describe_items(self, table):
        table.insert(1, "num_runs", [len(r) for r in self.runs])
        return table

    @property
    def idata(self):
        """The batch as InferenceData: variables with dims (chain, draw, fit); each fit's runs
        in ``constant_data`` (dims (fit, run), NaN past its own count) and the law, likelihood,
        sampler, priors and runs' metadata in the posterior's attributes (what `load` needs)."""
        longest = max(len(r) for r in self.runs)
        inputs = ["N", "D", "C", "loss", *self.runs[0].extra]
        constant = {name: (("fit", "run"), np.stack([
            np.pad(np.asarray(getattr(r, name), np.float64), (0, longest - len(r)),
                   constant_values=np.nan) for r in self.runs])) for name in inputs}
        runs_meta = [{"num_runs": len(r), "source": r.source,
                      "flops_per_param_token": r.flops_per_param_token,
                      "dropped": list(r.dropped), "columns": r.columns,
                      "lines": None if r.lines is None else np.asarray(r.lines).tolist(),
                      "group": None if r.group is None else np.asarray(r.group).tolist()}
                     for r in self.runs]
        return sweep_idata("fit", self.names, self.samples, self.stats, constant, {
            "kind": "FitBatch", "law": self.law.name, "likelihood": self.likelihood,
            "sampler": json.dumps(dataclasses.asdict(self.config)),
            "priors": json.dumps([{k: describe_prior(v, exact=True) for k, v in p.items()}
                                  for p in self.priors]),
            "runs": json.dumps(runs_meta)})

    @classmethod
    def from_idata(cls, idata):
        """The batch `idata` describes (the inverse of `idata`, as `load` reads it)."""
        attrs = idata.posterior.attrs
        const = idata.constant_data
        runs = []
        for i, meta in enumerate(json.loads(attrs["runs"])):
            n = meta["num_runs"]
            values = {k: const[k].values[i, :n] for k in const.data_vars}
            core = {k: values.pop(k) for k in ("N", "D", "C", "loss")}
            runs.append(Runs(**core, extra=values, source=meta["source"],
                             flops_per_param_token=meta["flops_per_param_token"],
                             dropped=tuple(meta["dropped"]), columns=meta["columns"],
                             lines=None if meta["lines"] is None else np.asarray(meta["lines"]),
                             group=None if meta["group"] is None else np.asarray(meta["group"])))
        priors = [{k: parse_prior(f"{k}={v}")[k] for k, v in p.items()}
                  for p in json.loads(attrs["priors"])]
        return cls(law=get_law(attrs["law"]), likelihood=attrs["likelihood"],
                   config=SamplerConfig(**json.loads(attrs["sampler"])), runs=runs,
                   priors=priors, samples=item_axis_first(idata.posterior),
                   stats=item_axis_first(idata.sample_stats),
                   names=[str(n) for n in idata.posterior["fit"].values])
