"""Every law of the registry: generic checks (values, gradients, monotonicity, limits), hand
computations against the published forms, recovery of known parameters from simulated runs, user
laws through the normal fit path, and the errors for a missing column or a missing prior."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.validation.checks import replicated_losses
from bayes_scaling.data import RunsError
from bayes_scaling.datasets import EPOCH_CHINCHILLA
from bayes_scaling.laws.registry import LAWS, PowerTerm, get_law, make_law
from bayes_scaling.laws.names import law_inputs
from bayes_scaling.laws.family import KAPLAN_FIT, MUENNIGHOFF_FIT
from bayes_scaling.laws.priors import PriorError, check_priors, default_priors

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

# Typical parameters of every law, on the scale of the simulated design below (published fits
# where there are: Epoch's Chinchilla, Kaplan et al. Tables 1-2, Muennighoff et al.).
TYPICAL = {
    "chinchilla": EPOCH_CHINCHILLA,
    "power_N": {"E": 1.7, "A": 400.0, "alpha": 0.34},
    "power_D": {"E": 1.7, "A": 2000.0, "alpha": 0.36},
    "power_C": {"E": 1.7, "A": 1700.0, "alpha": 0.18},
    "pure_power_N": {"A": 11.5, "alpha": 0.076},  # (8.8e13 / N)^0.076
    "pure_power_D": {"A": 20.2, "alpha": 0.095},  # (5.4e13 / D)^0.095
    "pure_power_C": {"A": 24.6, "alpha": 0.050},  # (3.1e8 PF-days / C)^0.050
    "kaplan": KAPLAN_FIT,
    "broken_N": {"E": 1.5, "A": 8.8, "alpha": 0.1, "beta": 0.5, "x_b": 1e9, "f": 0.3},
    "broken_D": {"E": 1.5, "A": 11.9, "alpha": 0.1, "beta": 0.5, "x_b": 3e10, "f": 0.3},
    "broken_C": {"E": 1.5, "A": 10.6, "alpha": 0.05, "beta": 0.3, "x_b": 1e20, "f": 0.3},
    "data_constrained": MUENNIGHOFF_FIT,
    "data_constrained_tied": {k: v for k, v in MUENNIGHOFF_FIT.items() if k != "beta"},
    "effective_data": {"E": 1.8, "A": 480.0, "alpha": 0.34, "B": 2000.0, "beta": 0.37,
                       "w_2": 0.5},
}
# Where each input is varied in the generic checks, and where it sits while another one varies.
RANGE = {"N": (1e6, 1e13), "D": (1e8, 1e14), "C": (1e15, 1e26), "U": (1e7, 1e11),
         "D_1": (1e7, 1e13), "D_2": (1e7, 1e13)}
BASE = {"N": 1e9, "D": 1e11, "C": 6e20, "U": 1e10, "D_1": 1e10, "D_2": 1e10}
FAMILY = sorted(set(LAWS) - {"chinchilla"})  # chinchilla's own checks are in test_laws.py


def log_inputs(law, varied=None, values=None, size=50):
    x = {name: jnp.log(jnp.full(size, BASE[name], jnp.float32)) for name in law.inputs}
    if varied is not None:
        x[varied] = jnp.log(jnp.asarray(values, jnp.float32))
    return x


def simulate_runs(key, law, params, num_runs=100, sigma=0.01, nu=5.0):
    """Chinchilla-like sweep (N log-uniform, 2-200 tokens per parameter, C = 6ND) with unique
    tokens U = D / epochs (1-100 epochs) and two independent token sources D_1, D_2."""
    k_n, k_r, k_e, k_s, k_noise = jax.random.split(key, 5)
    uniform = lambda k, lo, hi, shape=(num_runs,): np.exp(np.asarray(  # noqa: E731
        jax.random.uniform(k, shape, minval=np.log(lo), maxval=np.log(hi)), np.float64))
    N = uniform(k_n, 5e7, 1.6e10)
    D = N * uniform(k_r, 2.0, 200.0)
    sources = uniform(k_s, 1e9, 1e12, (2, num_runs))
    extra = {"U": D / uniform(k_e, 1.0, 100.0), "D_1": sources[0], "D_2": sources[1]}
    columns = {"N": N, "D": D, "C": 6 * N * D, **extra}
    log_x = {name: jnp.log(columns[name]) for name in law.inputs}
    noise = sigma * np.asarray(jax.random.t(k_noise, nu, (num_runs,)), np.float64)
    loss = np.exp(np.asarray(law.log_loss(params, log_x), np.float64) + noise)
    return bs.Runs(N=N, D=D, C=6 * N * D, loss=loss, lines=np.arange(num_runs) + 2,
                   source=f"simulated {law.name}", extra=extra)


# -- the registry ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LAWS))
def test_every_law_is_documented_and_has_default_priors(name):
    law = LAWS[name]
    assert set(TYPICAL[name]) == set(law.param_names)
    assert law.reference and law.name == name
    runs = simulate_runs(jax.random.key(0), law, TYPICAL[name], num_runs=20)
    check_priors(law, default_priors(law, runs), "student_t")  # one valid prior each


@pytest.mark.parametrize("name", FAMILY)
def test_finite_values_and_gradients_over_realistic_ranges(name):
    law = LAWS[name]
    p = {k: jnp.float32(v) for k, v in TYPICAL[name].items()}
    for varied in law.inputs:
        x = log_inputs(law, varied, np.geomspace(*RANGE[varied], 30), size=30)
        values = law.log_loss(p, x)
        assert values.shape == (30,) and bool(jnp.all(jnp.isfinite(values)))
        grads = jax.grad(lambda q: jnp.sum(law.log_loss(q, x)))(p)
        bad = [k for k, g in grads.items() if not bool(jnp.isfinite(g))]
        assert not bad, f"{name}: gradient not finite for {bad} while varying {varied}"


@pytest.mark.parametrize("name", FAMILY)
def test_decreasing_in_every_input(name):
    """Never increasing, and strictly decreasing over the lower half of each range (the
    data-constrained law saturates by design: parameters far beyond what the unique data can
    use stop helping)."""
    law = LAWS[name]
    for varied in law.inputs:
        values = np.asarray(law.log_loss(TYPICAL[name],
                                         log_inputs(law, varied, np.geomspace(*RANGE[varied], 50))))
        steps = np.diff(values)
        assert np.all(steps <= 0) and np.all(steps[:25] < 0), f"{name}: not decreasing in {varied}"


@pytest.mark.parametrize("name", [n for n in FAMILY if "E" in LAWS[n].param_names])
def test_limit_is_E(name):
    law = LAWS[name]
    huge = {n: jnp.array([40 * np.log(10.0)]) for n in law.inputs}  # 1e40 of each input
    assert float(jnp.exp(law.log_loss(TYPICAL[name], huge))[0]) == \
        pytest.approx(TYPICAL[name]["E"], rel=1e-4)


@pytest.mark.parametrize("name", FAMILY)
def test_vmap_over_draws_and_float64(name):
    law, p = LAWS[name], TYPICAL[name]
    out = jax.vmap(lambda q: law.log_loss(q, log_inputs(law, size=3)))(
        {k: jnp.full(7, v, jnp.float32) for k, v in p.items()})
    assert out.shape == (7, 3)
    with jax.enable_x64(True):
        x64 = {k: jnp.asarray(v, jnp.float64) for k, v in log_inputs(law, size=3).items()}
        assert law.log_loss({k: jnp.float64(v) for k, v in p.items()}, x64).dtype == jnp.float64


# -- the published forms, by hand ---------------------------------------------------------------

def test_data_constrained_reproduces_the_published_worked_examples():
    """README of huggingface/datablations: L(6.34B, 242B, 25B unique) = 2.22564 beats
    L(8.67B, 178B, 25B unique) = 2.22696 (Figure 1, right)."""
    law = LAWS["data_constrained"]
    with jax.enable_x64(True):
        x = {k: jnp.log(jnp.array(v, jnp.float64)) for k, v in
             {"N": [6.34e9, 8.67e9], "D": [242e9, 178e9], "U": [25e9, 25e9]}.items()}
        got = np.exp(np.asarray(law.log_loss(MUENNIGHOFF_FIT, x)))
    np.testing.assert_allclose(got, [2.22564, 2.22696], atol=6e-6)


def test_data_constrained_is_chinchilla_without_repetition():
    """One epoch (U = D) and N below the compute-optimal size for U: plain Chinchilla."""
    p, N, D = MUENNIGHOFF_FIT, np.array([1e8, 3e8]), np.array([1e11, 3e11])
    x = {"N": jnp.log(N), "D": jnp.log(D), "U": jnp.log(D)}
    expected = p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]
    np.testing.assert_allclose(np.exp(LAWS["data_constrained"].log_loss(p, x)), expected,
                               rtol=1e-5)


def test_kaplan_broken_and_effective_data_match_their_formulas():
    N, D = np.array([1e8, 1e10]), np.array([1e9, 1e12])
    p = KAPLAN_FIT
    kaplan = ((p["N_c"] / N) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / D) ** p["alpha_D"]
    got = np.exp(LAWS["kaplan"].log_loss(p, {"N": jnp.log(N), "D": jnp.log(D)}))
    np.testing.assert_allclose(got, kaplan, rtol=1e-5)

    # BNSL, Caballero et al. eq. 1 with one break, at their 4-digit-addition fit
    q = {"E": 0.414, "A": 2.28, "alpha": 0.055, "beta": 5.66, "x_b": 612.6, "f": 0.059}
    x = np.array([160.0, 600.0, 928.0])
    bnsl = q["E"] + q["A"] * x ** -q["alpha"] * (1 + (x / q["x_b"]) ** (1 / q["f"])) ** (
        -q["beta"] * q["f"])
    got = np.exp(LAWS["broken_D"].log_loss(q, {"D": jnp.log(x)}))
    np.testing.assert_allclose(got, bnsl, rtol=1e-5)

    w = TYPICAL["effective_data"]
    D1, D2 = np.array([1e10, 1e9]), np.array([1e9, 1e11])
    eff = w["E"] + w["A"] * N ** -w["alpha"] + w["B"] * (D1 + w["w_2"] * D2) ** -w["beta"]
    got = np.exp(LAWS["effective_data"].log_loss(
        w, {"N": jnp.log(N), "D_1": jnp.log(D1), "D_2": jnp.log(D2)}))
    np.testing.assert_allclose(got, eff, rtol=1e-5)


# -- recovery of known parameters ---------------------------------------------------------------

RECOVERY_CONFIG = bs.SamplerConfig(num_chains=4, num_warmup=500, num_samples=1000)
# One law of each form is fitted; its variants in the other inputs are the same function of a
# renamed input (test_input_variants_are_one_function), so they share its recovery.
# (test_user_law_fits_forecasts_and_reloads recovers a user-written power law in D.)
RECOVERED = ("power_N", "pure_power_N", "kaplan", "broken_D", "data_constrained",
             "effective_data")
VARIANTS = {"power_D": "power_N", "power_C": "power_N", "pure_power_D": "pure_power_N",
            "pure_power_C": "pure_power_N", "broken_N": "broken_D", "broken_C": "broken_D"}
_FITS = {}


def fitted(name, law=None, truth=None):
    """A fit of simulated runs with known truth (fixed keys), made once per session."""
    if name not in _FITS:
        law = law or LAWS[name]
        runs = simulate_runs(jax.random.key(10), law, truth or TYPICAL[name])
        _FITS[name] = bs.fit(runs, key=jax.random.key(11), law=law, config=RECOVERY_CONFIG)
    return _FITS[name]


def assert_recovered(post, truth):
    """Each true value inside its central 1 − 0.10/k posterior interval: the truth lies in the
    90% credible box of the k parameters (Bonferroni), so a calibrated posterior fails this
    at most 10% of the time per law, however many parameters it has."""
    level = 1 - 0.10 / len(truth)
    draws = post.draws(list(truth))
    outside = {}
    for name, value in truth.items():
        lo, hi = np.quantile(draws[name], [(1 - level) / 2, (1 + level) / 2])
        if not lo <= value <= hi:
            outside[name] = (value, round(float(lo), 5), round(float(hi), 5))
    assert not outside, f"truth outside the {level:.3f} interval: {outside}"


# A law that is another with parameters tied: recovery of the general law carries over.
TIED = {"data_constrained_tied": ("data_constrained", {"beta": "alpha"})}


def test_every_law_is_recovered_or_a_variant_of_one():
    assert set(RECOVERED) | set(VARIANTS) | set(TIED) == set(FAMILY)


@pytest.mark.parametrize("name", sorted(TIED))
def test_tied_laws_are_their_general_law_with_tied_parameters(name):
    general, ties = TIED[name]
    law, other = LAWS[name], LAWS[general]
    params = TYPICAL[name]
    full = {**params, **{k: params[v] for k, v in ties.items()}}
    for varied in law.inputs:
        x = log_inputs(law, varied, np.geomspace(*RANGE[varied], 40), size=40)
        np.testing.assert_allclose(law.log_loss(params, x), other.log_loss(full, x), rtol=1e-6)
    assert set(law.param_names) | set(ties) == set(other.param_names)


@pytest.mark.parametrize("variant, twin", sorted(VARIANTS.items()))
def test_input_variants_are_one_function(variant, twin):
    """The variant's log-loss at input values v equals its twin's at the same v (same
    parameters), and the two build the same model sites, so recovery carries over."""
    law, other = LAWS[variant], LAWS[twin]
    (x,), (y,) = law.inputs, other.inputs
    values = jnp.log(jnp.geomspace(*RANGE[x], 50))
    params = TYPICAL[variant]
    np.testing.assert_allclose(law.log_loss(params, {x: values}),
                               other.log_loss(params, {y: values}), rtol=1e-6)
    assert law.param_names == other.param_names
    assert [(t.coef, t.exponent) for t in law.power_terms] == [
        (t.coef, t.exponent) for t in other.power_terms]


@pytest.mark.parametrize("name", RECOVERED)
def test_recovers_known_parameters(name):
    post = fitted(name)
    assert post.check().ok  # and no ConvergenceWarning (warnings are errors)
    assert_recovered(post, TYPICAL[name])


def test_forecast_and_summary_of_a_family_law():
    """The data-constrained fit goes through the normal forecast and summary with no special
    case: the expected band is the law over the posterior draws, at the given U."""
    post = fitted("data_constrained")
    assert {"R_D_star", "R_N_star", "a", "b"} <= set(post.summary().index)
    N, D, U = np.array([1e9, 3e9]), np.array([1e11, 3e11]), np.array([2e10, 3e9])
    with pytest.raises(ValueError, match=r"law 'data_constrained' needs \['U'\] at the points"):
        bs.forecast(post, N=N, D=D, key=jax.random.key(3))
    table = bs.forecast(post, N=N, D=D, inputs={"U": U}, key=jax.random.key(3))
    expected = table[table["quantity"] == "expected"]
    assert expected["U"].tolist() == U.tolist()
    draws = {k: v[:, None] for k, v in post.draws(list(post.law.param_names)).items()}
    by_hand = np.exp(np.asarray(post.law.log_loss(
        draws, {"N": np.log(N), "D": np.log(D), "U": np.log(U)}), np.float64))
    np.testing.assert_allclose(expected["median"], np.median(by_hand, axis=0), rtol=1e-5)


def test_checks_of_a_law_with_a_further_input(tmp_path):
    """The fit keeps U beside N, D, C: posterior predictive checks re-evaluate the law at the
    runs, also after saving and loading."""
    post = bs.Posterior.load(fitted("data_constrained").save(tmp_path / "dc.nc"))
    columns = list(post.runs_table.columns)
    assert columns[:4] == ["N", "D", "C", "loss"] and "U" in columns
    replicated = replicated_losses(post, key=jax.random.key(0))
    assert replicated.shape == (4, 1000, len(post.runs_table))
    # A well-specified fit: about 90% of the runs inside their own 90% predictive interval.
    lo, hi = np.quantile(replicated, [0.05, 0.95], axis=(0, 1))
    inside = np.mean((lo <= post.runs_table["loss"]) & (post.runs_table["loss"] <= hi))
    assert 0.8 <= inside <= 0.99, inside


def test_cli_names_further_input_columns(tmp_path, capsys):
    from bayes_scaling import cli
    from bayes_scaling.cli.options import runs_from_args

    frame = pd.DataFrame({"params": [1e8, 1e9], "tokens": [1e10, 1e11], "uniq": [5e9, 2e10],
                          "loss": [3.0, 2.5]})
    csv = tmp_path / "runs.csv"
    frame.to_csv(csv, index=False)
    args = cli.build_parser().parse_args(["fit", str(csv), "--law", "data_constrained",
                                          "--input", "U=uniq"])
    runs, _ = runs_from_args(args)
    assert runs.U.tolist() == [5e9, 2e10] and runs.columns["U"] == "uniq"
    for law, spec, message in (
            ("data_constrained", "U", "--input must be NAME=COLUMN"),
            ("data_constrained", "U=nope", "'nope'"),
            ("data_constrained", "u=uniq", "law 'data_constrained' has no input 'u'; its inputs "
                                           "are ['D', 'N', 'U']"),
            ("chinchilla", "U=uniq", "law 'chinchilla' has no input 'U'")):
        assert cli.main(["fit", str(csv), "--law", law, "--input", spec]) == 2
        assert message in capsys.readouterr().err


def test_cli_forecast_takes_further_inputs(tmp_path, capsys):
    import json

    from bayes_scaling import cli

    path = fitted("data_constrained").save(tmp_path / "dc.nc")
    base = ["forecast", str(path), "--params", "1B,3B", "--tokens", "100B,300B"]
    assert cli.main(base) == 2
    assert "needs 'U' at the points too: give --input U=VALUES" in capsys.readouterr().err
    assert cli.main([*base, "--input", "U=20B,3B", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["table"]
    expected = bs.forecast(fitted("data_constrained"), N=[1e9, 3e9], D=[1e11, 3e11],
                           inputs={"U": [2e10, 3e9]}, key=jax.random.key(0))
    assert [r["median"] for r in rows] == pytest.approx(expected["median"].tolist(), rel=1e-6)
    points = tmp_path / "points.csv"
    pd.DataFrame({"params": ["1B", "3B"], "tokens": ["100B", "300B"], "U": ["20B", "3B"]}).to_csv(
        points, index=False)
    assert cli.main(["forecast", str(path), "--points", str(points), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["table"]
    assert [r["median"] for r in again] == [r["median"] for r in rows]
    assert cli.main([*base, "--input", "W=1B"]) == 2
    assert "has no input 'W'; its further inputs are ['U']" in capsys.readouterr().err


# -- user-defined laws --------------------------------------------------------------------------

def _user_priors(runs):
    s = float(np.median(runs.loss))
    return {"E": dist.HalfNormal(s), "alpha": dist.LogNormal(np.log(0.35), 0.4),
            "A": dist.LogNormal(np.log(s / 4) + 0.35 * np.mean(np.log(runs.D)), 1.0)}


def test_user_law_fits_forecasts_and_reloads(tmp_path):
    law = make_law("my_power_D", lambda p, x: p["E"] + p["A"] * x["D"] ** -p["alpha"],
                   inputs=["D"], params=["E", "A", "alpha"], priors=_user_priors,
                   power_terms=[PowerTerm("A", "alpha", "D")])
    assert get_law("my_power_D") is law
    assert law_inputs("my-power-D") == ("D",)  # what reading a runs file asks, without JAX
    post = fitted("my_power_D", law, TYPICAL["power_D"])
    assert post.check().ok
    assert_recovered(post, TYPICAL["power_D"])
    path = post.save(tmp_path / "fit.nc")
    again = bs.Posterior.load(path)
    assert again.law is law
    one = bs.forecast(again, D=1e13, key=jax.random.key(0))  # a law of D alone needs only D
    truth = TYPICAL["power_D"]
    expected = truth["E"] + truth["A"] * 1e13 ** -truth["alpha"]
    row = one[one["quantity"] == "expected"].iloc[0]
    assert row["lo_95"] < expected < row["hi_95"]


def test_user_law_parameter_without_a_prior_is_named():
    with pytest.raises(PriorError, match=r"no prior for parameter\(s\) \['alpha'\]"):
        make_law("no_prior", lambda p, x: p["A"] * x["N"] ** -p["alpha"], inputs=["N"],
                 params=["A", "alpha"], priors={"A": dist.LogNormal(0.0, 1.0)})
    law = make_law("late_prior", lambda p, x: p["A"] * x["N"] ** -p["alpha"], inputs=["N"],
                   params=["A", "alpha"], priors=lambda runs: {"A": dist.LogNormal(0.0, 1.0)},
                   register=False)
    runs = simulate_runs(jax.random.key(0), LAWS["pure_power_N"], TYPICAL["pure_power_N"], 20)
    with pytest.raises(PriorError, match=r"no prior for parameter\(s\) \['alpha'\]"):
        bs.fit(runs, key=jax.random.key(0), law=law)


def test_user_law_cannot_replace_a_built_in():
    with pytest.raises(ValueError, match="'kaplan' is a built-in law"):
        make_law("kaplan", lambda p, x: p["A"] + 0 * x["N"], inputs=["N"], params=["A"],
                 priors={"A": dist.LogNormal(0.0, 1.0)})


# -- inputs beyond N, D, C ----------------------------------------------------------------------

def test_missing_column_is_named():
    N = np.geomspace(1e8, 1e10, 12)
    frame = pd.DataFrame({"params": N, "tokens": 20 * N, "loss": np.linspace(3.0, 2.3, 12)})
    with pytest.raises(RunsError, match="law 'data_constrained' needs column 'U' "
                                        r"\(unique tokens\)"):
        bs.load_runs(frame, law="data_constrained")
    runs = bs.load_runs(frame)
    with pytest.raises(RunsError, match="needs column 'U'"):
        bs.fit(runs, key=jax.random.key(0), law="data_constrained")
    with pytest.raises(RunsError, match="law 'effective_data' needs column 'D_2'"):
        bs.load_runs(frame.assign(web=frame["tokens"]), law="effective_data",
                     inputs={"D_1": "web"})


def test_extra_inputs_are_read_validated_filtered_and_subset():
    frame = pd.DataFrame({"params": ["70M", "1B", "1B"], "tokens": ["7B", "20B", "40B"],
                          "unique_tokens": ["1B", "20B", "5B"], "code": [1e9, 2e9, 3e9],
                          "loss": [3.1, 2.6, 2.55]})
    runs = bs.load_runs(frame, inputs={"D_2": "code"}, where="U > 2e9")
    assert runs.U.tolist() == [20e9, 5e9] and runs.extra["D_2"].tolist() == [2e9, 3e9]
    assert runs.subset([False, True]).U.tolist() == [5e9]
    assert runs.columns["U"] == "unique_tokens" and "U" in runs.to_frame()
    with pytest.raises(RunsError, match=r"line 1, column 'unique_tokens' \(U\): .* positive"):
        bs.load_runs(frame.assign(unique_tokens=[1e9, -1.0, 2e9]))


def test_one_variable_law_needs_only_its_own_column():
    frame = pd.DataFrame({"examples": [160, 320, 640], "loss": [2.1, 2.0, 1.5]})
    with pytest.raises(RunsError, match="need two of parameters"):
        bs.load_runs(frame, tokens="examples")
    runs = bs.load_runs(frame, tokens="examples", law="broken_D")
    assert runs.D.tolist() == [160, 320, 640] and np.isnan(runs.N).all()
    with pytest.raises(RunsError, match="law 'power_N' needs column 'N'"):
        bs.load_runs(frame, tokens="examples", law="power_N")


# -- real data ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_bnsl_four_digit_addition_extrapolates_where_a_power_law_cannot(datasets_dir):
    """Caballero et al.'s 4-digit addition: fit on the first 14 points; the broken law's 90%
    intervals cover the 3 held-out points, a plain power law's forecasts miss all three
    (measured: broken medians 0.760/0.638/0.563 for 0.759/0.648/0.557; power law ≈ 1.9)."""
    path = f"{datasets_dir}/bnsl_4digit_addition/DERIVED_4digit_addition_points.csv"
    held = pd.read_csv(path).query("split == 'extrapolate'")
    options = dict(tokens="train_dataset_size", loss="test_cross_entropy", where="split == fit")
    # 2000 + 2000: the break makes a hard posterior (bulk ESS ~700 of 4000 draws, tail ~450),
    # and at that ESS R-hat's own noise (~0.005) puts a converged fit at the gate's 1.01.
    config = bs.SamplerConfig(num_chains=4, num_warmup=2000, num_samples=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        broken = bs.fit(path, key=jax.random.key(0), law="broken_D", config=config, **options)
    # It is hard enough that, for some keys and CPUs (1 of 8 fits measured: 4 keys x 2 ISAs),
    # one chain of four adapts a step size ~100x finer than the others, barely moves and fails
    # R-hat (1.23). The gate must then name that chain; the coverage below holds either way
    # (the lagging chain's fit covered all three points too).
    diagnostics = broken.check()
    assert diagnostics.ok or any("adapted a step size" in problem
                                 for problem in diagnostics.problems), diagnostics.problems
    with warnings.catch_warnings():  # a power law cannot bend: its chains disagree (R-hat 1.03)
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        power = bs.fit(path, key=jax.random.key(0), law="power_D", config=config, **options)
    truth = held["test_cross_entropy"].to_numpy()
    for post, covers in ((broken, True), (power, False)):
        # The power law's posterior has ν < 1 in its tail: some observed draws would overflow
        # exp; the forecast takes its quantiles in log space, so no overflow warning (an error
        # in the tests) may appear.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.ConvergenceWarning)
            table = bs.forecast(post, D=held["train_dataset_size"], key=jax.random.key(1))
        observed = table[table["quantity"] == "observed"]
        inside = (observed["lo_90"].to_numpy() < truth) & (truth < observed["hi_90"].to_numpy())
        assert inside.all() if covers else not inside.any(), (post.law.name, observed)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayes_scaling.ConvergenceWarning")  # asserted from the table
def test_datablations_data_constrained_beats_chinchilla(datasets_dir):
    """Muennighoff et al.'s 182-point fit set: the data-constrained law (α = β, as published)
    predicts the runs better than Chinchilla's, both left out from inside the data (ELPD by
    more than 2 standard errors of the paired difference) and held out beyond it (the largest
    20% of compute). Measured (4 x 1000 + 1000): ELPD 280.4 vs 236.5, backtest median error 5.3%
    vs 7.6%; posterior medians α 0.392, R_D* 43 (90%: 33-61), R_N* 97 (47-239), far from the
    published R_D* 15.4 and R_N* 5.3, which came with the base parameters fitted first.

    The default sampler settings, as measured. Chinchilla's backtest fit (its law misspecified
    for repeated data) sits at the diagnostics gate's edge: with the default settings it failed
    the gate for 2 of 5 keys x instruction sets (keys 1-4, AVX-512 and SSE4_2), with the same
    numbers as the others (ELPD difference -43.7 to -43.8, error 7.57-7.67% against 5.25-5.29%);
    with 500 warmup iterations the winner's own fit failed once too. So every fit the claim
    rests on must pass the gate except that one, whose flag the table shows (issue 19: defaults
    at the gate's edge on real sets)."""
    from bayes_scaling.validation.compare import compare_laws

    runs = bs.load_runs(f"{datasets_dir}/datablations/DERIVED_parametric_fit_182_points.csv",
                        params="N_params", tokens="D_tokens", loss="val_loss",
                        inputs={"U": "U_unique_tokens"})
    table = compare_laws(runs, ["data_constrained_tied", "chinchilla"], key=jax.random.key(1),
                         config=bs.SamplerConfig()).set_index("law")
    assert table.loc["data_constrained_tied", ["fit_ok", "backtest_ok"]].all(), table
    assert table.loc["chinchilla", "fit_ok"], table
    chinchilla = table.loc["chinchilla"]
    assert table.index[0] == "data_constrained_tied"
    assert chinchilla["elpd_diff"] < -2 * chinchilla["elpd_diff_se"], table
    assert (table.loc["data_constrained_tied", "backtest_rel_error"]
            < chinchilla["backtest_rel_error"]), table
