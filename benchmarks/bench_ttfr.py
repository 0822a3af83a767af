"""Benchmark: time to first result of ``bayes-scaling fit``, first and second invocation.

The CLI keeps JAX's persistent compilation cache in ``~/.cache/bayes_scaling/jax`` (moved with
``BAYES_SCALING_CACHE``). The first ``fit`` of a data shape compiles the sampler and writes it
there; a second process fitting same-shaped data loads it instead of compiling. This script
runs the same command three times in fresh processes: with the cache off, then twice with a new,
empty cache directory, and reports each wall time (the whole command: start-up, reading the
CSV, compile or cache load, sampling, writing the fit and printing the summary).

Run
---
    python benchmarks/bench_ttfr.py [--data-dir ../shared/datasets]

Results: a table on stdout and ``bench_ttfr_<backend>.json`` / ``.md`` in --out-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_fit(workdir, env, name):
    """One ``bayes-scaling fit`` in a fresh process; returns (wall seconds, its stderr)."""
    command = [sys.executable, "-m", "bayes_scaling.cli", "fit", "--dataset",
               "chinchilla-epoch240", "-o", os.path.join(workdir, f"{name}.nc")]
    start = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return seconds, out.stderr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared",
                                                           "datasets"))
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="bench_ttfr_")
    cache = os.path.join(workdir, "cache")
    env = {**os.environ, "BAYES_SCALING_DATA": os.path.abspath(args.data_dir),
           "BAYES_SCALING_CACHE": cache}
    env.pop("BAYES_SCALING_NO_CACHE", None)
    rows = []
    try:
        for name, extra in [("cache off", {"BAYES_SCALING_NO_CACHE": "1"}),
                            ("first, empty cache", {}), ("second, same cache", {})]:
            seconds, stderr = run_fit(workdir, {**env, **extra}, name.split(",")[0].replace(
                " ", "_"))
            devices = next((line for line in stderr.splitlines() if "fitting" in line), "")
            rows.append({"invocation": name, "wall_s": seconds, "fitting_line": devices})
            print(f"{name}: {seconds:.1f} s", file=sys.stderr)
        cached_files = sum(len(files) for _, _, files in os.walk(cache))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    import jax

    record = {"command": "bayes-scaling fit --dataset chinchilla-epoch240 (4 chains x 1000 x "
                         "1000)", "backend": jax.default_backend(), "rows": rows,
              "cache_files_written": cached_files}
    lines = ["# Time to first result of `bayes-scaling fit`, first and second invocation", "",
             f"Command: `{record['command']}`, each in a fresh process; "
             f"{cached_files} compiled programs were written to the new cache directory.", "",
             "| invocation | wall time (s) |", "|---|---|"]
    lines += [f"| {r['invocation']} | {r['wall_s']:.1f} |" for r in rows]
    lines += ["", f"The CLI's own line: `{rows[-1]['fitting_line']}`", ""]
    text = "\n".join(lines)
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"bench_ttfr_{record['backend']}")
    with open(stem + ".json", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    with open(stem + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
