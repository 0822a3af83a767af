"""Benchmark: time to first result of ``bayes-scaling fit``, first and second invocation, the
commands that read a saved fit, and where the time of a warm fit goes.

The CLI keeps JAX's persistent compilation cache in ``~/.cache/bayes_scaling/jax`` (moved with
``BAYES_SCALING_CACHE``). The first ``fit`` of a data shape compiles the sampler and writes it
there; a second process fitting same-shaped data loads it instead of compiling. This script
runs the same command three times in fresh processes: with the cache off, then twice with a new,
empty cache directory, and reports each wall time (the whole command: start-up, reading the
CSV, compile or cache load, sampling, writing the fit and printing the summary). Then
``summary``, ``forecast``, ``optimal`` and ``plan`` on the saved fit, each twice in fresh
processes (the first compiles the command's own programs into the cache), and a bare
``import bayes_scaling``; and the warm ``fit`` and ``forecast`` once more
under cProfile, split into steps (imports, reading the runs, tracing the sampler, lowering it,
loading it from the cache, sampling, building the InferenceData, the gate, writing the file).
The profiler slows Python-heavy steps, so the steps add up to more than the plain wall time.

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


# (step, function name, file suffix): the cumulative time of that function under cProfile.
STEPS = [("imports (all modules)", "_find_and_load", "importlib._bootstrap>"),
         ("read and check the runs", "load_runs", "bayes_scaling/data.py"),
         ("trace the sampler (jaxpr)", "trace_to_jaxpr", "jax/_src/interpreters/partial_eval.py"),
         ("lower it (StableHLO)", "lower_sharding_computation", "jax/_src/interpreters/pxla.py"),
         ("compile or load it from the cache", "compile_or_get_cached",
          "jax/_src/compiler.py"),
         ("sampler call, all of it (trace + lower + load + sample)", "sample_with_progress",
          "bayes_scaling/inference/sampler.py"),
         ("build the InferenceData", "from_arrays", "bayes_scaling/posterior.py"),
         ("diagnostics gate (R-hat, ESS, E-BFMI)", "_gate", "bayes_scaling/posterior.py"),
         ("write the netCDF file", "save", "bayes_scaling/posterior.py"),
         ("internal backtest for the discrepancy (its fit included)", "kappa_evidence",
          "bayes_scaling/sweep_evidence.py"),
         ("forecast (prediction.forecast)", "forecast", "bayes_scaling/prediction.py"),
         ("read the fit (Posterior.load)", "load", "bayes_scaling/posterior.py"),
         ("whole command (cli main)", "main", "bayes_scaling/cli/main.py")]
SAVED_FIT_COMMANDS = [("summary", []), ("forecast", ["--params", "70B", "--tokens", "1.4T"]),
                      ("optimal", ["--flops", "1e24"]),
                      ("plan", ["--params", "70B", "--tokens", "1.4T"])]


def timed(command, env):
    """Wall seconds of one command in a fresh process (it must succeed)."""
    start = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - start


def profile_steps(cli_args, env, workdir):
    """Seconds per step (`STEPS`) of one CLI command run under cProfile."""
    import pstats

    out = os.path.join(workdir, "profile.out")
    timed([sys.executable, "-m", "cProfile", "-o", out, "-m", "bayes_scaling.cli", *cli_args],
          env)
    stats = pstats.Stats(out).stats
    steps = {}
    for step, name, suffix in STEPS:
        times = [cumulative for (path, _, function), (_, _, _, cumulative, _) in stats.items()
                 if function == name and path.replace("\\", "/").endswith(suffix)]
        if times:
            steps[step] = max(times)
    return steps


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
        saved = os.path.join(workdir, "second.nc")
        once = timed([sys.executable, "-c", "import bayes_scaling"], env)
        commands = [{"command": "python -c 'import bayes_scaling'", "first_s": once,
                     "wall_s": once}]
        for name, extra in SAVED_FIT_COMMANDS:
            # Twice: the first run compiles the command's own programs into the cache.
            command = [sys.executable, "-m", "bayes_scaling.cli", name, saved, *extra]
            first = timed(command, env)
            commands.append({"command": f"bayes-scaling {name} FIT.nc {' '.join(extra)}".strip(),
                             "first_s": first, "wall_s": timed(command, env)})
            print(f"{name}: {first:.1f} s, then {commands[-1]['wall_s']:.1f} s", file=sys.stderr)
        breakdown = {
            "fit (warm cache)": profile_steps(
                ["fit", "--dataset", "chinchilla-epoch240", "-o",
                 os.path.join(workdir, "profiled.nc")], env, workdir),
            "forecast": profile_steps(["forecast", saved, "--params", "70B", "--tokens", "1.4T"],
                                      env, workdir)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    import jax

    record = {"command": "bayes-scaling fit --dataset chinchilla-epoch240 (4 chains x 1000 x "
                         "1000)", "backend": jax.default_backend(), "rows": rows,
              "cache_files_written": cached_files, "saved_fit_commands": commands,
              "profiled_steps_s": breakdown}
    lines = ["# Time to first result of `bayes-scaling fit`, first and second invocation", "",
             f"Command: `{record['command']}`, each in a fresh process; "
             f"{cached_files} compiled programs were written to the new cache directory.", "",
             "| invocation | wall time (s) |", "|---|---|"]
    lines += [f"| {r['invocation']} | {r['wall_s']:.1f} |" for r in rows]
    lines += ["", f"The CLI's own line: `{rows[-1]['fitting_line']}`", "",
              "Commands on the saved fit, each in a fresh process, twice: first (compiling "
              "the command's own programs into the cache) and warm:", "",
              "| command | first (s) | warm (s) |", "|---|---|---|"]
    lines += [f"| `{c['command']}` | {c['first_s']:.2f} | {c['wall_s']:.2f} |"
              for c in commands]
    lines += ["", "Where the time goes, under cProfile (cumulative seconds per step; the "
              "profiler inflates Python-heavy steps, imports overlap the other steps):", "",
              "| step | " + " | ".join(breakdown) + " |", "|---|" + "---|" * len(breakdown)]
    for step, _, _ in STEPS:
        cells = [f"{part[step]:.2f}" if step in part else "-" for part in breakdown.values()]
        if any(c != "-" for c in cells):
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("")
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
