"""Benchmark: emergence fits of many tasks, one compiled batch (`fit_emergence`) against a Python
loop of one-task fits.

Tasks are `simulate_scores` draws (sigmoid mean, 12 sizes from 50M to 50B, 500 items), fitted
with 2 chains x (300 warmup + 300 draws). The batch runs as `inference.sampler.batch_strategy` says
(one task after another per CPU device, split over the devices; vmapped on accelerators); the
loop fits one task at a time on one device (its compiled program is reused: the first fit is
not timed). Fits per second = tasks / seconds of the second, timed call.

Run
---
    python benchmarks/bench_emergence.py --quick          # 8 tasks (CPU: a few minutes)
    python benchmarks/bench_emergence.py --tasks 8,64,512

Results: a markdown table on stdout and ``bench_emergence_<backend>.json`` / ``.md`` in --out-dir.
"""

from __future__ import annotations

import os

_FLAGS = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _FLAGS:
    os.environ["XLA_FLAGS"] = (f"{_FLAGS} --xla_force_host_platform_device_count="
                               f"{os.cpu_count() or 1}").strip()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.emergence.fit import fit_emergence  # noqa: E402
from bayes_scaling.emergence.simulate import simulate_scores  # noqa: E402
from bayes_scaling.inference.sampler import batch_strategy  # noqa: E402

CONFIG = bs.SamplerConfig(num_chains=2, num_warmup=300, num_samples=300, target_accept=0.95,
                          max_tree_depth=8)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench(num_tasks, loop_max):
    scores, _ = simulate_scores(jax.random.key(num_tasks), num_tasks=num_tasks)
    fit_emergence(scores, key=jax.random.key(0), config=CONFIG)  # compile
    fit, batch_s = timed(lambda: fit_emergence(scores, key=jax.random.key(1), config=CONFIG))
    steps = float(fit.check()["mean_leapfrog_steps"].mean())
    looped = scores.tasks[:min(num_tasks, loop_max)]
    one = scores.subset(scores.rows(looped[0]))
    fit_emergence(one, key=jax.random.key(0), config=CONFIG, num_devices=1)  # compile
    _, loop_s = timed(lambda: [fit_emergence(scores.subset(scores.rows(t)), key=jax.random.key(i),
                                             config=CONFIG, num_devices=1)
                               for i, t in enumerate(looped)])
    batch_rate, loop_rate = num_tasks / batch_s, len(looped) / loop_s
    return {"tasks": num_tasks, "batch_s": batch_s, "batch_fits_per_s": batch_rate,
            "loop_tasks_timed": len(looped), "loop_fits_per_s": loop_rate,
            "speedup": batch_rate / loop_rate, "mean_leapfrog_steps": steps}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="8,64,512")
    parser.add_argument("--quick", action="store_true", help="8 tasks only")
    parser.add_argument("--loop-max", type=int, default=16,
                        help="the loop's rate is measured on at most this many tasks")
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    sizes = [8] if args.quick else [int(k) for k in args.tasks.split(",")]
    warnings.simplefilter("ignore", bs.ConvergenceWarning)
    strategy = "x".join(map(str, batch_strategy("auto")))
    rows = []
    for k in sizes:
        rows.append(bench(k, args.loop_max))
        print(f"{k} tasks: {rows[-1]}", flush=True)
    backend = jax.default_backend()
    devices = f"{len(jax.local_devices())} {backend} device(s)"
    lines = [f"Emergence fits ({devices}, batch strategy {strategy}; 2 chains x 300+300)", "",
             "| tasks | batch fits/s | loop fits/s | speed-up | mean leapfrog steps |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['tasks']} | {r['batch_fits_per_s']:.2f} | {r['loop_fits_per_s']:.2f} | "
              f"{r['speedup']:.2f}x | {r['mean_leapfrog_steps']:.1f} |" for r in rows]
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"bench_emergence_{backend}")
    with open(stem + ".json", "w") as handle:
        json.dump({"devices": devices, "strategy": strategy, "rows": rows}, handle, indent=2)
    with open(stem + ".md", "w") as handle:
        handle.write(table + "\n")


if __name__ == "__main__":
    main()
