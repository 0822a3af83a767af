"""Benchmark: refitting data of new sizes in one process, with and without padding to buckets.

A researcher's loop refits constantly (another subset, filter, backtest cutoff, data set), and
each is a new number of runs. Without padding every new size compiles the sampler again; with
it (`inference.padding`, `SamplerConfig.pad_runs`, the default) sizes share a few compiled
programs. Each mode runs in a fresh process (no shared compile caches; the persistent cache off)
and fits simulated runs of the sizes in ``SIZES`` one after another with the default sampler
settings (4 chains x 1000 warmup x 1000 draws). Reported per fit: wall seconds of `bs.fit`
(compile, sampling, InferenceData, diagnostics), new traces of the sampler, resident memory.

A second part fits ``--memory-fits`` random subsets of random sizes (20-500 runs) in one process
with padding and reports the growth of resident memory (compiled programs shared, not
accumulated). The runs are subsets of one simulated pool of 500.

Run
---
    python benchmarks/bench_refit.py [--memory-fits 500]

Results: a table on stdout and ``bench_refit_<backend>.json`` / ``.md`` in --out-dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import jax
import numpy as np

import bayes_scaling as bs
from bayes_scaling.errors import ConvergenceWarning
from bayes_scaling.inference.padding import padded_size
from bayes_scaling.inference.sampler import trace_count

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = (50, 123, 200, 240, 500, 240, 77, 333)
MODES = ("bucketed", "exact")


def rss_mb():
    """Current resident memory (MB), from /proc where there is one, else the peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10


def worker(mode, memory_fits):
    """Runs in its own process: the fits of one mode; prints one JSON line."""
    config = dataclasses.replace(bs.SamplerConfig(), pad_runs=mode == "bucketed")
    # Subsets of one simulated pool: `simulate` itself compiles for every new size.
    pool = bs.simulate(jax.random.key(0), num_runs=max(SIZES))
    rows = []
    for i, size in enumerate(SIZES):
        runs = pool.subset(np.arange(len(pool)) < size)
        before, start = trace_count(), time.perf_counter()
        post = bs.fit(runs, key=jax.random.key(i), config=config)
        rows.append({"mode": mode, "fit": i + 1, "runs": size,
                     "padded_to": padded_size(size) if config.pad_runs else size,
                     "seconds": time.perf_counter() - start,
                     "compiled": trace_count() - before, "rss_mb": rss_mb(),
                     "gate_ok": bool(post.check().ok)})
    memory = None
    if memory_fits:
        rng = np.random.default_rng(0)
        sizes = rng.integers(20, 501, memory_fits)
        start_rss, start = rss_mb(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for i, size in enumerate(sizes):
                keep = np.zeros(len(pool), bool)
                keep[rng.choice(len(pool), size, replace=False)] = True
                bs.fit(pool.subset(keep), key=jax.random.key(i), config=config)
        memory = {"fits": int(memory_fits), "distinct_sizes": int(len(set(sizes.tolist()))),
                  "rss_start_mb": start_rss, "rss_end_mb": rss_mb(),
                  "seconds_per_fit": (time.perf_counter() - start) / memory_fits}
    print(json.dumps({"rows": rows, "memory": memory}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-fits", type=int, default=500,
                        help="fits of random sizes for the memory part (0: skip it)")
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.memory_fits)
    env = {**os.environ, "BAYES_SCALING_NO_CACHE": "1"}
    rows, memory = [], None
    for mode in MODES:
        fits = args.memory_fits if mode == "bucketed" else 0
        out = subprocess.run([sys.executable, __file__, "--worker", mode, "--memory-fits",
                              str(fits)], env=env, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows += result["rows"]
        memory = result["memory"] or memory
    backend = jax.default_backend()
    by_mode = {m: [r for r in rows if r["mode"] == m] for m in MODES}
    summary = {m: {"compiles": sum(r["compiled"] for r in part),
                   "total_seconds": sum(r["seconds"] for r in part),
                   "new_size_refit_seconds": [round(r["seconds"], 2) for r in part
                                              if r["compiled"] == 0 and r["fit"] > 1]}
               for m, part in by_mode.items()}
    ratio = summary["exact"]["total_seconds"] / summary["bucketed"]["total_seconds"]
    lines = ["# Refitting new data sizes in one process: padded to buckets vs exact sizes", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, backend "
             f"{backend}; default sampler settings (4 chains x 1000 + 1000); each mode in a fresh "
             "process, persistent compile cache off. Command: "
             "`python benchmarks/bench_refit.py`.", "",
             "| fit | runs | bucketed: padded to | s | compiled | RSS MB | exact: s | compiled "
             "| RSS MB |", "|---|---|---|---|---|---|---|---|---|"]
    for b, e in zip(by_mode["bucketed"], by_mode["exact"]):
        lines.append(f"| {b['fit']} | {b['runs']} | {b['padded_to']} | {b['seconds']:.2f} | "
                     f"{b['compiled']} | {b['rss_mb']:.0f} | {e['seconds']:.2f} | "
                     f"{e['compiled']} | {e['rss_mb']:.0f} |")
    lines += ["", f"Total: bucketed {summary['bucketed']['total_seconds']:.1f} s with "
              f"{summary['bucketed']['compiles']} compiles; exact "
              f"{summary['exact']['total_seconds']:.1f} s with {summary['exact']['compiles']} "
              f"compiles ({ratio:.1f}x). Every fit passed the gate: "
              f"{all(r['gate_ok'] for r in rows)}."]
    if memory:
        lines += ["", f"Memory: {memory['fits']} padded fits of {memory['distinct_sizes']} "
                  f"distinct sizes (20-500 runs) in one process: resident memory "
                  f"{memory['rss_start_mb']:.0f} -> {memory['rss_end_mb']:.0f} MB "
                  f"({memory['rss_end_mb'] - memory['rss_start_mb']:+.0f} MB), "
                  f"{memory['seconds_per_fit']:.2f} s a fit."]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"bench_refit_{backend}")
    with open(stem + ".json", "w") as f:
        json.dump({"rows": rows, "summary": summary, "memory": memory, "exact_over_bucketed":
                   ratio, "machine": platform.processor() or platform.machine(),
                   "cores": os.cpu_count(), "backend": backend}, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
