"""Shared fixtures: the shared datasets folder, and fits made once per session.

The two CPU devices are set up by the repository's root conftest.py (for doctests too).
"""

import os
import re

import jax
import pytest

import bayes_scaling as bs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATASETS = os.path.join(os.path.dirname(REPO), "shared", "datasets")
# One sampler configuration for the session's simulated fits, so it compiles once. 1000 draws a
# chain, as the default: at 500, R-hat's and tail ESS's own noise put converged fits at the
# gate's edge (measured: fit_many of 245 + 40 runs, 8 keys x 2 instruction sets, max R-hat
# 1.0013-1.0105 and tail ESS down to 343, 2 of 32 fits failing).
TEST_CONFIG = bs.SamplerConfig(num_chains=4, num_warmup=500, num_samples=1000)


def console_env(cache_dir):
    """The environment of a ``bayes-scaling`` subprocess: the CLI's own XLA flags (but the
    instruction set that ``--xla-isa`` chose), and its persistent compile cache in ``cache_dir``
    (the root conftest turns the cache off)."""
    isa = re.search(r"--xla_cpu_max_isa=\S+", os.environ.get("XLA_FLAGS", ""))
    env = {**os.environ, "BAYES_SCALING_CACHE": str(cache_dir),
           "XLA_FLAGS": isa.group(0) if isa else ""}
    env.pop("BAYES_SCALING_NO_CACHE", None)
    return env


@pytest.fixture(scope="session")
def datasets_dir():
    """../shared/datasets beside the checkout: required in CI, skipped elsewhere when missing."""
    if os.path.isdir(SHARED_DATASETS):
        return SHARED_DATASETS
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs the shared datasets at {SHARED_DATASETS}")
    pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")


@pytest.fixture(scope="session")
def sim_runs():
    return bs.simulate(jax.random.key(0), num_runs=245)


@pytest.fixture(scope="session")
def sim_post(sim_runs):
    return bs.fit(sim_runs, key=jax.random.key(1), config=TEST_CONFIG)


@pytest.fixture(scope="session")
def epoch_post(datasets_dir):
    """The default fit of Epoch AI's 240-point subset of Hoffmann et al.'s runs."""
    runs = bs.load_dataset("chinchilla-epoch240", data_dir=datasets_dir)
    assert len(runs) == 240
    return bs.fit(runs, key=jax.random.key(0))
