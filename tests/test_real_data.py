"""Replication on real data: Epoch AI's 240-point subset of Hoffmann et al.'s runs."""

import numpy as np
import pytest

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

# Besiroglu et al. 2024 (Epoch AI), 95% bootstrap intervals; see the dataset's PROVENANCE.md.
EPOCH_95 = {"alpha": (0.317, 0.373), "beta": (0.331, 0.415), "E": (1.769, 1.871)}
EPOCH_A = 0.513


@pytest.mark.slow
def test_replicates_epoch_refit(epoch_post):
    diagnostics = epoch_post.check()
    assert diagnostics.divergences == 0 and diagnostics.max_r_hat <= 1.01, diagnostics
    medians = {k: float(np.median(v)) for k, v in epoch_post.draws(["alpha", "beta", "E", "a"]).items()}
    for name, (lo, hi) in EPOCH_95.items():
        assert lo <= medians[name] <= hi, f"{name} median {medians[name]:.4f} not in ({lo}, {hi})"
    assert medians["a"] == pytest.approx(EPOCH_A, abs=0.04)
