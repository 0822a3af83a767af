"""Simulated tasks with known truth, and that truth as a fit: the pieces of calibration studies.

`simulate_scores` draws each task's parameters from the model's priors and scores from the
model; `true_fit` turns the true parameters into a one-draw `EmergenceFit`, so the true N*
comes out of the same `thresholds` code as the fitted one.

Example
-------
>>> import jax
>>> from bayes_scaling.emergence.simulate import simulate_scores
>>> scores, truth = simulate_scores(jax.random.key(0), num_tasks=3)
>>> scores.tasks, sorted(truth)[:3]
(['task0', 'task1', 'task2'], ['gamma', 'height', 'logit_phi'])
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from ..datasets import EPOCH_CHINCHILLA
from .fit import ScaleAxis, loss_axis, loss_function
from .data import Scores
from .model import PARAMS, EmergenceModel, score_distribution, task_data
from ..laws.registry import get_law

__all__ = ["simulate_scores", "true_fit"]


def simulate_scores(key, *, num_tasks=8, mean="sigmoid", sizes=None, items=500, chance=None,
                    steps=None, params=None, loss_law="chinchilla", loss_params=None,
                    tokens_per_param=20.0):
    """Simulated tasks with known truth: parameters drawn from the model's priors.

    Parameters
    ----------
    key : jax.random key
    num_tasks : int
    mean : {"sigmoid", "multi-step", "loss-linked"}
    sizes : array, optional
        The ladder of model sizes N (default 12 sizes from 50M to 50B).
    items : int
        Items per evaluation (0: unknown; scores are then Beta draws).
    chance : sequence of float, optional
        Chance per task (default: 0.25 and 0 alternating).
    steps : float, optional
        Fixed k for multi-step (default: drawn from its prior).
    params : dict, optional
        True parameters per task (arrays of num_tasks), instead of prior draws.
    loss_law, loss_params, tokens_per_param
        ``loss-linked``: the true loss law (default Chinchilla at Epoch AI's refit) of models
        trained on ``tokens_per_param``·N tokens; the score curve is a sigmoid of its log-loss.

    Returns
    -------
    (Scores, dict)
        The scores and the true parameters (arrays over tasks); for ``loss-linked`` also
        ``"loss"``: the law, its parameters and the tokens-per-parameter rule.
    """
    from numpyro.infer import Predictive

    sizes = np.geomspace(5e7, 5e10, 12) if sizes is None else np.asarray(sizes, float)
    chance = (np.resize([0.25, 0.0], num_tasks) if chance is None
              else np.asarray(chance, float))
    log_n = np.log(sizes)
    truth_loss = None
    if mean == "loss-linked":
        truth_loss = {"law": get_law(loss_law), "tokens_per_param": float(tokens_per_param),
                      "params": dict(EPOCH_CHINCHILLA if loss_params is None else loss_params)}
        ell = _true_log_loss(truth_loss)(log_n, None)[0]
        t = loss_axis(log_n, ell).t(log_n, ell)
    else:
        t = ScaleAxis(float(log_n.mean())).t(log_n)
    data = jax.vmap(lambda r: task_data(jnp.asarray(t), jnp.zeros_like(t),
                                        jnp.full(t.shape, float(items)), r,
                                        steps=1.0 if steps is None else steps))(
        jnp.asarray(chance, jnp.result_type(float)))
    del data["score"]
    model = EmergenceModel(mean, steps is None).build()
    k_prior, k_obs = jax.random.split(key)
    keys = jax.random.split(k_prior, num_tasks)
    if params is None:
        draw = jax.vmap(lambda k, d: Predictive(model, num_samples=1)(k, d))(keys, data)
        params = {k: np.asarray(v)[:, 0] for k, v in draw.items() if k in PARAMS}
    if steps is not None or mean != "multi-step":
        params["steps"] = np.full(num_tasks, 1.0 if steps is None else float(steps))
    obs = jax.vmap(lambda k, p, d: score_distribution(mean, p, d["t"], d["chance"],
                                                      d["ceiling"], d["items"]).sample(k))(
        jax.random.split(k_obs, num_tasks), {k: jnp.asarray(v) for k, v in params.items()},
        data)
    obs = np.asarray(obs, np.float64)
    names = np.repeat([f"task{i}" for i in range(num_tasks)], len(sizes))
    scores = Scores(task=names, N=np.tile(sizes, num_tasks), D=np.full(names.shape, np.nan),
                    C=np.full(names.shape, np.nan), score=obs.reshape(-1),
                    chance=np.repeat(chance, len(sizes)),
                    items=np.full(names.shape, float(items)),
                    lines=np.arange(len(names)), source=f"simulate_scores({mean})")
    if truth_loss is not None:
        params["loss"] = truth_loss
    return scores, params


def _true_log_loss(truth_loss):
    """The true loss curve as a one-draw `emergence.fit.loss_function`."""
    return loss_function(truth_loss["law"], {k: [v] for k, v in truth_loss["params"].items()},
                         truth_loss["tokens_per_param"])


def true_fit(fit, truth):
    """The true parameters of `simulate_scores` as a one-draw copy of ``fit``.

    ``true_fit(fit, truth).thresholds()`` gives each task's true N* through the same code as
    ``fit.thresholds()`` (same grid, level and margin), which is how calibration is scored.
    A loss-linked truth brings its own loss curve and axis: t is defined up to an affine map,
    which the parameters absorb, so the true N* does not depend on the fit's axis.
    """
    samples = {k: np.asarray(v).reshape(-1, 1, 1) for k, v in truth.items() if k in fit.samples}
    if "loss" not in truth:
        return fit.with_draws(samples)
    loss_log = _true_log_loss(truth["loss"])
    axes = [loss_axis(np.log(fit.scale_of(task)), loss_log(np.log(fit.scale_of(task)), None)[0])
            for task in fit.tasks]
    return fit.with_draws(samples, loss_log=loss_log, axes=axes)
