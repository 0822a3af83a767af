"""Emergence thresholds: when does a downstream ability appear, with a posterior for it.

The model of one task is in `emergence_model` (mean score between chance and a ceiling, spread
Var ∝ N^−γ, Beta-binomial evaluation noise). Here: fitting many tasks with one compiled program
(`fit_emergence`) and the threshold posterior (`thresholds`).

Threshold. N*(q, δ) is the smallest scale at which the central ``q`` interval (default 0.95) of
a fresh model's predictive score lies entirely above chance plus a margin δ (default 5% of the
way from chance to a perfect score): with F the score's CDF at that scale, the interval's lower
end exceeds r + δ exactly when F(r + δ) < (1 − q)/2. Per posterior draw this is found on a fine
log-spaced grid (default 200 points, 2.3% apart over 100x-range ladders) over a range that extends beyond the data (default: the
smallest observed scale to 100x the largest, and any scale asked about), computed exactly
(incomplete beta function, or the Beta-binomial's pmf summed). Draws that never emerge inside
the range have N* = ∞: that mass is reported (``p_beyond_range``), never dropped, and an
interval reaching it is open-ended (``N_star_hi = inf``). Draws emerged already at the range's
start count at the start (``p_at_start``).

Example
-------
>>> import jax, bayes_scaling as bs
>>> from bayes_scaling.emergence.fit import fit_emergence
>>> from bayes_scaling.emergence.simulate import simulate_scores
>>> scores, truth = simulate_scores(jax.random.key(0), num_tasks=4)
>>> short = bs.SamplerConfig(num_chains=2, num_warmup=300, num_samples=300, target_accept=0.95,
...                          max_tree_depth=8)
>>> import warnings
>>> with warnings.catch_warnings():  # chains this short may fail the gate: that warns
...     warnings.simplefilter("ignore", bs.ConvergenceWarning)
...     fit = fit_emergence(scores, key=jax.random.key(1), config=short)
>>> list(fit.check().columns[:3])  # the gate's verdict per task
['task', 'num_scores', 'ok']
>>> report = fit.thresholds()
>>> list(report.table.columns[:4])
['task', 'chance', 'margin', 'N_star_median']
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..inference.padding import pad_runs, pad_to, padded_size
from ..inference.remedy import MAX_REMEDIES, REMEDY_STREAM, next_remedy
from ..inference.sampler import SamplerConfig, batch_strategy, run_batch
from ..laws.registry import get_law
from ..posterior import SweepResult, gate, item_axis_first, sweep_idata
from .data import Scores, ScoresError, load_scores
from .model import (EXACT_COUNTS, MEANS, PARAMS, EmergenceModel, num_params, score_cdf,
                    score_distribution, task_data)

__all__ = ["fit_emergence", "EmergenceFit", "EmergenceReport", "LossCurve", "thresholds",
           "load_scores", "Scores", "ScoresError", "DEFAULT_MARGIN", "threshold_draws",
           "predict_scores"]

DEFAULT_MARGIN = 0.05  # δ as a fraction of the way from chance to a perfect score
# Eight to sixteen scores per task leave curved ridges in (height, slope, midpoint): every
# ceiling above the highest score fits when the curve never flattens, and every far midpoint
# fits a task still at chance. On Pythia's 9 tasks x 8 models (items known) 4 x (500 + 500) at
# acceptance 0.95 and depth 8 passed the gate for 2 tasks (ESS down to 77, divergences up to
# 13); 4 x (1000 + 1000) at 0.99 and depth 10 passed for 6, at 1.8x the time. Reparameterising
# the ceiling (log(-log(1 - height))) or the curve by its values at two anchors of the data was
# tried and was worse.
# A task's scores are padded to 16, then to powers of two (`inference.padding.padded_size`):
# ladders of 8-16 model sizes share one compiled sampler. Not to the runs' 256: the gradient
# costs per score, and warm fits of 3-5 tasks x 11-14 scores (2 chains x 600 iterations) took
# 4.2-8.3 s padded to 256 against 0.8-1.4 s padded to 16 (2 shared CPU cores).
SMALLEST_SCORES = 16
# Wall time for a batch of tasks and its remedies together: more than a single loss fit's
# (`inference.remedy.REMEDY_BUDGET_S`, 120 s), since each remedy's settings compile a sampler of
# their own (20-35 s) and refit every task that needs it. On Pythia's 7 tasks the first batch
# took 26 s; with its remedies (3 of 7 tasks refitted, twice the iterations) 81 s in all, and
# 63 s with another key (benchmarks/results/bench_defaults_cpu.md, 2 cores).
REMEDY_BUDGET_S = 300.0
DEFAULT_CONFIG = SamplerConfig(num_chains=4, num_warmup=1000, num_samples=1000,
                               target_accept=0.99, max_tree_depth=10)


@dataclasses.dataclass(frozen=True)
class ScaleAxis:
    """How one task's scale coordinate t is made from its scale u (N or C)."""

    centre: float          # mean log u of the data
    ell_bar: float = 0.0   # loss-linked: mean log-loss over the data
    ell_sd: float = 1.0    # loss-linked: its standard deviation
    x_sd: float = 1.0      # loss-linked: the standard deviation of log u

    def t(self, log_u, ell=None):
        """t at log scale ``log_u``, or, loss-linked, at log-loss ``ell`` (any shape)."""
        if ell is None:
            return np.asarray(log_u) - self.centre
        return -(ell - self.ell_bar) / self.ell_sd * self.x_sd


class EmergenceFit(SweepResult):
    """The posterior of `fit_emergence`: arrays with leading axes (task, chain, draw).

    ``idata`` is the posterior as ArviZ InferenceData with a ``task`` dimension;
    ``thresholds(...)`` the threshold posterior; ``check()``, ``draws``, ``summary()`` and
    ``warn_if_unconverged()`` follow the result protocol (`SweepResult`), one item per task.
    """

    ITEM = "task"

    def __init__(self, *, mean, scale, scores, tasks, axes, samples, stats, config,
                 loss_log=None, tokens_per_param=None, remedies=None):
        self.mean, self.scale, self.scores, self.tasks = mean, scale, scores, tasks
        self.axes, self.samples, self.stats, self.config = axes, samples, stats, config
        self.loss_log = loss_log  # loss-linked: log L(u) per loss draw, a function
        self.tokens_per_param = tokens_per_param
        self.remedies = dict(remedies or {})  # task: the remedies tried (`remedy_tasks`)

    @property
    def item_names(self):
        return self.tasks

    @property
    def param_names(self):
        return [n for n in PARAMS if n in self.samples]

    def draws(self, names=None, task=None):
        """`SweepResult.draws`; with ``task``, that task's draws only (shape (chain·draw,))."""
        if isinstance(names, str) and task is not None:  # 0.1's draws(name, task): one array
            warnings.warn("EmergenceFit.draws(name, task) is now draws([name], task)[name]; the "
                          "old form goes in 0.3", DeprecationWarning, stacklevel=2)
            return np.asarray(self.samples[names][self.tasks.index(task)]).reshape(-1)
        every = super().draws(names)
        if task is None:
            return every
        return {name: values[self.tasks.index(task)] for name, values in every.items()}

    def with_draws(self, samples, **changes):
        """A copy with other ``samples`` (and attributes in ``changes``) that keeps this fit's
        gate: for scoring known parameters through the same code (`simulate.true_fit`)."""
        out = copy.copy(self)
        out._diagnostics = self.check()
        out.samples = samples
        for name, value in changes.items():
            setattr(out, name, value)
        return out

    def _describe_items(self, table):
        table.insert(1, "num_scores", [int(self.scores.rows(t).sum()) for t in self.tasks])
        table["remedies"] = ["; ".join(self.remedies.get(t, ())) for t in self.tasks]
        return table

    @property
    def idata(self):
        """The fit as InferenceData: the posterior with dims (chain, draw, task); the scores in
        ``constant_data`` (dim ``score_row``), a loss-linked fit's loss-law draws too (dim
        ``loss_draw``), and the settings `load` needs in the posterior's attributes."""
        scores = self.scores
        constant = {k: (("score_row",), np.asarray(getattr(scores, k), np.float64))
                    for k in ("N", "D", "C", "score", "chance", "items")}
        attrs = {"kind": "EmergenceFit", "mean": self.mean, "scale": self.scale,
                 "chance": [scores.chance_of(t) for t in self.tasks],
                 "tasks": json.dumps(list(self.tasks)),
                 "sampler": json.dumps(dataclasses.asdict(self.config)),
                 "axes": json.dumps([dataclasses.asdict(a) for a in self.axes]),
                 "tokens_per_param": json.dumps(self.tokens_per_param),
                 "remedies": json.dumps(self.remedies),
                 "scores": json.dumps({
                     "task": scores.task.tolist(), "ceiling": scores.ceiling,
                     "lines": None if scores.lines is None else np.asarray(scores.lines).tolist(),
                     "group": None if scores.group is None else np.asarray(scores.group).tolist(),
                     "source": scores.source, "columns": scores.columns,
                     "flops_per_param_token": scores.flops_per_param_token,
                     "dropped": list(scores.dropped)})}
        if isinstance(self.loss_log, LossCurve):
            attrs["loss_law"] = self.loss_log.law.name
            attrs["loss_tokens_per_param"] = self.loss_log.tokens_per_param
            constant.update({f"loss_{k}": (("loss_draw",), v)
                             for k, v in self.loss_log.params.items()})
        elif self.loss_log is not None:
            raise TypeError("this fit's loss curve is a plain function, which a file cannot "
                            "hold; build it with loss_function")
        return sweep_idata("task", self.tasks, self.samples, self.stats, constant, attrs)

    @classmethod
    def from_idata(cls, idata):
        """The fit `idata` describes (the inverse of `idata`, as `load` reads it)."""
        attrs, const = idata.posterior.attrs, idata.constant_data
        meta = json.loads(attrs["scores"])
        scores = Scores(
            task=np.asarray(meta["task"]), ceiling=meta["ceiling"],
            **{k: const[k].values for k in ("N", "D", "C", "score", "chance", "items")},
            lines=None if meta["lines"] is None else np.asarray(meta["lines"]),
            group=None if meta["group"] is None else np.asarray(meta["group"]),
            source=meta["source"], columns=meta["columns"],
            flops_per_param_token=meta["flops_per_param_token"],
            dropped=tuple(meta["dropped"]))
        tokens_per_param = json.loads(attrs["tokens_per_param"])
        loss_log = None
        if "loss_law" in attrs:
            params = {k[len("loss_"):]: const[k].values for k in const.data_vars
                      if k.startswith("loss_")}
            loss_log = LossCurve(get_law(attrs["loss_law"]), params,
                                 float(attrs["loss_tokens_per_param"]))
        return cls(mean=attrs["mean"], scale=attrs["scale"], scores=scores,
                   tasks=json.loads(attrs["tasks"]),
                   axes=[ScaleAxis(**a) for a in json.loads(attrs["axes"])],
                   samples=item_axis_first(idata.posterior),
                   stats=item_axis_first(idata.sample_stats),
                   config=SamplerConfig(**json.loads(attrs["sampler"])), loss_log=loss_log,
                   tokens_per_param=tokens_per_param,
                   remedies=json.loads(attrs.get("remedies", "{}")))

    def t_of(self, task, log_u, draws=None):
        """Scale coordinate t at ``log_u`` (log N or log C) for ``task``: shape (grid,) or, for
        loss-linked fits, (draws, grid) with ``draws`` indices of the loss posterior."""
        axis = self.axes[self.tasks.index(task)]
        return axis.t(log_u, None if self.loss_log is None else self.loss_log(log_u, draws))

    def task_params(self, task, max_draws=None):
        """A dict of parameter draws of one task (thinned evenly to at most ``max_draws``)."""
        i = self.tasks.index(task)
        out = {name: np.asarray(v[i]).reshape(-1) for name, v in self.samples.items()
               if name in PARAMS}
        total = len(next(iter(out.values())))
        if max_draws and total > max_draws:
            pick = np.linspace(0, total - 1, max_draws).round().astype(int)
            out = {k: v[pick] for k, v in out.items()}
        return out

    def items_of(self, task):
        """Items a fresh evaluation of ``task`` has: the most common count (0 = unknown)."""
        m = self.scores.items[self.scores.rows(task)]
        values, counts = np.unique(m, return_counts=True)
        return float(values[np.argmax(counts)])

    def scale_of(self, task):
        """The task's observed scale values (N or C)."""
        return getattr(self.scores, self.scale)[self.scores.rows(task)]

    def thresholds(self, **options):
        """`thresholds` of this fit."""
        return thresholds(self, **options)


def _design(scores, mean, scale, loss_log, dtype, num_fits, length):
    """The model's data dicts of the tasks, padded and stacked, and each task's axis constants.

    Each task's scores are padded to ``length`` and the tasks to ``num_fits`` (see
    `fit_emergence`): the padding repeats the first score or the first task (finite values, so
    that no NaN reaches a gradient) and the mask leaves it out of the likelihood.
    """
    datas, axes = [], []
    for task in scores.tasks:
        r = scores.rows(task)
        log_u = np.log(getattr(scores, scale)[r])
        if not np.isfinite(log_u).all():
            line = scores.lines[r][~np.isfinite(log_u)][0]
            raise ScoresError(f"{scores.source}, line {line}, task {task!r}: no {scale} value "
                              f"(needed by --scale {scale})")
        ell = None if loss_log is None else np.median(loss_log(log_u, None), axis=0)
        axis = ScaleAxis(float(log_u.mean())) if ell is None else loss_axis(log_u, ell)
        t = axis.t(log_u, ell)
        span = max(float(np.ptp(t)), 1.0)
        x, score, mask = pad_runs({"t": t, "items": scores.items[r]}, scores.score[r], length)
        datas.append(task_data(jnp.asarray(x["t"], dtype), score, x["items"],
                               scores.chance[r][0], ceiling=scores.ceiling, mask=mask,
                               span=span))
        axes.append(axis)
    fits = pad_to(np.arange(len(datas)), num_fits)  # padded fits copy the first task...
    data = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *(datas[i] for i in fits))
    real = np.arange(num_fits) < len(datas)  # ...with every score masked: only their prior
    data["mask"] = data["mask"] & real[:, None]
    return data, axes


def loss_axis(log_u, ell):
    """The loss-linked axis of a task: t = −(log L − mean)/sd · sd(log N), so t spreads as
    the centred log N does (``log_u``: log N of the data; ``ell``: log L there)."""
    return ScaleAxis(float(log_u.mean()), float(ell.mean()), float(ell.std() or 1.0),
                     float(log_u.std() or 1.0))


@dataclasses.dataclass(frozen=True, eq=False)
class LossCurve:
    """log L(N) per draw of a loss law's parameters, with D = ``tokens_per_param``·N: the first
    stage of the ``loss-linked`` mean. Call it as ``curve(log_n, draws)`` for an array of shape
    (draws, points); ``draws=None`` means all draws, and indices wrap around."""

    law: object            # the loss law (`laws.base.Law`)
    params: dict           # its parameters' draws, 1-D arrays of one length
    tokens_per_param: float

    def __call__(self, log_n, draws=None):
        log_n = np.asarray(log_n, np.float64)
        count = len(next(iter(self.params.values())))
        chosen = self.params if draws is None else {
            k: v[np.asarray(draws) % count] for k, v in self.params.items()}
        x = {"N": log_n[None, :], "D": log_n[None, :] + np.log(self.tokens_per_param)}
        x = {k: v for k, v in x.items() if k in self.law.inputs}
        p = {k: v[:, None] for k, v in chosen.items()}
        return np.asarray(self.law.log_loss(p, x))


def loss_function(law, params, tokens_per_param, max_draws=400):
    """The `LossCurve` of a loss law's parameter draws ``params`` (a dict of arrays), thinned
    evenly to at most ``max_draws``."""
    params = {k: np.asarray(v, np.float64).reshape(-1) for k, v in params.items()}
    total = len(next(iter(params.values())))
    pick = np.linspace(0, total - 1, min(total, max_draws)).round().astype(int)
    return LossCurve(law, {k: v[pick] for k, v in params.items()}, float(tokens_per_param))


def fit_emergence(scores, *, key, mean="sigmoid", scale="N", steps=None, loss_posterior=None,
                  tokens_per_param=None, config=None, strategy="auto", num_devices=None,
                  dtype=None, remedy=None, remedy_budget_s=REMEDY_BUDGET_S, **load_options):
    """Fit the emergence model to every task with one compiled NUTS program.

    The tasks and their scores are padded to a few sizes (masked: the results are unchanged),
    so that fits of other numbers of tasks and scores reuse the compiled program.

    Parameters
    ----------
    scores : Scores, str, os.PathLike or pandas.DataFrame
        One row per (model, task); paths and frames go through `load_scores` (``load_options``).
    key : jax.random key
        One key for the batch; each task gets its own (split from it).
    mean : {"sigmoid", "multi-step", "loss-linked"}
        The mean score's shape (see `emergence_model`).
    scale : {"N", "C"}
        The scale the curve is a function of: parameters or training compute.
    steps : float, optional
        ``multi-step``: fix k (default: fitted).
    loss_posterior : Posterior, optional
        ``loss-linked``: a fitted loss law (stage one); its draws are propagated into every
        forecast (the scores are fitted against its median curve).
    tokens_per_param : float, optional
        Tokens per parameter of the models (e.g. 20, Chinchilla's rule): needed by
        ``loss-linked`` (D = rule·N), and converts thresholds to compute (C = k·N·rule·N).
    config : SamplerConfig, optional
        Default `DEFAULT_CONFIG`: 4 chains x (1000 warmup + 1000 draws), acceptance 0.99.
    strategy, num_devices
        How the tasks share the devices (`inference.sampler.batch_strategy`): one after another per
        CPU core, vectorised on accelerators; split over every device (at most one per task).
    remedy : bool, optional
        Refit the tasks that fail the diagnostics gate with the standard remedy for their
        failure (`inference.remedy.next_remedy`: another key, or twice the warmup and draws),
        within ``remedy_budget_s`` seconds in all; a task's refit replaces its draws only when
        it passes the gate (`remedy_tasks`). The remedies tried are in ``fit.remedies``.
        Default: on with the default settings, off with your own ``config``.
    remedy_budget_s : float
        Wall time for the batch and its remedies together (`REMEDY_BUDGET_S`, 300 s).

    Returns
    -------
    EmergenceFit
        Warns with `ConvergenceWarning` naming the tasks that fail the diagnostics gate.
    """
    if mean not in MEANS:
        raise ValueError(f"unknown mean shape {mean!r}; choose one of {MEANS}")
    if scale not in ("N", "C"):
        raise ValueError(f"scale must be 'N' or 'C', got {scale!r}")
    scores = scores if isinstance(scores, Scores) else load_scores(scores, **load_options)
    remedy = config is None if remedy is None else remedy
    config = config or DEFAULT_CONFIG
    loss_log = None
    if mean == "loss-linked":
        if loss_posterior is None:
            raise ValueError("mean='loss-linked' needs loss_posterior (a fitted loss law)")
        if scale != "N":
            raise ValueError("mean='loss-linked' works on scale 'N' (the loss law's input)")
        tokens_per_param = 20.0 if tokens_per_param is None else tokens_per_param
        law = loss_posterior.law
        loss_log = loss_function(law, loss_posterior.draws(law.param_names), tokens_per_param)
    need = num_params(mean, steps is None)
    for task in scores.tasks:
        r = scores.rows(task)
        if r.sum() < need:
            raise ScoresError(f"{scores.source}, task {task!r} (lines "
                              f"{', '.join(map(str, scores.lines[r]))}): {int(r.sum())} scores "
                              f"are too few to fit the {need} parameters of the {mean!r} model")

    def sample(chosen, settings, sample_key):
        return _sample(chosen, sample_key, mean=mean, scale=scale, steps=steps,
                       loss_log=loss_log, tokens_per_param=tokens_per_param, config=settings,
                       strategy=strategy, num_devices=num_devices, dtype=dtype)

    started = time.perf_counter()
    fit = sample(scores, config, key)
    if remedy:
        fit = remedy_tasks(fit, sample, key, time.perf_counter() - started, remedy_budget_s)
    fit.warn_if_unconverged()
    return fit


def _sample(scores, key, *, mean, scale, steps, loss_log, tokens_per_param, config, strategy,
            num_devices, dtype):
    """One batch of NUTS over every task of ``scores`` (`fit_emergence` without its checks,
    remedies and warning)."""
    # The compiled sampler is specialised to (fits, scores per task): both are padded to a
    # bucket (`inference.padding`), so other numbers of tasks and scores reuse it (`run_batch`
    # then pads the fits to the devices, as for any batch). A padded fit samples its prior only:
    # 3 tasks of 10 scores, warm, took 1.0-1.25 s padded to 4 x 16 against 0.8-0.9 s unpadded;
    # a new shape compiled for 20-35 s.
    num_tasks = len(scores.tasks)
    num_fits = padded_size(num_tasks, smallest=1)
    per_device, devices = batch_strategy(strategy, num_devices)
    devices = min(devices, num_fits) if num_devices is None else devices
    longest = max(int(scores.rows(t).sum()) for t in scores.tasks)
    data, axes = _design(scores, mean, scale, loss_log, dtype, num_fits,
                         padded_size(longest, smallest=SMALLEST_SCORES))
    if steps is not None:
        data["steps"] = jnp.full_like(data["steps"], float(steps))
    task_keys = jax.random.split(key, num_tasks)[pad_to(np.arange(num_tasks), num_fits)]
    keys = jax.vmap(lambda k: jax.random.split(k, config.num_chains))(task_keys)
    spec = EmergenceModel(mean, steps is None)
    samples, stats = run_batch(spec, config, keys, (data,), {}, strategy, devices,
                               num_real=num_tasks)
    samples, stats = ({k: v[:num_tasks] for k, v in d.items()} for d in (samples, stats))
    return EmergenceFit(mean=mean, scale=scale, scores=scores, tasks=scores.tasks, axes=axes,
                        samples=samples, stats=stats, config=config, loss_log=loss_log,
                        tokens_per_param=tokens_per_param)


def _task_diagnostics(fit, task):
    """The gate's verdict on one task of ``fit`` as `Diagnostics` (what `next_remedy` reads):
    the per-task numbers of `EmergenceFit.check` and the chains' adapted step sizes."""
    row = fit.check().set_index("task").loc[task]
    step_sizes = np.median(np.asarray(fit.stats["step_size"][fit.tasks.index(task)]), axis=-1)
    return gate(row["max_r_hat"], row["min_ess_bulk"], row["min_ess_tail"], row["divergences"],
                row["min_bfmi"], step_sizes)


def _thinned(values, factor, name):
    """Draws (chain, draw·factor, ...) thinned to (chain, draw, ...): the last of every
    ``factor`` iterations is kept, and a divergence anywhere among them stays on it."""
    values = np.asarray(values)
    blocks = values.reshape(values.shape[0], -1, factor, *values.shape[2:])
    return blocks.any(axis=2) if name == "diverging" else blocks[:, :, -1]


def remedy_tasks(fit, sample, key, first_took, budget_s=REMEDY_BUDGET_S,
                 max_remedies=MAX_REMEDIES):
    """Refit the tasks of ``fit`` that fail the diagnostics gate, with the standard remedies.

    Each failing task gets `inference.remedy.next_remedy` of its own failure (with the
    emergence settings' acceptance already at its ceiling, that is another key, or twice the
    warmup and draws); tasks with the same remedy are refitted together, with the key
    ``fold_in(key, REMEDY_STREAM + attempt)`` (a second group of the same round folds in its
    number too). A refit that passes the gate replaces the task's draws, thinned to the
    batch's length when it drew more (`_thinned`: the stored chains keep every second or fourth
    iteration); one that fails leaves the first draws and its own verdict is the next remedy's
    starting point. At most ``max_remedies`` rounds, and
    a refit is not started when the estimated time (the first batch's, scaled by the
    iterations) would pass ``budget_s`` seconds since the first batch began.

    Parameters
    ----------
    fit : EmergenceFit
    sample : callable
        ``sample(scores, config, key)`` returns an `EmergenceFit` of those scores' tasks.
    key : jax.random key
        The first batch's key.
    first_took : float
        Seconds the first batch took.

    Returns
    -------
    EmergenceFit
        ``fit`` with the remedied tasks' draws replaced and ``remedies`` (task: notes) set.
    """
    started = time.perf_counter() - first_took
    verdicts = {task: _task_diagnostics(fit, task) for task in fit.tasks}
    settings = {task: fit.config for task in fit.tasks}
    notes, out_of_time = {}, set()
    samples = {name: np.array(v) for name, v in fit.samples.items()}
    stats = {name: np.array(v) for name, v in fit.stats.items()}
    iterations = fit.config.num_warmup + fit.config.num_samples
    for attempt in range(1, max_remedies + 1):
        plans = {}
        for task in fit.tasks:
            step = None if task in out_of_time else next_remedy(verdicts[task], settings[task])
            if step is not None:
                plans.setdefault(step.config, []).append((task, step.reason))
        for group, (config, planned) in enumerate(plans.items()):
            estimate = first_took * (config.num_warmup + config.num_samples) / iterations
            if time.perf_counter() - started + estimate > budget_s:
                for task, reason in planned:
                    notes.setdefault(task, []).append(
                        f"not tried ({reason.split(':')[0]}): a refit would take about "
                        f"{estimate:.0f} s, past the {budget_s:g} s budget")
                    out_of_time.add(task)
                continue
            tasks = [task for task, _ in planned]
            # the round's key; a second group in the same round folds in its number
            round_key = jax.random.fold_in(key, REMEDY_STREAM + attempt)
            refit = sample(fit.scores.subset(np.isin(fit.scores.task, tasks)), config,
                           jax.random.fold_in(round_key, group) if group else round_key)
            factor = config.num_samples // fit.config.num_samples
            for task, reason in planned:
                verdicts[task], settings[task] = _task_diagnostics(refit, task), config
                passed = verdicts[task].ok
                notes.setdefault(task, []).append(
                    f"{reason}; the gate {'passed' if passed else 'still failed'}")
                if passed:
                    i, j = fit.tasks.index(task), refit.tasks.index(task)
                    for source, target in ((refit.samples, samples), (refit.stats, stats)):
                        for name in target:
                            target[name][i] = _thinned(source[name][j], factor, name)
    fit.replace_draws(samples, stats)
    fit.remedies = notes
    return fit


# -- thresholds -------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("mean", "max_count"))
def _emerged(params, t, chance, ceiling, items, bound, alpha, *, mean, max_count):
    """Whether the central interval clears ``bound``: F(bound) < alpha, shape (draws, grid)."""

    def one_draw(args):
        p, t_row = args
        d = score_distribution(mean, p, t_row, chance, ceiling, items)
        return score_cdf(d.a, d.b, d.items, bound, max_count) < alpha

    return jax.lax.map(one_draw, (params, t), batch_size=8)


def threshold_draws(fit, task, log_grid, *, level=0.95, margin=None, max_draws=1000):
    """Per posterior draw, the index of the first grid scale where ``task`` has emerged
    (``len(log_grid)`` when it never does), and the emerged flags (draws, grid)."""
    r, c = fit.scores.chance_of(task), fit.scores.ceiling
    delta = (DEFAULT_MARGIN if margin is None else margin) * (1 - r)
    params = fit.task_params(task, max_draws)
    num = len(params["height"])
    if fit.mean == "loss-linked":
        t = fit.t_of(task, log_grid, draws=np.arange(num))
    else:
        t = np.broadcast_to(fit.t_of(task, log_grid), (num, len(log_grid)))
    if "steps" not in params:
        params["steps"] = np.full(num, 1.0)
    items = fit.items_of(task)
    max_count = 1 << int(np.ceil(np.log2(items * min(r + delta, 1.0) + 2))) if items else 1
    max_count = max_count if max_count <= EXACT_COUNTS else EXACT_COUNTS + 1  # approximate
    dtype = jnp.result_type(float)
    flags = np.asarray(_emerged({k: jnp.asarray(v, dtype) for k, v in params.items()},
                                jnp.asarray(t, dtype), r, c, items, r + delta,
                                (1 - level) / 2, mean=fit.mean, max_count=max_count))
    first = np.where(flags.any(axis=1), flags.argmax(axis=1), len(log_grid))
    return first, flags


def _quantile(sorted_values, q):
    """Quantile as an actual draw (no interpolation, so ∞ stays ∞)."""
    return sorted_values[min(int(np.floor(q * len(sorted_values))), len(sorted_values) - 1)]


@dataclasses.dataclass
class EmergenceReport:
    """Threshold posterior of every task.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per task: N* median and central interval (``inf`` = beyond the range: the
        interval is then open-ended, ``open_ended`` True), ``p_beyond_range`` (draws that never
        emerge inside the range), ``p_at_start``, P(emerged by the largest observed scale), the
        range, ``p_emerged_by_<scale>`` for each scale asked about (``at``), compute-unit
        columns when a tokens-per-parameter rule is known, and the diagnostics verdict.
    curve : pandas.DataFrame
        P(emerged by scale) on the grid: task, scale, p_emerged.
    at : pandas.DataFrame
        P(emerged by scale) at the scales asked about.
    draws : dict
        Per task, the N* draws (∞ where never emerged in range).
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    at: pd.DataFrame
    draws: dict
    level: float
    interval: float
    scale: str


def check_threshold_options(level=0.95, margin=None, interval=0.9):
    """Raise ValueError for a level, margin or interval outside its range (callers check before
    a long fit, not after)."""
    if margin is not None and not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    if not 0 < level < 1 or not 0 < interval < 1:
        raise ValueError(f"level and interval must be in (0, 1), got {level}, {interval}")


def thresholds(fit, *, level=0.95, margin=None, scale_range=None, at=(), num_grid=200,
               interval=0.9, max_draws=600):
    """The posterior of the emergence threshold N*(level, margin) of every task.

    Parameters
    ----------
    fit : EmergenceFit
    level : float
        q: the central predictive interval that must clear chance + margin (default 0.95).
    margin : float, optional
        δ as a fraction of the way from each task's chance r to a perfect score: the interval
        must clear r + margin·(1 − r) (default 0.05; 0 is the literal "clears chance").
    scale_range : (float, float), optional
        The range searched (in the fit's scale units). Default: the smallest observed scale
        to 100x the largest, widened to include ``at``.
    at : sequence of float
        Scales at which to report P(emerged by then).
    num_grid : int
        Log-spaced grid points.
    interval : float
        The central interval reported for N* (default 0.9).
    max_draws : int
        Posterior draws used per task (thinned evenly).

    Returns
    -------
    EmergenceReport
    """
    check_threshold_options(level, margin, interval)
    at = [float(a) for a in (at or ())]
    diagnostics = fit.check().set_index("task")
    rows, curves, at_rows, all_draws = [], [], [], {}
    lo_q, hi_q = (1 - interval) / 2, (1 + interval) / 2
    for task in fit.tasks:
        observed = fit.scale_of(task)
        lo, hi = scale_range or (observed.min(), observed.max() * 100)
        hi = max([hi] + at)
        log_grid = np.linspace(np.log(lo), np.log(hi), num_grid)
        first, _ = threshold_draws(fit, task, log_grid, level=level, margin=margin,
                                   max_draws=max_draws)
        grid = np.exp(log_grid)
        n_star = np.where(first < num_grid, grid[np.minimum(first, num_grid - 1)], np.inf)
        ordered = np.sort(n_star)
        r = fit.scores.chance_of(task)
        row = {"task": task, "chance": r,
               "margin": (DEFAULT_MARGIN if margin is None else margin) * (1 - r),
               f"{fit.scale}_star_median": _quantile(ordered, 0.5),
               f"{fit.scale}_star_lo": _quantile(ordered, lo_q),
               f"{fit.scale}_star_hi": _quantile(ordered, hi_q),
               "open_ended": bool(np.isinf(_quantile(ordered, hi_q))),
               "p_beyond_range": float(np.mean(np.isinf(n_star))),
               "p_at_start": float(np.mean(first == 0)),
               "largest_observed": float(observed.max()),
               "p_emerged_at_largest": float(np.mean(n_star <= observed.max())),
               "range_lo": float(lo), "range_hi": float(hi)}
        row.update(_compute_units(fit, row))
        row.update({"diagnostics_ok": bool(diagnostics.loc[task, "ok"]),
                    "problems": diagnostics.loc[task, "problems"]})
        row.update({f"p_emerged_by_{a:.3g}": float(np.mean(n_star <= a)) for a in at})
        rows.append(row)
        curves.append(pd.DataFrame({"task": task, fit.scale: grid,
                                    "p_emerged": np.searchsorted(ordered, grid, side="right")
                                    / len(ordered)}))
        at_rows += [{"task": task, fit.scale: a, "p_emerged": float(np.mean(n_star <= a))}
                    for a in at]
        all_draws[task] = n_star
    table = pd.DataFrame(rows)
    return EmergenceReport(table=table, curve=pd.concat(curves, ignore_index=True),
                           at=pd.DataFrame(at_rows, columns=["task", fit.scale, "p_emerged"]),
                           draws=all_draws, level=level, interval=interval, scale=fit.scale)


def _compute_units(fit, row):
    """The threshold in the other unit through C = k·N·(rule·N), when a rule is known."""
    rule, k = fit.tokens_per_param, fit.scores.flops_per_param_token
    if rule is None:
        return {}
    out = {}
    for part in ("median", "lo", "hi"):
        value = row[f"{fit.scale}_star_{part}"]
        if fit.scale == "N":
            out[f"C_star_{part}"] = k * rule * value ** 2
        else:
            out[f"N_star_{part}"] = np.sqrt(value / (k * rule))
    return out


def predict_scores(fit, task, values, *, key, prob=0.9, items=None):
    """Posterior predictive score of a fresh model of ``task`` at scales ``values``: a table
    with the median and the central ``prob`` interval (from one predictive draw per
    posterior draw; ``items`` defaults to the task's usual count)."""
    values = np.asarray(values, float)
    params = fit.task_params(task)
    count = len(params["height"])
    log_u = np.log(values)
    t = (fit.t_of(task, log_u, draws=np.arange(count)) if fit.mean == "loss-linked"
         else np.broadcast_to(fit.t_of(task, log_u), (count, len(values))))
    params.setdefault("steps", np.ones(count))
    p = {k: jnp.asarray(v)[:, None] for k, v in params.items()}
    n = fit.items_of(task) if items is None else items
    draws = np.asarray(score_distribution(fit.mean, p, jnp.asarray(t), fit.scores.chance_of(task),
                                          fit.scores.ceiling, n).sample(key))
    lo, med, hi = np.quantile(draws, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    return pd.DataFrame({"task": task, fit.scale: values, "median": med, "lo": lo, "hi": hi})
