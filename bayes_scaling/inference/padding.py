"""Padding the runs of a fit to a few fixed sizes, so that one compiled sampler serves many sizes.

A compiled program is specialised to the shapes of its arguments: without padding, every new
number of runs (another subset, filter, backtest cutoff or data set) compiles the sampler again,
10-20 s on a 2-core CPU and 150-180 MB of resident memory each. Here the runs are padded to a
*bucket*: 256 below 256 runs, then powers of two up to 4,096, then multiples of 4,096. The
padding repeats the first run and a boolean mask leaves it out of the likelihood and of the
centring (see `models.build_model`), so the posterior is the unpadded one; the pointwise
log-likelihood is cut back to the real runs before anything uses it.

Why these buckets: a gradient of the model costs about the same for 50 and 256 runs on a CPU
(vector work that small is dwarfed by the per-step overhead; benchmarks/bench_refit.py measures
it), and powers of two keep the waste under 2x where it starts to cost; above 4,096 runs the step
of 4,096 keeps the waste under 100% and falling.

Example
-------
>>> import numpy as np
>>> [padded_size(n) for n in (7, 240, 257, 4096, 4097)]
[256, 256, 512, 4096, 8192]
>>> x, y, mask = pad_runs({"N": np.arange(1.0, 4.0)}, np.zeros(3), 5)
>>> x["N"].tolist(), mask.tolist()
([1.0, 2.0, 3.0, 1.0, 1.0], [True, True, True, False, False])
"""

from __future__ import annotations

import numpy as np

__all__ = ["padded_size", "pad_runs", "pad_to", "SMALLEST_BUCKET", "LARGEST_DOUBLING"]

SMALLEST_BUCKET = 256
LARGEST_DOUBLING = 4096


def padded_size(num_runs, smallest=SMALLEST_BUCKET):
    """The bucket ``num_runs`` runs are padded to (at least ``num_runs``).

    ``smallest`` is the first bucket (a power of two): 1 gives the next power of two, for
    counts where padding is not nearly free, such as fits on a batch's fit axis (each padded
    fit is sampled) or an emergence task's dozen scores (see `emergence.fit`).

    >>> [padded_size(n, smallest=1) for n in (1, 3, 5, 16)]
    [1, 4, 8, 16]
    """
    if num_runs < 1:
        raise ValueError(f"num_runs must be positive, got {num_runs}")
    if num_runs <= LARGEST_DOUBLING:
        return max(smallest, 1 << (int(num_runs) - 1).bit_length())
    return -(-int(num_runs) // LARGEST_DOUBLING) * LARGEST_DOUBLING


def pad_runs(x, y, size):
    """Pad inputs ``x`` (dict of arrays) and log-losses ``y`` to ``size`` runs (the last axis).

    Returns NumPy ``(x, y, mask)``; the padding repeats the first run (finite values, so that
    no NaN reaches a gradient through a masked term) and ``mask`` is False there.
    """
    count = np.shape(y)[-1]
    return ({name: pad_to(values, size) for name, values in x.items()}, pad_to(y, size),
            np.arange(size) < count)


def pad_to(values, size):
    """``values`` (NumPy; runs on the last axis) padded to ``size`` runs with copies of the
    first. In NumPy: jnp operations on a new length would each compile a program."""
    values = np.asarray(values)
    extra = size - values.shape[-1]
    if extra < 0:
        raise ValueError(f"cannot pad {values.shape[-1]} runs to {size}")
    return np.concatenate([values, np.repeat(values[..., :1], extra, axis=-1)], axis=-1)
