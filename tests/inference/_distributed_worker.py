"""One process of the two-process test in test_distributed.py (run as a script; importing it
starts nothing: it defines `fit_block`).

Usage: python _distributed_worker.py OUT.npz, with $BAYES_SCALING_COORDINATOR,
$BAYES_SCALING_NUM_PROCESSES and $BAYES_SCALING_PROCESS_ID set. Writes what it gathered.
"""

import os
import sys
import traceback

import jax
import jax.numpy as jnp
import numpy as np

NUM_ITEMS = 7  # blocks of 4 and 3 items on two processes


@jax.jit
def _least_squares(x, y):
    """Per item: coefficients of y ~ x by the normal equations (Cholesky), and the residual
    sum of squares. x: (items, rows, 3), y: (items, rows)."""
    chol = jnp.linalg.cholesky(jnp.einsum("nki,nkj->nij", x, x))
    xty = jnp.einsum("nki,nk->ni", x, y)
    coef = jax.vmap(lambda c, b: jax.scipy.linalg.cho_solve((c, True), b))(chol, xty)
    rss = jnp.sum((jnp.einsum("nki,ni->nk", x, coef) - y) ** 2, axis=1)
    return coef, rss


def fit_block(block):
    """Fit a small simulated regression per item, simulated from a seed made of the item's
    index (so an item's result does not depend on its block).

    Returns, per item: its index, the true and fitted coefficients, the residual sum of
    squares, whether that is below 0.5 (bool), and a float64 value (dtypes must survive).
    """
    index = np.asarray(block["index"])
    rngs = [np.random.default_rng([42, int(i)]) for i in index]
    x = np.array([rng.normal(size=(32, 3)) for rng in rngs], dtype=np.float32).reshape(-1, 32, 3)
    true = np.array([rng.normal(size=3) for rng in rngs], dtype=np.float32).reshape(-1, 3)
    y = np.einsum("nki,ni->nk", x, true) + 0.1 * np.array(
        [rng.normal(size=32) for rng in rngs], dtype=np.float32).reshape(-1, 32)
    coef, rss = _least_squares(x, y)
    return {"index": index, "true": true, "coef": coef, "rss": rss, "small": rss < 0.5,
            "host64": index / 3.0}


def main(path):
    from bayes_scaling.inference import distributed

    distributed.initialize()          # from the environment
    distributed.initialize()          # again: a no-op
    assert jax.process_count() == 2, jax.process_count()
    me = jax.process_index()
    result = {"process_index": np.array(me), "local_devices": np.array(jax.local_device_count()),
              "slice": np.array([distributed.process_slice(NUM_ITEMS).start,
                                 distributed.process_slice(NUM_ITEMS).stop])}

    items = {"index": np.arange(NUM_ITEMS, dtype=np.int32)}
    for name, value in distributed.map_items(fit_block, items).items():
        result[f"sweep/{name}"] = value

    # One item for two processes: process 1's block is empty.
    one = distributed.map_items(fit_block, {"index": np.array([5], dtype=np.int32)})
    result["one/coef"] = one["coef"]

    # fn fails on process 1 only: both processes must raise instead of waiting for each other.
    def flaky(block):
        if jax.process_index() == 1:
            raise ZeroDivisionError("process 1 fails on purpose")
        return fit_block(block)

    try:
        distributed.map_items(flaky, items)
        result["error"] = np.array("none")
    except Exception as err:  # noqa: BLE001 - recorded for the test to check
        result["error"] = np.array(f"{type(err).__name__}: {err}")

    # After a failure the job is still usable.
    again = distributed.map_items(lambda b: {"i": np.asarray(b["index"]) * 2}, items)
    result["again/i"] = again["i"]
    nothing = distributed.map_items(lambda b: {"i": np.asarray(b["index"]), "none": np.zeros((
        len(b["index"]), 0))}, {"index": np.zeros(0, dtype=np.int32)})
    result["empty/i"], result["empty/none"] = nothing["i"], nothing["none"]

    # The engine's own sweep: fit_many split over the two processes, against one process alone.
    import warnings

    import bayes_scaling as bs

    sets = [bs.simulate(jax.random.key(k), num_runs=n) for k, n in [(0, 30), (1, 40), (2, 50)]]
    config = bs.SamplerConfig(num_chains=2, num_warmup=300, num_samples=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)  # short chains on purpose
        spread = bs.fit_many(sets, key=jax.random.key(3), config=config, processes=True)
        alone = bs.fit_many(sets, key=jax.random.key(3), config=config)
    # "fit/..." results were gathered and must be the same on both processes; "alone_fit" is
    # each process's own (its device count differs, so its rounding may too).
    result["fit/spread"] = np.stack(list(spread.draws(["E", "alpha", "beta"]).values()))
    result["fit/num_runs"] = np.array(spread.check()["num_runs"])
    result["alone_fit"] = np.stack(list(alone.draws(["E", "alpha", "beta"]).values()))

    np.savez(path, **result)
    jax.distributed.shutdown()


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BaseException:
        # Exit at once: JAX's exit handler would wait for the other process, itself waiting in a
        # collective for this one, and the test would see the failure only at its timeout.
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
