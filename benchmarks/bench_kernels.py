"""Which NUTS kernel the engine uses, chosen by measurement: ours (hand-written) against NumPyro's.

Both kernels run inside the engine's one cached, bucketed jit (`SamplerConfig(kernel=...)`), on
the same NumPyro model, priors, start and chain layout, with the engine's XLA option (small
loops compiled whole). Each kernel runs in a fresh process (persistent compile cache off) with
one JAX CPU device per core, as the CLI does, and fits:

* a simulated 245-run Chinchilla sweep (Epoch's published law), six small ones (40 and 60
  runs), then every real loss set of ``benchmarks/validation_sets.py`` (Epoch's Chinchilla
  points, datablations, Porian's 15 configurations, ColPret's two ladders), each with several
  keys at the default settings;
* a batch of 8 data sets of mixed sizes with `fit_many`, twice (compile, then warm).

It reports compile time (first fit minus a warm fit of the same data), warm fit wall time,
min bulk ESS and ESS per second of a warm fit, leapfrog steps per iteration, divergences and
how many fits pass the diagnostics gate. BlackJAX's NUTS (window adaptation, dense metric, its
own jit over vmapped chains, from ``benchmarks/baselines.py``) runs on the simulated sweep when
blackjax is installed (``pip install blackjax==1.7.1``).

Run from the repository root::

    python benchmarks/bench_kernels.py [--keys 2] [--data-dir ../shared/datasets]

writes ``benchmarks/results/bench_kernels_<backend>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
KERNELS = ("builtin", "numpyro")
BATCH_SIZES = (245, 200, 150, 120, 100, 80, 60, 40)
SMALL_SETS = ((40, 40), (40, 41), (40, 42), (60, 60), (60, 61), (60, 62))  # (runs, seed)


def _machine_flags():
    """One JAX CPU device per core (as the CLI sets up), before JAX is imported."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        flags = f"{flags} --xla_force_host_platform_device_count={os.cpu_count() or 1}".strip()
    return flags


def worker(kernel, num_keys, data_dir):
    """Runs in its own process: every fit of one kernel; prints one JSON line."""
    import jax
    import numpy as np

    import bayes_scaling as bs
    from bayes_scaling.errors import ConvergenceWarning
    from bayes_scaling.inference.sampler import SamplerConfig, trace_count

    sys.path.insert(0, HERE)
    from validation_sets import validation_sets

    warnings.simplefilter("ignore", ConvergenceWarning)
    config = SamplerConfig(kernel=kernel)
    pool = bs.simulate(jax.random.key(0), num_runs=max(BATCH_SIZES))
    # Small simulated sweeps too: few runs make the hardest posteriors for warmup.
    small = [(f"simulated {n} runs, seed {seed}", bs.simulate(jax.random.key(seed), num_runs=n))
             for n, seed in SMALL_SETS]
    sets = ([("simulated", pool)] + small
            + [(vs.name, vs.runs) for vs in validation_sets(data_dir)])
    rows = []
    for name, runs in sets:
        # The simulated sweep at least twice: its first fit compiles, the next are warm.
        for k in range(max(num_keys, 3) if name == "simulated" else num_keys):
            before, start = trace_count(), time.perf_counter()
            post = bs.fit(runs, key=jax.random.key(k), config=config)
            seconds = time.perf_counter() - start
            gate = post.check()
            rows.append({"set": name, "runs": len(runs), "key": k, "seconds": seconds,
                         "compiled": trace_count() - before, "gate_ok": bool(gate.ok),
                         "min_ess_bulk": float(gate.min_ess_bulk),
                         "max_r_hat": float(gate.max_r_hat),
                         "divergences": int(gate.divergences),
                         "steps_per_iteration": float(
                             post.idata.sample_stats["n_steps"].mean())})
    batch = []
    datasets = [pool.subset(np.arange(len(pool)) < size) for size in BATCH_SIZES]
    for call in range(2):
        before, start = trace_count(), time.perf_counter()
        fits = bs.fit_many(datasets, key=jax.random.key(100 + call), config=config)
        seconds = time.perf_counter() - start
        batch.append({"call": call + 1, "fits": len(datasets), "seconds": seconds,
                      "compiled": trace_count() - before,
                      "gate_ok": int(np.sum(fits.check().ok))})
    print(json.dumps({"kernel": kernel, "rows": rows, "batch": batch}))


def blackjax_row():
    """BlackJAX on the simulated sweep (its own jit), or None when blackjax is missing."""
    import jax
    import numpy as np
    import arviz as az

    import bayes_scaling as bs

    sys.path.insert(0, HERE)
    import baselines

    try:
        result = baselines.blackjax_fit(bs.simulate(jax.random.key(0), num_runs=245),
                                        key=jax.random.key(0))
    except ImportError:
        return None
    ess = min(float(az.ess(np.asarray(v)[None] if np.ndim(v) == 1 else np.asarray(v)))
              for v in result["draws"].values())
    return {"compile_s": result["compile_s"], "sampling_s": result["sampling_s"],
            "min_ess_bulk": ess, "steps_per_iteration": float(np.mean(result["num_steps"])),
            "divergences": result["divergences"], "notes": result["notes"]}


def summarize(result):
    rows = result["rows"]
    first = rows[0]
    warm = [r for r in rows if r["compiled"] == 0]
    sim_warm = [r for r in warm if r["set"] == "simulated"]
    small = [r for r in rows if r["set"].startswith("simulated ")]
    return {
        "kernel": result["kernel"],
        "compile_s": first["seconds"] - statistics.median(r["seconds"] for r in sim_warm),
        "compiles": sum(r["compiled"] for r in rows),
        "warm_fit_s_simulated": statistics.median(r["seconds"] for r in sim_warm),
        "warm_fit_s_median_all": statistics.median(r["seconds"] for r in warm),
        "min_ess_bulk_simulated": statistics.median(r["min_ess_bulk"] for r in sim_warm),
        "ess_per_s_simulated": statistics.median(r["min_ess_bulk"] / r["seconds"]
                                                 for r in sim_warm),
        "ess_per_s_median_all": statistics.median(r["min_ess_bulk"] / r["seconds"]
                                                  for r in warm),
        "steps_per_iteration_median_all": statistics.median(r["steps_per_iteration"]
                                                            for r in rows),
        "fits": len(rows), "gate_ok": sum(r["gate_ok"] for r in rows),
        "small_fits": len(small), "small_gate_ok": sum(r["gate_ok"] for r in small),
        "fits_with_divergences": sum(r["divergences"] > 0 for r in rows),
        "batch_first_s": result["batch"][0]["seconds"],
        "batch_warm_s": result["batch"][1]["seconds"],
        "batch_gate_ok": f"{result['batch'][1]['gate_ok']}/{result['batch'][1]['fits']}",
    }


def markdown(summaries, results, blackjax, num_keys):
    table = ["| kernel | compile (s) | warm fit, 245 sim. runs (s) | min bulk ESS | ESS/s | "
             "ESS/s, median over all sets | leapfrog/iter (median) | compiles | gate passed | "
             "gate passed, small sim. sets | fits with divergences | "
             "fit_many 8 fits: first / warm (s) | batch gate |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        table.append(
            f"| {s['kernel']} | {s['compile_s']:.1f} | {s['warm_fit_s_simulated']:.2f} | "
            f"{s['min_ess_bulk_simulated']:.0f} | {s['ess_per_s_simulated']:.0f} | "
            f"{s['ess_per_s_median_all']:.0f} | {s['steps_per_iteration_median_all']:.1f} | "
            f"{s['compiles']} | {s['gate_ok']}/{s['fits']} | "
            f"{s['small_gate_ok']}/{s['small_fits']} | {s['fits_with_divergences']} | "
            f"{s['batch_first_s']:.1f} / {s['batch_warm_s']:.1f} | {s['batch_gate_ok']} |")
    if blackjax:
        table.append(
            f"| BlackJAX (own jit) | {blackjax['compile_s']:.1f} | "
            f"{blackjax['sampling_s']:.2f} | {blackjax['min_ess_bulk']:.0f} | "
            f"{blackjax['min_ess_bulk'] / blackjax['sampling_s']:.0f} | - | "
            f"{blackjax['steps_per_iteration']:.1f} | 1 | - | - | "
            f"{int(blackjax['divergences'] > 0)} | - | - |")
    per_set = ["| set | runs | " + " | ".join(
        f"{r['kernel']}: gate passed, R-hat max, ESS min, divergences, leapfrog/iter"
        for r in results) + " |", "|---|---|" + "---|" * len(results)]
    names = list(dict.fromkeys(r["set"] for r in results[0]["rows"]))
    for name in names:
        cells = []
        for result in results:
            part = [r for r in result["rows"] if r["set"] == name]
            cells.append(f"{sum(r['gate_ok'] for r in part)}/{len(part)}, "
                         f"{max(r['max_r_hat'] for r in part):.3f}, "
                         f"{min(r['min_ess_bulk'] for r in part):.0f}, "
                         f"{sum(r['divergences'] for r in part)}, "
                         f"{statistics.mean(r['steps_per_iteration'] for r in part):.1f}")
        per_set.append(f"| {name} | {part[0]['runs']} | " + " | ".join(cells) + " |")
    return table, per_set


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2, help="fits per data set (keys 0..K-1)")
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared",
                                                           "datasets"))
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    parser.add_argument("--worker", choices=KERNELS + ("blackjax",), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "blackjax":
        return print(json.dumps(blackjax_row()))
    if args.worker:
        return worker(args.worker, args.keys, args.data_dir)
    env = {**os.environ, "BAYES_SCALING_NO_CACHE": "1", "XLA_FLAGS": _machine_flags()}
    results, wall = [], {}
    for kernel in KERNELS + ("blackjax",):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--worker", kernel, "--keys",
                              str(args.keys), "--data-dir", args.data_dir], env=env,
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{kernel} worker failed:\n{out.stderr[-3000:]}")
        wall[kernel] = time.perf_counter() - start
        parsed = json.loads(out.stdout.strip().splitlines()[-1])
        if kernel == "blackjax":
            blackjax = parsed
        else:
            results.append(parsed)
    import jax

    summaries = [summarize(r) for r in results]
    table, per_set = markdown(summaries, results, blackjax, args.keys)
    ours, lib = summaries
    lines = [f"# NUTS kernels side by side ({jax.default_backend()})", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
             f"XLA_FLAGS `{_machine_flags()}` plus the engine's small-loop option; default "
             f"sampler settings (4 chains x 1000 warmup + 1000 draws, target_accept 0.9, dense "
             f"metric); {args.keys} key(s) per set; each kernel in a fresh process, persistent "
             "compile cache off. Command: `python benchmarks/bench_kernels.py`.", "", *table, "",
             f"Ratios NumPyro / builtin: compile {lib['compile_s'] / ours['compile_s']:.2f}x, "
             f"warm 245-run fit {lib['warm_fit_s_simulated'] / ours['warm_fit_s_simulated']:.2f}x, "
             f"ESS/s (simulated) {lib['ess_per_s_simulated'] / ours['ess_per_s_simulated']:.2f}x, "
             f"ESS/s (median over sets) "
             f"{lib['ess_per_s_median_all'] / ours['ess_per_s_median_all']:.2f}x, "
             f"fit_many first call {lib['batch_first_s'] / ours['batch_first_s']:.2f}x, warm "
             f"{lib['batch_warm_s'] / ours['batch_warm_s']:.2f}x.", "",
             "Compile = first fit of the simulated sweep minus the median warm fit of it; a warm "
             "fit's wall time includes building the InferenceData and the gate. ESS: min bulk "
             "ESS over the law's parameters and the noise.", "",
             "Per data set:", "", *per_set, "",
             f"Wall time per process (s): {', '.join(f'{k} {v:.0f}' for k, v in wall.items())}."]
    if blackjax:
        lines += ["", f"BlackJAX: {blackjax['notes']}."]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"bench_kernels_{jax.default_backend()}")
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        json.dump({"summaries": summaries, "results": results, "blackjax": blackjax,
                   "wall_s": wall}, f, indent=1)


if __name__ == "__main__":
    main()
