"""Benchmark: compute-optimal allocation over a grid of budgets x posterior draws.

Target (compute-optimal issue): 1,000 budgets x 4,000 draws in under a second on 2 CPU cores
after compilation. Times the jitted closed form (`allocation._optimal_draws`) and the whole
`optimal()` table (including quantiles in NumPy), and the target-loss inverse, each the best of
5 runs after one warm-up call.

Run: ``python benchmarks/bench_allocation.py`` (writes results/bench_allocation_<backend>.{json,md}).
"""

import argparse
import datetime
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from bayes_scaling import allocation
from bayes_scaling.datasets import EPOCH_CHINCHILLA


def fake_posterior_draws(num_draws, key):
    """Draws scattered around Epoch's fit (speed does not depend on the values)."""
    noise = jax.random.normal(key, (len(EPOCH_CHINCHILLA), num_draws)) * 0.02
    return {name: jnp.asarray(value * np.exp(noise[i]), jnp.float32)
            for i, (name, value) in enumerate(EPOCH_CHINCHILLA.items())}


def best_of(fn, repeats=5):
    jax.block_until_ready(fn())  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    draws = fake_posterior_draws(args.draws, jax.random.key(0))
    budgets = jnp.geomspace(1e19, 1e27, args.budgets)
    targets = jnp.linspace(1.85, 3.0, args.budgets)
    rows = {
        "closed form N*, D*, L* (jitted)": best_of(lambda: allocation._optimal_draws(draws, budgets, 6.0)),
        "compute for target loss (jitted)": best_of(lambda: allocation._target_draws(draws, targets, 6.0)),
        "closed form + quantile table (NumPy)": best_of(lambda: [
            allocation.interval_columns(np.asarray(v, np.float64), (0.5, 0.9, 0.95))
            for v in allocation._optimal_draws(draws, budgets, 6.0).values()]),
    }
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
              "machine": platform.platform(), "cpu_count": os.cpu_count(),
              "jax": jax.__version__, "budgets": args.budgets, "draws": args.draws,
              "seconds": rows, "target_seconds": 1.0}
    lines = [f"# Allocation benchmark ({record['backend']}, {record['date']})", "",
             f"{args.budgets} budgets x {args.draws} posterior draws; best of 5 after warm-up.",
             "", "| computation | seconds | target |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.4f} | < 1 s |" for name, sec in rows.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"bench_allocation_{record['backend']}")
    with open(stem + ".json", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    with open(stem + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    main()
