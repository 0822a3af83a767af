"""Emergence thresholds: the model without sampling, bad input, one batched fit, calibration on
simulated tasks, real data (obsscaling_emergence, pythia_evals), and the CLI."""

import json
import shutil
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density, log_likelihood
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.emergence.fit import EmergenceFit, fit_emergence, load_scores
from bayes_scaling.emergence.simulate import simulate_scores, true_fit
from bayes_scaling.emergence.data import ScoresError
from bayes_scaling.emergence.model import (EmergenceModel, ScoreDistribution, mean_score,
                                           score_cdf, task_data)
from bayes_scaling.inference.padding import pad_runs
from bayes_scaling.inference.sampler import trace_count
from conftest import console_env

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

# Cheap fits for the batched tests: 2 chains x (300 warmup + 300 draws).
# The same as emergence's docstring example, so that the two share one compiled program.
CHEAP = bs.SamplerConfig(num_chains=2, num_warmup=300, num_samples=300, target_accept=0.95,
                         max_tree_depth=8)
CALIBRATION_TASKS = 100


# -- the model without sampling ---------------------------------------------------------------
def test_mean_shapes_between_chance_and_ceiling():
    t = jnp.linspace(-20, 20, 101)
    params = {"height": 0.8, "slope": 1.5, "midpoint": 0.5, "steps": 3.0}
    for mean in ("sigmoid", "multi-step", "loss-linked"):
        mu = np.asarray(mean_score(mean, params, t, 0.25, 1.0))
        assert np.all(np.diff(mu) >= 0)
        assert mu[0] == pytest.approx(0.25, abs=1e-6) and mu[-1] == pytest.approx(0.85, abs=1e-6)
    # multi-step with k = 1 is the sigmoid; k = 3 is p^3 of it
    one = mean_score("multi-step", {**params, "steps": 1.0}, t, 0.25, 1.0)
    np.testing.assert_allclose(one, mean_score("sigmoid", params, t, 0.25, 1.0), rtol=1e-5)
    p = jax.nn.sigmoid(1.5 * (t - 0.5) + jnp.log(2 ** (-1 / 3) / (1 - 2 ** (-1 / 3))))
    np.testing.assert_allclose(mean_score("multi-step", params, t, 0.25, 1.0),
                               0.25 + 0.6 * p ** 3, rtol=1e-5, atol=1e-7)
    half = mean_score("multi-step", params, jnp.array([0.5]), 0.25, 1.0)
    assert float(half[0]) == pytest.approx(0.25 + 0.6 / 2, rel=1e-5)  # halfway at the midpoint


def test_score_density_and_cdf_match_scipy():
    a, b = jnp.array([2.0, 0.7]), jnp.array([5.0, 3.0])
    beta = ScoreDistribution(a, b, jnp.zeros(2))
    np.testing.assert_allclose(beta.log_prob(jnp.array([0.3, 0.1])),
                               stats.beta(np.asarray(a), np.asarray(b)).logpdf([0.3, 0.1]),
                               rtol=1e-4)
    bb = ScoreDistribution(a, b, jnp.full(2, 40.0))
    np.testing.assert_allclose(bb.log_prob(jnp.array([12 / 40, 0.0])),
                               stats.betabinom(40, np.asarray(a), np.asarray(b)).logpmf([12, 0]),
                               rtol=1e-4)
    for items, x in ((40.0, 0.3), (0.0, 0.3), (40.0, 0.0)):
        got = score_cdf(a, b, jnp.full(2, items), x, max_count=64)
        want = (stats.betabinom(int(items), np.asarray(a), np.asarray(b)).cdf(np.floor(items * x))
                if items else stats.beta(np.asarray(a), np.asarray(b)).cdf(x))
        np.testing.assert_allclose(got, want, rtol=1e-4)


def test_padded_scores_change_no_density():
    """A task's scores padded to a bucket (copies of the first, masked, as `fit_emergence` pads
    them) leave the model's log density at fixed parameters as it is, for Beta-binomial and
    Beta scores alike: a masked score adds exactly 0."""
    t = np.linspace(-3.0, 3.0, 12)
    score = np.array([0.25, 0.26, 0.24, 0.3, 0.35, 0.5, 0.62, 0.7, 0.74, 0.8, 0.81, 0.83])
    items = np.where(np.arange(12) < 6, 200.0, 0.0)  # items known for half the scores
    model = EmergenceModel("multi-step").build()
    params = {"height": 0.8, "slope": 1.2, "midpoint": 0.3, "steps": 2.5, "logit_phi": -4.0,
              "gamma": 0.4}
    exact = task_data(t, score, items, 0.25, span=6.0)
    x, padded_score, mask = pad_runs({"t": t, "items": items}, score, 16)
    padded = task_data(x["t"], padded_score, x["items"], 0.25, mask=mask, span=6.0)
    want, _ = log_density(model, (exact,), {}, params)
    got, _ = log_density(model, (padded,), {}, params)
    # Only the order of summation may differ (float32): each sum of n terms is within
    # (n - 1)·eps·Σ|term| of the exact one (Higham 2002, eq. 4.4), n = 16 with the padding.
    terms = log_likelihood(model, {k: jnp.asarray([v]) for k, v in params.items()},
                           exact)["score"]
    eps = np.finfo(np.float32).eps
    bound = 2 * 15 * eps * (float(jnp.abs(terms).sum()) + abs(float(want)))
    assert abs(float(got) - float(want)) <= bound


# -- bad input --------------------------------------------------------------------------------
def _frame(**changes):
    frame = pd.DataFrame({"params": ["70M", "160M", "410M", "1B", "1.4B", "2.8B"] * 2,
                          "task": ["a"] * 6 + ["b"] * 6,
                          "score": [0.25, 0.27, 0.3, 0.4, 0.5, 0.6] * 2,
                          "chance": [0.25] * 12}).astype(object)
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize("changes, options, message", [
    ({"score": (7, 1.2)}, {}, "line 7, column 'score', task 'b': score 1.2 is outside [0, 1]"),
    ({"score": (2, -0.1)}, {}, "task 'a': score -0.1 is outside [0, 1]"),
    ({"chance": (8, "")}, {}, "line 8, task 'b': no chance level"),
    ({"chance": (3, 1.0)}, {}, "task 'a': chance level 1 must lie in [0, ceiling = 1)"),
    ({}, {"ceiling": 0.2}, "chance level 0.25 must lie in [0, ceiling = 0.2)"),
    ({"params": (4, "1Q")}, {}, "line 4, column 'params' (N), task 'a': cannot read '1Q'"),
    ({}, {"score": "accuracy"}, "column 'accuracy' given for score is not in the data"),
    ({}, {"task": "benchmark"}, "column 'benchmark' given for task is not in the data"),
])
def test_bad_input_names_task_and_row(changes, options, message):
    with pytest.raises(ScoresError) as err:
        load_scores(_frame(**changes), **options)
    assert message in str(err.value)


def test_where_keeps_one_metric_before_reading_scores():
    """A long table with a perplexity row (not a score) among accuracies: ``where`` drops it
    before validation and says which lines went."""
    frame = _frame()
    frame["metric"] = "acc"
    frame.loc[12] = {"params": "70M", "task": "a", "score": 3.5e6, "chance": 0.25,
                     "metric": "ppl"}
    with pytest.raises(ScoresError, match="score 3.5e[+]06 is outside"):
        load_scores(frame)
    scores = load_scores(frame, where="metric == acc")
    assert len(scores) == 12 and scores.dropped == (
        "dropped 1 of 13 rows not matching 'metric == acc' (line 12)",)
    with pytest.raises(ScoresError, match="unknown column 'metrc'; use a column of the data"):
        load_scores(frame, where="metrc == acc")


def test_missing_chance_level_everywhere():
    with pytest.raises(ScoresError, match="task 'a': no chance level; give --chance"):
        load_scores(_frame().drop(columns="chance"))
    assert load_scores(_frame().drop(columns="chance"), chance=0.25).chance_of("b") == 0.25


def test_too_few_points_for_the_parameters():
    frame = _frame().iloc[:11]  # task b has 5 scores: enough for sigmoid, not multi-step
    with pytest.raises(ScoresError, match=r"task 'b' \(lines 6, 7, 8, 9, 10\): 5 scores are "
                                          r"too few to fit the 6 parameters of the 'multi-step'"):
        fit_emergence(frame, key=jax.random.key(0), mean="multi-step", config=CHEAP)


# -- one batched fit --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_fit():
    scores, truth = simulate_scores(jax.random.key(0), num_tasks=4)
    before = trace_count()
    with _no_error():  # 600 draws per task: the gate's ESS 400 is often missed, and says so
        fit = fit_emergence(scores, key=jax.random.key(1), config=CHEAP)
    return fit, truth, trace_count() - before


def test_one_compilation_for_all_tasks(small_fit):
    fit, _, traced = small_fit
    # One program for the four tasks, or none when an earlier fit in this process compiled
    # their bucket (fit_emergence's docstring example does: the same settings and shape).
    assert traced <= 1
    before = trace_count()
    scores, _ = simulate_scores(jax.random.key(5), num_tasks=4)
    with _no_error():
        fit_emergence(scores, key=jax.random.key(2), config=CHEAP)
    assert trace_count() == before  # same shapes: no new trace


def test_other_numbers_of_tasks_and_scores_share_one_program():
    """Tasks are padded to a power of two (and a multiple of the devices: 4 here) and each
    task's scores to 16 or the next power of two: fits of 3 tasks x 9 scores, 4 x 13 and
    3 x 16 compile the batched sampler at most once, and report only the real tasks."""
    sizes = np.geomspace(5e7, 5e10, 16)
    every, _ = simulate_scores(jax.random.key(9), num_tasks=4, sizes=sizes)
    before = trace_count()
    for num_tasks, num_sizes in ((3, 9), (4, 13), (3, 16)):
        scores = every.subset(np.isin(every.task, every.tasks[:num_tasks])
                              & np.isin(every.N, sizes[:num_sizes]))
        with _no_error():
            fit = fit_emergence(scores, key=jax.random.key(1), config=CHEAP)
        assert fit.samples["slope"].shape == (num_tasks, CHEAP.num_chains, CHEAP.num_samples)
        assert len(fit.check()) == num_tasks
    assert trace_count() - before <= 1


def test_padded_tasks_leave_the_real_ones_unchanged(small_fit):
    """Three of small_fit's four tasks, fitted alone, give the same draws bit for bit: the
    fourth fit is then a masked copy of the first (its prior only, dropped), and the compiled
    program and every real task's data and key are the same."""
    fit, _, _ = small_fit
    # A task's key is the same because the first keys of a split do not depend on how many
    # are split (JAX's partitionable Threefry, the default since 0.5).
    keys = [jax.random.key_data(jax.random.split(jax.random.key(1), n)) for n in (3, 4)]
    np.testing.assert_array_equal(keys[0], keys[1][:3])
    three = fit.scores.subset(fit.scores.task != fit.tasks[3])
    before = trace_count()
    with _no_error():
        alone = fit_emergence(three, key=jax.random.key(1), config=CHEAP)
    assert trace_count() == before
    for name in fit.param_names:
        np.testing.assert_array_equal(alone.samples[name], fit.samples[name][:3])


class _no_error:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", bs.ConvergenceWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def test_report_tables_and_inference_data(small_fit):
    fit, _, _ = small_fit
    report = fit.thresholds(at=[1e11, 1e13])
    table = report.table
    assert list(table["task"]) == fit.tasks and len(report.at) == 2 * len(fit.tasks)
    assert ((table["N_star_lo"] <= table["N_star_median"])
            & (table["N_star_median"] <= table["N_star_hi"])).all()
    assert table["range_hi"].min() >= 1e13  # widened to the scales asked about
    assert table["p_beyond_range"].between(0, 1).all()
    for scale in (1e11, 1e13):  # the table has the P(emerged by) of each scale asked about
        expected = report.at[report.at["N"] == scale].set_index("task")["p_emerged"]
        assert np.allclose(table.set_index("task")[f"p_emerged_by_{scale:.3g}"], expected)
    curve = report.curve[report.curve["task"] == fit.tasks[0]]["p_emerged"].to_numpy()
    assert np.all(np.diff(curve) >= 0)
    idata = fit.idata
    assert idata.posterior["slope"].dims == ("chain", "draw", "task")
    assert list(idata.posterior["task"].values) == fit.tasks


def test_emergence_fit_saves_and_loads(small_fit, tmp_path):
    """A loaded fit gives the same thresholds and gate; a loss-linked one keeps its loss curve;
    a file of another kind is refused by name."""
    fit, truth, _ = small_fit
    loaded = EmergenceFit.load(fit.save(tmp_path / "emergence.nc"))
    pd.testing.assert_frame_equal(loaded.thresholds(at=[1e11]).table,
                                  fit.thresholds(at=[1e11]).table)
    pd.testing.assert_frame_equal(loaded.check(), fit.check(), check_dtype=False)
    with pytest.raises(FileExistsError):
        fit.save(tmp_path / "emergence.nc")
    # A loss-linked fit without sampling: the true parameters of a loss-linked simulation.
    linked_scores, linked_truth = simulate_scores(jax.random.key(5), num_tasks=2,
                                                  mean="loss-linked")
    two_tasks = {k: np.asarray(v)[:2] for k, v in fit.stats.items()}
    linked = true_fit(fit.with_draws(fit.samples, scores=linked_scores, mean="loss-linked",
                                     tasks=linked_scores.tasks, stats=two_tasks), linked_truth)
    loaded = EmergenceFit.load(linked.save(tmp_path / "linked.nc"))
    log_n = np.log([1e9, 1e11])
    assert np.array_equal(loaded.loss_log(log_n), linked.loss_log(log_n))
    thresholds = [f.thresholds().table.filter(like="N_star") for f in (loaded, linked)]
    pd.testing.assert_frame_equal(*thresholds)
    with pytest.raises(ValueError, match="EmergenceFit.load"):
        bs.Posterior.load(tmp_path / "emergence.nc")


def test_emergence_fit_speaks_the_result_protocol(small_fit):
    """check() per task, draws(names) per task or of one task, summary() per (task, param)."""
    fit, _, _ = small_fit
    assert list(fit.check()["task"]) == fit.tasks
    every = fit.draws(["slope"])
    one = fit.draws(["slope"], task=fit.tasks[2])
    np.testing.assert_array_equal(one["slope"], every["slope"][2])
    summary = fit.summary()
    assert set(summary["task"]) == set(fit.tasks) and set(summary["param"]) == set(fit.param_names)


# -- calibration on simulated tasks -----------------------------------------------------------
@pytest.fixture(scope="module")
def loss_posterior():
    """Stage one of loss-linked: a Chinchilla fit to 245 simulated runs at Epoch AI's refit."""
    from bayes_scaling.simulation import simulate

    return bs.fit(simulate(jax.random.key(7)), key=jax.random.key(8),
                  config=bs.SamplerConfig(num_chains=2, num_warmup=500, num_samples=1000))


def _coverage(mean, key, loss_posterior=None):
    """Share of simulated tasks whose true N* lies inside the 90% interval."""
    scores, truth = simulate_scores(jax.random.key(key), num_tasks=CALIBRATION_TASKS, mean=mean)
    with _no_error():
        fit = fit_emergence(scores, key=jax.random.key(key + 1), mean=mean, config=CHEAP,
                            loss_posterior=loss_posterior, tokens_per_param=20.0)
    report = fit.thresholds()
    true_n = true_fit(fit, truth).thresholds().table["N_star_median"].to_numpy()
    lo, hi = report.table["N_star_lo"].to_numpy(), report.table["N_star_hi"].to_numpy()
    inside = (lo <= true_n) & (true_n <= hi)
    return inside.mean(), fit.check()


@pytest.mark.slow
@pytest.mark.parametrize("mean", ["sigmoid", "multi-step", "loss-linked"])
def test_threshold_intervals_are_calibrated(mean, request):
    """True parameters drawn from the priors, 12 sizes from 50M to 50B, 500 items: the 90%
    interval of N* holds the true N* in 80-97% of 100 tasks (the issue's band; the binomial
    sd of a 90% rate over 100 tasks is 3 points). Loss-linked: the truth is a sigmoid of the
    log-loss of Chinchilla at Epoch AI's refit (D = 20 N), and the fit propagates the
    posterior of a loss fit to simulated runs from that law."""
    loss = request.getfixturevalue("loss_posterior") if mean == "loss-linked" else None
    key = {"sigmoid": 100, "multi-step": 200, "loss-linked": 300}[mean]
    rate, diagnostics = _coverage(mean, key, loss)
    print(f"{mean}: coverage {rate:.2f}, {diagnostics['ok'].mean():.0%} pass the gate")
    assert 0.80 <= rate <= 0.97


# -- remedies ---------------------------------------------------------------------------------
def _draws_fit(scores, config, offsets, seed):
    """An EmergenceFit of ``scores``' tasks with synthetic draws: independent normal draws per
    chain (they pass the gate), shifted by ``offsets[task]`` per chain (chains that disagree
    fail it). Built without sampling, so the remedy logic is tested exactly."""
    rng = np.random.default_rng(seed)
    tasks, chains, draws = scores.tasks, config.num_chains, config.num_samples
    shape = (len(tasks), chains, draws)
    shift = np.array([offsets.get(t, 0.0) for t in tasks])[:, None, None] * np.arange(chains)[
        None, :, None]
    samples = {name: rng.normal(size=shape) + shift for name in ("height", "slope", "midpoint",
                                                                 "logit_phi", "gamma")}
    stats = {"diverging": np.zeros(shape, bool), "energy": rng.normal(size=shape),
             "step_size": np.full(shape, 0.1), "n_steps": np.full(shape, 7)}
    return EmergenceFit(mean="sigmoid", scale="N", scores=scores, tasks=tasks, axes=None,
                        samples=samples, stats=stats, config=config)


def test_remedies_refit_only_the_failing_tasks_and_keep_their_draws_when_they_pass():
    from bayes_scaling.emergence.fit import remedy_tasks

    scores, _ = simulate_scores(jax.random.key(0), num_tasks=3)
    first = _draws_fit(scores, bs.SamplerConfig(num_warmup=300, num_samples=300),
                       {"task1": 3.0}, seed=0)
    assert first.check()["ok"].tolist() == [True, False, True]
    kept = {name: np.array(v) for name, v in first.samples.items()}
    calls, refits = [], []

    def sample(chosen, config, key):
        calls.append((chosen.tasks, config.num_samples))
        refits.append(_draws_fit(chosen, config, {}, seed=1))
        return refits[-1]

    fit = remedy_tasks(first, sample, jax.random.key(0), first_took=1.0, budget_s=60)
    assert calls == [(["task1"], 600)]  # R-hat and ESS: twice the warmup and draws, one task
    assert fit.check()["ok"].all()
    assert fit.samples["slope"].shape == kept["slope"].shape  # thinned back to 300 per chain
    np.testing.assert_array_equal(fit.samples["slope"][1], refits[0].samples["slope"][0][:, 1::2])
    np.testing.assert_array_equal(fit.samples["slope"][[0, 2]], kept["slope"][[0, 2]])
    assert list(fit.remedies) == ["task1"] and fit.remedies["task1"][0].startswith(
        "max R-hat") and fit.remedies["task1"][0].endswith(
        "twice the warmup and draws (600 + 600 per chain); the gate passed")
    assert fit.check()["remedies"].tolist() == ["", fit.remedies["task1"][0], ""]


def test_two_remedies_of_one_round_get_their_own_keys():
    """One task fails R-hat (more draws), another only diverges (another key): two refits in
    the first round, each with its own key, the first with the round's key."""
    from bayes_scaling.emergence.fit import REMEDY_STREAM, remedy_tasks

    scores, _ = simulate_scores(jax.random.key(0), num_tasks=2)
    config = bs.SamplerConfig(num_warmup=300, num_samples=300, target_accept=0.99)
    first = _draws_fit(scores, config, {"task0": 3.0}, seed=0)
    first.stats["diverging"][1, 0, :5] = True
    assert not first.check()["ok"].any()
    keys = []

    def sample(chosen, config, key):
        keys.append(jax.random.key_data(key))
        return _draws_fit(chosen, config, {}, seed=1)

    fit = remedy_tasks(first, sample, jax.random.key(0), first_took=1.0, budget_s=60)
    assert fit.check()["ok"].all() and len(keys) == 2
    round_key = jax.random.fold_in(jax.random.key(0), REMEDY_STREAM + 1)
    np.testing.assert_array_equal(keys[0], jax.random.key_data(round_key))
    assert not np.array_equal(keys[0], keys[1])


def test_thinning_keeps_every_divergence():
    from bayes_scaling.emergence.fit import _thinned

    diverging = np.zeros((2, 8), bool)
    diverging[0, 2] = True  # dropped by thinning by 2 (the second of each pair is kept)...
    thinned = _thinned(diverging, 2, "diverging")
    assert thinned.shape == (2, 4) and thinned.sum() == 1 and thinned[0, 1]  # ...yet counted
    np.testing.assert_array_equal(_thinned(np.arange(8.0)[None], 4, "energy"), [[3.0, 7.0]])


def test_a_remedy_past_the_budget_is_not_started_and_said():
    from bayes_scaling.emergence.fit import remedy_tasks

    scores, _ = simulate_scores(jax.random.key(0), num_tasks=2)
    first = _draws_fit(scores, bs.SamplerConfig(num_warmup=300, num_samples=300),
                       {"task0": 3.0}, seed=0)
    fit = remedy_tasks(first, lambda *a: pytest.fail("refitted past the budget"),
                       jax.random.key(0), first_took=50.0, budget_s=60)
    assert fit.remedies["task0"][0].startswith("not tried (max R-hat")
    assert "past the 60 s budget" in fit.remedies["task0"][0]
    assert not fit.check().set_index("task").loc["task0", "ok"]


# -- CLI --------------------------------------------------------------------------------------
def _cli(args, tmp_path, ok=True):
    """The console script; calls within one test share a compile cache (the second reuses the
    first's sampler)."""
    exe = shutil.which("bayes-scaling")
    out = subprocess.run([exe, *args], env=console_env(tmp_path / "cache"), cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    if ok:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_cli_bad_input_exits_2(tmp_path):
    frame = _frame(score=(3, 1.5))
    frame.to_csv(tmp_path / "scores.csv", index=False)
    out = _cli(["emergence", "scores.csv"], tmp_path, ok=False)
    assert out.returncode == 2
    assert "scores.csv, line 5, column 'score', task 'a': score 1.5 is outside [0, 1]" in out.stderr
    out = _cli(["emergence", "scores.csv", "--task-col", "bench"], tmp_path, ok=False)
    assert out.returncode == 2 and "column 'bench' given for task" in out.stderr
    out = _cli(["emergence", "scores.csv", "--where", "metrc == acc"], tmp_path, ok=False)
    assert out.returncode == 2 and "unknown column 'metrc'" in out.stderr


@pytest.mark.slow
def test_cli_table_json_and_at(tmp_path):
    scores, _ = simulate_scores(jax.random.key(3), num_tasks=2)
    frame = scores.to_frame()[["task", "N", "score", "chance"]]
    frame.to_csv(tmp_path / "scores.csv", index=False)
    args = ["emergence", "scores.csv", "--items", "500", "--at", "70B,400B", "--chains", "2",
            "--warmup", "300", "--samples", "300", "--no-remedy"]
    out = _cli(args, tmp_path, ok=False)
    # chains this short may fail the gate: then the table comes all the same, with exit status 3
    assert out.returncode == 0 or (out.returncode == 3 and "did not pass the diagnostics gate"
                                   in out.stderr), out.stderr[-3000:]
    assert "N*_median" in out.stdout and "P(emerged by largest)" in out.stdout
    assert "p_emerged_by_7e+10" in out.stdout and "p_emerged_by_4e+11" in out.stdout
    payload = json.loads(_cli(args + ["--json"], tmp_path, ok=False).stdout)
    assert [row["task"] for row in payload["table"]] == ["task0", "task1"]
    assert {"N_star_median", "N_star_lo", "N_star_hi", "p_beyond_range"} <= set(payload["table"][0])
    assert len(payload["diagnostics"]) == 2


def test_plot_emergence_returns_its_axes(small_fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayes_scaling.plots import plot_emergence

    fit, _, _ = small_fit
    fig, ax = plt.subplots()
    assert plot_emergence(fit, fit.tasks[0], key=jax.random.key(0), ax=ax) is ax
    assert ax.get_xscale() == "log"
    assert any("chance" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


# -- real data --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pythia_fit(datasets_dir):
    from bayes_scaling.emergence.data import pythia_final_frame

    frame = pythia_final_frame(datasets_dir, tasks=("lambada_openai", "piqa", "arc_easy", "sciq",
                                                    "mmlu_avg57"))
    with _no_error():
        return fit_emergence(frame, key=jax.random.key(0), items="items",
                             config=bs.SamplerConfig(num_chains=2, num_warmup=400,
                                                     num_samples=400, target_accept=0.95,
                                                     max_tree_depth=8))


@pytest.mark.slow
def test_pythia_tasks_far_above_chance_have_emerged_and_mmlu_has_not(pythia_fit):
    report = pythia_fit.thresholds()
    table = report.table.set_index("task")
    print(table[["N_star_median", "N_star_lo", "N_star_hi", "p_emerged_at_largest",
                 "p_beyond_range", "diagnostics_ok"]].to_string())
    for task in ("lambada_openai", "piqa", "arc_easy", "sciq"):
        row = table.loc[task]
        assert row["p_emerged_at_largest"] > 0.95, task
        assert 7e7 <= row["N_star_median"] <= row["largest_observed"], task
    # MMLU sits at chance for every Pythia: the threshold lies beyond the data, and a search
    # up to the largest model says the mass never emerges there (the interval is open-ended).
    mmlu = table.loc["mmlu_avg57"]
    assert mmlu["p_emerged_at_largest"] < 0.05
    inside = pythia_fit.thresholds(scale_range=(7e7, 1.2e10)).table.set_index("task")
    assert inside.loc["mmlu_avg57", "p_beyond_range"] > 0.95
    assert inside.loc["mmlu_avg57", "open_ended"]


@pytest.mark.slow
def test_obsscaling_backtest(datasets_dir):
    """Fit on models below Llama-2-7B's compute (84e21 FLOP, the paper's cutoff) against log C,
    and score the 90% predictive intervals of the larger models' scores."""
    from bayes_scaling.emergence.fit import predict_scores
    from bayes_scaling.emergence.data import obsscaling_emergence_frame

    frame = obsscaling_emergence_frame(datasets_dir)
    known = frame.dropna(subset=["C"])
    train = known[known["C"] < 84e21]
    test = known[known["C"] >= 84e21]
    with _no_error():
        early = fit_emergence(train.drop(columns="N"), key=jax.random.key(1), scale="C",
                              config=CHEAP)
    hits = []
    for task, rows in test.groupby("task"):
        band = predict_scores(early, task, rows["C"].to_numpy(), key=jax.random.key(2))
        hits += list((band["lo"].to_numpy() <= rows["score"].to_numpy())
                     & (rows["score"].to_numpy() <= band["hi"].to_numpy()))
    rate = float(np.mean(hits))
    lo, hi = stats.binom(len(hits), 0.9).ppf([0.005, 0.995]) / len(hits)
    print(f"backtest: 90% intervals cover {rate:.1%} of {len(hits)} held-out scores "
          f"(99% binomial band around 90%: {lo:.1%}-{hi:.1%})")
    # Reported, not asserted against the band: held-out models are other families, far beyond
    # the cutoff, so some under-coverage is the honest outcome; a collapse would be a bug.
    assert rate >= 0.5


def test_large_count_cdf_approximation_is_close():
    a, b = jnp.array([20.0, 3.0]), jnp.array([60.0, 9.0])
    got = score_cdf(a, b, jnp.full(2, 1000.0), 0.2, max_count=65)
    want = stats.betabinom(1000, np.asarray(a), np.asarray(b)).cdf(200)
    np.testing.assert_allclose(got, want, atol=0.01)


def test_cli_repeated_where_must_all_hold():
    from bayes_scaling.cli import build_parser
    from bayes_scaling.cli.options import join_filters

    args = build_parser().parse_args(["emergence", "s.csv", "--where", "step == 143000",
                                      "--where", "metric == acc"])
    assert join_filters(args.where) == "step == 143000 and metric == acc"
    args = build_parser().parse_args(["fit", "r.csv", "--where", "loss < 3", "--where", "N > 1e8"])
    assert join_filters(args.where) == "loss < 3 and N > 1e8"
    assert join_filters(None) is None


def test_model_sizes_in_billions_are_read_from_the_name_or_refused_with_the_fix():
    """obsscaling's "Model Size (B)": its unit is applied when the column says it; a column of
    billions without the unit in its name would put every threshold at 1e-9 of the truth."""
    frame = pd.DataFrame({"Model Size (B)": [0.41, 1.4, 6.9, 12.0], "score": [0.2, 0.3, 0.5, 0.6],
                          "task": "arc"})
    scores = load_scores(frame, chance=0.25)
    np.testing.assert_allclose(scores.N, [0.41e9, 1.4e9, 6.9e9, 12e9])
    assert scores.notes == ("column 'Model Size (B)' (N) read in units of B, as its name says",)
    frame = frame.rename(columns={"Model Size (B)": "size"})
    with pytest.raises(ScoresError, match=r"'size' \(N\) holds 0.41 - 12, too small.*--params-unit B"):
        load_scores(frame, chance=0.25)
    np.testing.assert_allclose(load_scores(frame, chance=0.25, units={"N": "B"}).N, scores.N)
