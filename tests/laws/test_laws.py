"""Registry-driven checks of every law: values, monotonicity, limits, gradients, vmap, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes_scaling.datasets import EPOCH_CHINCHILLA
from bayes_scaling.laws.registry import LAWS, get_law

# The Chinchilla law here; every other law of the registry in test_laws_family.py.
TRUTH = {"chinchilla": EPOCH_CHINCHILLA}


def log_x(law, values):
    return {name: jnp.log(jnp.asarray(values, jnp.float32)) for name in law.inputs}


def test_chinchilla_matches_hand_computation():
    law, p = LAWS["chinchilla"], EPOCH_CHINCHILLA
    N, D = np.array([1e8, 7e10]), np.array([2e9, 1.4e12])
    expected = p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]
    got = np.exp(law.log_loss(p, {"N": jnp.log(N), "D": jnp.log(D)}))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_decreasing_in_every_input_and_limit_is_E(name):
    law, p = LAWS[name], TRUTH[name]
    sizes = np.geomspace(1e6, 1e14, 50)
    for varied in law.inputs:
        x = {n: jnp.log(jnp.full(50, 1e10)) for n in law.inputs}
        x[varied] = jnp.log(sizes)
        values = np.asarray(law.log_loss(p, x))
        assert np.all(np.diff(values) < 0), f"{name} does not decrease in {varied}"
    huge = {name: jnp.array([40 * np.log(10.0)]) for name in law.inputs}  # 1e40, in log space
    assert float(jnp.exp(law.log_loss(p, huge))[0]) == pytest.approx(p["E"], rel=1e-4)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_finite_gradients_over_realistic_ranges(name):
    law, p = LAWS[name], {k: jnp.float32(v) for k, v in TRUTH[name].items()}
    x = log_x(law, np.geomspace(1e6, 1e13, 30))
    grads = jax.grad(lambda q: jnp.sum(law.log_loss(q, x)))(p)
    assert all(bool(jnp.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_vmap_over_draws_and_float64(name):
    law, p = LAWS[name], TRUTH[name]
    draws = {k: jnp.full(7, v) for k, v in p.items()}
    x = log_x(law, [1e9, 1e10, 1e11])
    out = jax.vmap(lambda q: law.log_loss(q, x))(draws)
    assert out.shape == (7, 3)
    with jax.enable_x64(True):
        x64 = {k: jnp.asarray(v, jnp.float64) for k, v in x.items()}
        assert law.log_loss({k: jnp.float64(v) for k, v in p.items()}, x64).dtype == jnp.float64


def test_get_law_unknown_name():
    with pytest.raises(ValueError, match=r"unknown law 'chinchila' \(did you mean 'chinchilla'\?\); "
                                         r"known laws: chinchilla, "):
        get_law("chinchila")
    assert get_law("Data-Constrained") is get_law("data_constrained")
