"""Simulation-based calibration of the default Chinchilla model, and the batched sampler."""

import jax
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.inference.sampler import sample_many, trace_count
from bayes_scaling.laws.priors import default_priors
from bayes_scaling.validation.sbc import sbc

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical


@pytest.mark.slow
def test_default_model_is_calibrated():
    """Ranks of the true parameters are uniform at the 1% level for every parameter.

    30 replicates (the full 200 are in benchmarks/validation.py): ranks among 59 draws grouped
    into 3 bins of 20 values, 10 expected per bin, which keeps the chi-square approximation
    honest at this size; one compilation for all replicates.
    """
    before = trace_count()
    result = sbc(key=jax.random.key(11), num_replicates=30, num_runs=100, max_rank=59, bins=3)
    assert trace_count() - before <= 1
    assert result.ranks.shape == (30, 7) and result.ranks.max() <= 59
    assert set(result.names) == {"E", "A", "alpha", "B", "beta", "sigma", "nu"}
    assert result.passed(0.01), result.table


def test_sbc_checks_its_arguments():
    with pytest.raises(ValueError, match="fewer than max_rank"):
        sbc(key=jax.random.key(0), num_replicates=2,
            config=bs.SamplerConfig(num_chains=1, num_samples=50), max_rank=99)
    with pytest.raises(ValueError, match="at least 2"):
        sbc(key=jax.random.key(0), num_replicates=1)


def test_sample_many_vmapped_batch_on_one_design():
    """The accelerator path (one vmapped program for all data sets) also works on CPU."""
    design = bs.simulate(jax.random.key(2), num_runs=30)
    others = [bs.simulate(jax.random.key(k), num_runs=30) for k in (3, 4)]
    ys = np.log(np.stack([design.loss] + [r.loss for r in others]))
    config = bs.SamplerConfig(num_chains=2, num_warmup=100, num_samples=50)
    priors = default_priors("chinchilla", design)
    samples, stats = sample_many("chinchilla", priors, design, ys, key=jax.random.key(5),
                                 config=config, strategy="vectorized")
    assert samples["alpha"].shape == (3, 2, 50) and stats["diverging"].shape == (3, 2, 50)
    assert np.isfinite(samples["E"]).all()
    # each data set gets its own posterior: the fits differ
    assert np.ptp(np.median(samples["E"].reshape(3, -1), axis=1)) > 0
    with pytest.raises(ValueError, match="shape"):
        sample_many("chinchilla", priors, design, ys[:, :5], key=jax.random.key(5), config=config)
