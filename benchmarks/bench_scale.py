"""Benchmark: how our NUTS engine scales — the sampler's overhead over its gradient, cost growth
with data size, and many fits at once (`fit_many`) against a Python loop of single fits.

Sections (all on `simulate`d Chinchilla-like data, Student-t likelihood, default priors)
--------------------------------------------------------------------------------------
floor     One chain on one device, 245 runs. The gradient's cost is measured inside XLA (a jitted
          ``fori_loop`` of 20,000 value-and-gradient evaluations of the model's potential, so no
          dispatch is counted). The sampler's cost per leapfrog step is the marginal one: two
          runs with the same key and warmup but 1,000 and 5,000 draws (each the best of 5
          calls); their difference in time over their difference in leapfrog steps, without and
          with the pointwise log-likelihood for LOO. overhead factor = step cost / gradient
          cost. On CPU the floor is measured again in a subprocess at XLA's default small-loop
          limit, so the gain of `bayes_scaling.xla_flags` shows in the same run.
growth    245, 2,450, 24,500 and 245,000 runs: gradient cost, leapfrog steps per iteration,
          min bulk ESS per second of sampling (second call of a compiled fit).
batch     K = 1, 8, 64, 512 (and 4,096 off CPU) data sets of 245 runs each, distinct draws:
          `fit_many` (one program; second call timed) against a Python loop over the cached
          single-fit sampler (`inference.sampler.sample_arrays`, what a user's loop of `fit` runs minus
          building each ArviZ object). The loop's rate does not depend on K, so it is measured on
          min(K, --loop-max) fits and reported as fits per second. Two loops: as `fit` runs
          (chains spread over the local devices) and on one device (a plain single-process loop).

Run
---
    python benchmarks/bench_scale.py                 # everything (CPU: ~15 min on 2 cores)
    python benchmarks/bench_scale.py --only floor,growth --quick

Results: a markdown table on stdout and ``bench_scale_<backend>.json`` / ``.md`` in --out-dir.
"""

from __future__ import annotations

import os

# One CPU host device per core (as the CLI does), so fits and chains can use every core.
_FLAGS = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _FLAGS:
    os.environ["XLA_FLAGS"] = (f"{_FLAGS} --xla_force_host_platform_device_count="
                               f"{os.cpu_count() or 1}").strip()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from numpyro.infer.util import potential_energy  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.laws.priors import default_priors
from bayes_scaling.inference import sampler as inference  # noqa: E402
from bayes_scaling.models import make_model  # noqa: E402
from bayes_scaling.xla_flags import SMALL_LOOP_BYTES, SMALL_LOOP_OPTION  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sampler import machine_info, markdown_table  # noqa: E402

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
    import arviz as az  # noqa: E402

LAW = bs.LAWS["chinchilla"]
PARAMS = ("A", "B", "alpha", "beta", "E")


def log(message):
    print(message, file=sys.stderr, flush=True)


def timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def gradient_seconds(runs, evaluations=20_000):
    """Seconds per value-and-gradient of the model's potential, measured inside XLA."""
    priors = default_priors(LAW, runs)
    model = make_model(LAW, priors, "student_t")
    data = inference._data(runs, LAW, None)
    start = inference._initial_position(jax.random.key(0), model, data)
    flat, unravel = ravel_pytree(start)
    value_and_grad = jax.value_and_grad(lambda z: potential_energy(model, data, {}, unravel(z)))

    @jax.jit
    def loop(z):
        def body(_, carry):
            # The gradient feeds the next point (scaled to nothing) so XLA cannot hoist it.
            value, grad = value_and_grad(carry[0] + 1e-30 * carry[1])
            return carry[0], grad + value
        return jax.lax.fori_loop(0, evaluations, body, (z, jnp.zeros_like(z)))

    jax.block_until_ready(loop(flat))
    _, seconds = timed(lambda: loop(flat))
    return seconds / evaluations


def min_ess(samples):
    posterior = az.convert_to_dataset({p: np.asarray(samples[p], np.float64) for p in PARAMS})
    ess = az.ess(posterior, method="bulk")
    return min(float(ess[p]) for p in PARAMS)


def _step_seconds(runs, priors, draws, repeats, pointwise):
    """Marginal seconds per leapfrog step of `inference.sampler.sample_arrays` (1 chain): two runs with
    the same key and warmup and ``draws`` draws, each the best of ``repeats`` calls."""
    limit = inference.MAX_POINTWISE_LOGLIK
    # The benchmark's switch for the pointwise log-likelihood (PSIS-LOO's input, computed per
    # draw after sampling): 0 turns it off.
    inference.MAX_POINTWISE_LOGLIK = limit if pointwise else 0
    try:
        measured = []
        for num_samples in draws:
            config = bs.SamplerConfig(num_chains=1, num_warmup=1000, num_samples=num_samples)

            def call():
                return inference.sample_arrays(LAW, priors, runs, key=jax.random.key(1),
                                               config=config)

            (_, stats, _), _ = timed(call)  # compiles
            seconds = min(timed(call)[1] for _ in range(repeats))
            measured.append((seconds, float(np.sum(stats["n_steps"]))))
    finally:
        inference.MAX_POINTWISE_LOGLIK = limit
    (t1, s1), (t2, s2) = measured
    return (t2 - t1) / (s2 - s1), [m[1] for m in measured]


def bench_floor(quick, repeats=5):
    runs = bs.simulate(jax.random.key(0), num_runs=245)
    priors = default_priors(LAW, runs)
    draws = (200, 1000) if quick else (1000, 5000)
    step, steps = _step_seconds(runs, priors, draws, repeats, pointwise=False)
    with_loglik, _ = _step_seconds(runs, priors, draws, repeats, pointwise=True)
    grad = gradient_seconds(runs)
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "gradient_us": grad * 1e6,
            "step_us": step * 1e6, "overhead_factor": step / grad,
            "step_with_loglik_us": with_loglik * 1e6, "leapfrog_steps": steps,
            "draws": list(draws), "repeats": repeats}


def floor_at_xla_default(quick):
    """The floor in a fresh process with XLA's own small-loop limit (1 kB): what the engine's
    `bayes_scaling.xla_flags` option buys, in the same run."""
    import subprocess

    flags = os.environ.get("XLA_FLAGS", "").replace(
        f"{SMALL_LOOP_OPTION}={SMALL_LOOP_BYTES}", f"{SMALL_LOOP_OPTION}=1024")
    command = [sys.executable, __file__, "--floor-json"] + (["--quick"] if quick else [])
    out = subprocess.run(command, env={**os.environ, "XLA_FLAGS": flags}, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def bench_growth(sizes, config, single_call_over_s=120.0):
    rows = []
    for n in sizes:
        runs = bs.simulate(jax.random.key(0), num_runs=n)
        priors = default_priors(LAW, runs)
        log(f"  growth: {n} runs")
        (samples, stats, _), first = timed(lambda: inference.sample_arrays(
            LAW, priors, runs, key=jax.random.key(1), config=config))
        second = None
        if first < single_call_over_s:
            (samples, stats, _), second = timed(lambda: inference.sample_arrays(
                LAW, priors, runs, key=jax.random.key(2), config=config))
        # Too slow to run twice: timed once, compile included (ESS/s is then a lower bound).
        seconds = first if second is None else second
        ess = min_ess(samples)
        rows.append({"num_runs": n, "compile_s": None if second is None else first - second,
                     "sampling_s": seconds, "includes_compile": second is None,
                     "gradient_us": gradient_seconds(runs, 2000 if n > 10_000 else 20_000) * 1e6,
                     "steps_per_iteration": float(np.mean(stats["n_steps"])),
                     "max_tree_depth_hits": int(np.sum(stats["tree_depth"] >= config.max_tree_depth)),
                     "divergences": int(np.sum(stats["diverging"])),
                     "min_ess_bulk": ess, "ess_per_s": ess / seconds})
        log(f"  {rows[-1]}")
    return rows


def bench_batch(sizes, config, loop_max, strategy, single_call_over_s=120.0):
    datasets = [bs.simulate(jax.random.key(1000 + k), num_runs=245) for k in range(max(sizes))]
    rows = []
    priors = default_priors(LAW, datasets[0])
    loop_n = min(loop_max, max(sizes))
    # The loops: the cached single-fit sampler, one data set after another, (a) as `fit` runs
    # it (its chains spread over the local devices) and (b) on one device (the chains one after
    # another: a plain single-process loop).
    rates = {}
    for name, chain_method in (("loop", "auto"), ("loop_one_device", "sequential")):
        loop_config = dataclasses.replace(config, chain_method=chain_method)
        inference.sample_arrays(LAW, priors, datasets[0], key=jax.random.key(0),
                                config=loop_config)
        start = time.perf_counter()
        for k, runs in enumerate(datasets[:loop_n]):
            jax.block_until_ready(inference.sample_arrays(
                LAW, default_priors(LAW, runs), runs, key=jax.random.key(k),
                config=loop_config))
        rates[name] = loop_n / (time.perf_counter() - start)
        log(f"  {name}: {rates[name]:.3f} fits/s over {loop_n} fits")
    loop_rate = rates["loop"]
    for size in sizes:
        log(f"  batch: K = {size}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.ConvergenceWarning)
            batch, first = timed(lambda: bs.fit_many(datasets[:size], key=jax.random.key(1),
                                                     config=config, strategy=strategy))
            second = None
            if first < single_call_over_s:
                batch, second = timed(lambda: bs.fit_many(datasets[:size], key=jax.random.key(2),
                                                          config=config, strategy=strategy))
        table = batch.check()
        # A batch too slow to run twice is timed once: compile included, so a lower bound on
        # its fits per second.
        seconds = first if second is None else second
        rows.append({"K": size, "compile_s": None if second is None else first - second,
                     "batch_s": seconds, "includes_compile": second is None,
                     "fits_per_s": size / seconds, "loop_fits_per_s": loop_rate,
                     "loop_one_device_fits_per_s": rates["loop_one_device"],
                     "speedup_over_one_device_loop": size / seconds / rates["loop_one_device"],
                     "speedup": size / seconds / loop_rate,
                     "share_passing_gate": float(table["ok"].mean()),
                     "mean_leapfrog_steps": float(table["mean_leapfrog_steps"].mean()),
                     "max_tree_depth_share": float(np.mean(
                         np.asarray(batch.stats["tree_depth"]) >= config.max_tree_depth))})
        log(f"  {rows[-1]}")
    return rows, loop_n


def report(record):
    info = record["machine"]
    lines = [f"# Scaling benchmark ({info['backend']}: {record['device']}, {info['date']})", ""]
    if "floor" in record:
        f = record["floor"]
        rows = [[label, f"{r['gradient_us']:.1f}", f"{r['step_us']:.1f}",
                 f"{r['overhead_factor']:.2f}", f"{r['step_with_loglik_us']:.1f}"]
                for label, r in (("engine (small loops compiled whole)", f),
                                 ("XLA's default loop limit (1 kB)", record.get("floor_default")))
                if r]
        lines += ["## The sampler's overhead over its gradient (1 chain, 245 runs)", "",
                  markdown_table(["XLA:CPU setting", "gradient in XLA (µs)",
                                  "sampler cost per leapfrog step (µs)", "overhead factor",
                                  "per step with pointwise log-lik (µs)"], rows), "",
                  "Overhead factor = the sampler's marginal cost per leapfrog step (best of "
                  f"{f['repeats']} calls, {f['draws'][1]} against {f['draws'][0]} draws) over "
                  "one value-and-gradient evaluated inside XLA. The last column adds the "
                  "pointwise log-likelihood a fit computes per draw for PSIS-LOO.", ""]
    if "growth" in record:
        g = record["growth"]
        lines += [f"## Cost growth with data size ({record['growth_config']})", "",
                  markdown_table(
                      ["runs", "gradient (µs)", "leapfrog steps/iter", "max-depth hits",
                       "divergences", "sampling (s)", "min bulk ESS", "ESS/s", "compile (s)"],
                      [[f"{r['num_runs']}", f"{r['gradient_us']:.1f}",
                        f"{r['steps_per_iteration']:.1f}", f"{r['max_tree_depth_hits']}",
                        f"{r['divergences']}", f"{r['sampling_s']:.2f}" + (
                            " (incl. compile)" if r["includes_compile"] else ""),
                        f"{r['min_ess_bulk']:.0f}", f"{r['ess_per_s']:.0f}",
                        "-" if r["compile_s"] is None else f"{r['compile_s']:.1f}"]
                       for r in g]), ""]
    if "batch" in record:
        b = record["batch"]
        lines += [f"## Many fits: fit_many ({record['batch_strategy']}) vs a loop of single fits "
                  f"({record['batch_config']}; loop rate from {record['loop_fits']} fits)", "",
                  markdown_table(
                      ["K", "fit_many (s)", "fits/s", "loop fits/s", "speed-up",
                       "one-device loop fits/s", "speed-up over it", "compile (s)",
                       "share passing gate", "mean leapfrog steps"],
                      [[f"{r['K']}", f"{r['batch_s']:.1f}" + (" (incl. compile)"
                                                               if r["includes_compile"] else ""),
                        f"{r['fits_per_s']:.2f}", f"{r['loop_fits_per_s']:.2f}",
                        f"{r['speedup']:.2f}", f"{r['loop_one_device_fits_per_s']:.2f}",
                        f"{r['speedup_over_one_device_loop']:.2f}",
                        "-" if r["compile_s"] is None else f"{r['compile_s']:.1f}",
                        f"{r['share_passing_gate']:.2f}",
                        f"{r['mean_leapfrog_steps']:.1f}"] for r in b]), ""]
    lines.append(f"Machine: {info['platform']}, cpu_count={info['cpu_count']}, jax {info['jax']}, "
                 f"numpyro {info['numpyro']}, devices: {record['device']} x "
                 f"{info['host_devices']}, git {info['git_commit']} "
                 f"(modified: {', '.join(info['git_modified'] or []) or 'none'}).")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="floor,growth,batch")
    parser.add_argument("--quick", action="store_true", help="small settings (smoke test)")
    parser.add_argument("--batch-sizes", default=None, help="e.g. 1,8,64,512,4096")
    parser.add_argument("--loop-max", type=int, default=64)
    parser.add_argument("--growth-sizes", default=None, help="e.g. 245,2450,24500,245000")
    parser.add_argument("--growth-chains", type=int, default=4)
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--single-call-over", type=float, default=120.0,
                        help="time a batch once (compile included) if its first call takes "
                             "longer than this many seconds")
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "results"))
    parser.add_argument("--floor-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_json:  # the subprocess of `floor_at_xla_default`
        print(json.dumps(bench_floor(args.quick)))
        return 0
    sections = args.only.split(",")
    on_cpu = jax.default_backend() == "cpu"
    device = jax.devices()[0].device_kind
    record = {"machine": machine_info(), "device": device}
    if "floor" in sections:
        log("floor ...")
        record["floor"] = bench_floor(args.quick)
        log(f"  {record['floor']}")
        if on_cpu:
            record["floor_default"] = floor_at_xla_default(args.quick)
            log(f"  at XLA's default: {record['floor_default']}")
    if "growth" in sections:
        sizes = [245, 2450] if args.quick else [245, 2450, 24500, 245000]
        if args.growth_sizes:
            sizes = [int(n) for n in args.growth_sizes.split(",")]
        config = bs.SamplerConfig(num_chains=args.growth_chains, num_warmup=500, num_samples=500)
        precision = "float64" if jax.config.jax_enable_x64 else "float32"
        record["growth_config"] = f"{args.growth_chains} chains x 500 warmup x 500 draws, {precision}"
        log("growth ...")
        record["growth"] = bench_growth(sizes, config, args.single_call_over)
    if "batch" in sections:
        default = [1, 8] if args.quick else ([1, 8, 64, 512] if on_cpu else [1, 8, 64, 512, 4096])
        sizes = [int(k) for k in args.batch_sizes.split(",")] if args.batch_sizes else default
        config = bs.SamplerConfig(num_chains=2, num_warmup=500, num_samples=500)
        record["batch_config"] = "2 chains x 500 warmup x 500 draws per fit"
        record["batch_strategy"] = "x".join(map(str, inference.batch_strategy(args.strategy)))
        log("batch ...")
        record["batch"], record["loop_fits"] = bench_batch(sizes, config, args.loop_max,
                                                           args.strategy, args.single_call_over)
    text = report(record)
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"bench_scale_{jax.default_backend()}"
                        f"{'_quick' if args.quick else ''}{args.tag}")
    with open(stem + ".json", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, default=float)
    with open(stem + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    log(f"wrote {stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
