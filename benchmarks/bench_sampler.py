"""Benchmark: our cached, jitted NUTS engine against a naive NumPyro model, on the same data.

What is compared (one process, same 245-point simulated Chinchilla-like ``Runs``)
----------------------------------------------------------------------------------
(a) ``ours (auto)``: ``bayes_scaling.fit(runs, key=..., config=SamplerConfig(...))`` with the
    default ``chain_method="auto"``; on CPU each chain runs sequentially on its own host device,
    the chains sharded across the host devices.
(b) ``naive NumPyro``: log A, log B, log E sampled directly (priors identical to
    `bayes_scaling.default_priors`, only re-expressed in log space), α and β in the raw
    parameterization (LogNormal priors, NumPyro's default exp transform), the same Student-t
    likelihood on log-loss, a DIAGONAL mass matrix, NumPyro's default initialisation, run with
    ``MCMC(NUTS(model, dense_mass=False), chain_method="parallel")``.
(c) ``ours (vectorized)``: as (a) with ``chain_method="vectorized"`` (all chains vmapped in
    lockstep on one device), so the "auto" choice is measured.
(d) ``BlackJAX``, ``PyMC``, ``nutpie`` (`baselines.py`): the same model and priors, each with its
    own NUTS and adaptation; skipped (and said so) where not installed
    (``pip install -r benchmarks/requirements-baselines.txt``).
(e) Huber + bootstrap (`bayes_scaling.huber_bootstrap`, 4,000 resamples): time to an interval.

How times are measured
----------------------
* Ours: the sampler is cached and jitted. The first ``fit`` call traces and compiles; a second
  call on the same data with another key reuses the compiled code (checked with
  `bayes_scaling.inference.sampler.trace_count`). "sampling" = second call, "compile" = first − second.
  Both include building the ArviZ posterior and its diagnostics gate (``fit`` does that).
* Naive: NumPyro's ``MCMC.run`` retraces and recompiles on every call, so "time to first result"
  is the wall time of the one full ``mcmc.run``. Compile is ESTIMATED as the wall time of a
  separate ``mcmc.run`` with ``num_warmup=1, num_samples=1`` on a fresh MCMC object (the second
  of two, as the first also pays one-time process costs), and "sampling" = full run − that
  estimate. In ``--quick`` mode sampling is so short that this difference is mostly noise.

Quality metrics: min bulk ESS (``arviz.ess``) over A, B, α, β, E (the naive draws of log A etc. are
exponentiated first, so ESS is computed on the same quantities), ESS per second of sampling,
mean leapfrog steps per post-warmup iteration, divergences, and max R-hat over the same five.
The last column is the CPU time other processes took while a method ran (``/proc/stat`` minus this
process): on a shared machine, a row with much of it has inflated times.

Run
---
    python benchmarks/bench_sampler.py            # 4 chains x 1000 warmup x 1000 draws (minutes)
    python benchmarks/bench_sampler.py --quick    # 2 chains x 200 x 200 smoke test
    python benchmarks/bench_sampler.py --out-dir /tmp/bench

Results: a markdown table on stdout, and ``bench_sampler_<backend>.json`` / ``.md`` in
``--out-dir`` (default ``benchmarks/results``; ``--quick`` writes ``*_quick.*``).
"""

from __future__ import annotations

import os

# Four CPU host devices, so that NumPyro's chain_method="parallel" (one device per chain) works
# and our "auto" layout can shard chains. Must happen before jax is imported.
_FLAGS = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _FLAGS:
    os.environ["XLA_FLAGS"] = f"{_FLAGS} --xla_force_host_platform_device_count=4".strip()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from jax.scipy.special import logsumexp  # noqa: E402
from numpyro.distributions.transforms import ExpTransform  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
    import arviz as az  # noqa: E402

import bayes_scaling  # noqa: E402
from bayes_scaling import SamplerConfig, simulate  # noqa: E402
from bayes_scaling.laws.priors import default_priors  # noqa: E402
from bayes_scaling.datasets import EPOCH_CHINCHILLA  # noqa: E402
from bayes_scaling.inference.sampler import chain_layout, trace_count  # noqa: E402

PARAMS = ("A", "B", "alpha", "beta", "E")  # ESS and R-hat are taken over these
NUM_RUNS = 245
DATA_KEY = 0


# -- settings -------------------------------------------------------------------------------------
def sampler_settings(quick):
    """(num_chains, num_warmup, num_samples) of the full benchmark or the smoke test."""
    return (2, 200, 200) if quick else (4, 1000, 1000)


def machine_info():
    """Where and with what the benchmark ran."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "jax": jax.__version__,
        "numpyro": numpyro.__version__,
        "arviz": az.__version__,
        "bayes_scaling": bayes_scaling.__version__,
        "backend": jax.default_backend(),
        "host_devices": len(jax.local_devices()),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "x64": bool(jax.config.jax_enable_x64),
        "persistent_compile_cache": jax.config.jax_compilation_cache_dir,
        **git_state(),
    }


def git_state():
    """Commit and locally modified package files, since the engine may be mid-edit."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        try:
            return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    modified = git("status", "--porcelain", "--", "bayes_scaling")
    return {"git_commit": git("rev-parse", "--short", "HEAD"),
            "git_modified": None if modified is None else [
                line.strip() for line in modified.splitlines()]}


def cpu_seconds():
    """(busy CPU seconds of the whole machine, CPU seconds of this process), or None off Linux.

    Their difference over a benchmark is the CPU that other processes took meanwhile: the
    machine may be shared, and on a 2-core box that easily doubles a timing.
    """
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # up to steal, no guest time
    # Reaped children count as ours: PyMC samples in worker processes.
    ours = sum(usage.ru_utime + usage.ru_stime for usage in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))
    return busy, ours


def contention(before, after, wall_s):
    """CPU use during a benchmark: this process's and other processes' CPU seconds."""
    if before is None or after is None:
        return {}
    ours = after[1] - before[1]
    others = max(after[0] - before[0] - ours, 0.0)
    return {"wall_s": wall_s, "cpu_s_self": ours, "cpu_s_other_processes": others}


# -- diagnostics shared by all methods ------------------------------------------------------------
def diagnostics(posterior, n_steps, diverging, sampling_s, compile_s):
    """Metrics of one run from its posterior (an xarray Dataset or InferenceData) and stats."""
    ess = az.ess(posterior, var_names=list(PARAMS), method="bulk")
    rhat = az.rhat(posterior, var_names=list(PARAMS))
    min_ess = min(float(ess[p]) for p in PARAMS)
    return {
        "compile_s": compile_s,
        "sampling_s": sampling_s,
        "time_to_first_result_s": compile_s + sampling_s,
        "min_ess_bulk": min_ess,
        "ess_bulk": {p: float(ess[p]) for p in PARAMS},
        "ess_per_s": min_ess / sampling_s,
        "mean_leapfrog_steps": float(np.mean(n_steps)),
        "divergences": int(np.sum(diverging)),
        "max_r_hat": max(float(rhat[p]) for p in PARAMS),
        "posterior_median": {p: float(np.median(posterior_values(posterior, p))) for p in PARAMS},
    }


def posterior_values(posterior, name):
    group = posterior.posterior if hasattr(posterior, "posterior") else posterior
    return np.asarray(group[name].values)


# -- (a) and (c): our engine ---------------------------------------------------------------------
def timed_fit(runs, key, config):
    """Wall time of one ``bayes_scaling.fit`` call and its Posterior (warnings recorded)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bayes_scaling.ConvergenceWarning)
        start = time.perf_counter()
        post = bayes_scaling.fit(runs, key=key, config=config)
        elapsed = time.perf_counter() - start
    messages = [str(w.message) for w in caught if issubclass(w.category, bayes_scaling.ConvergenceWarning)]
    return post, elapsed, messages


def bench_ours(runs, settings, chain_method):
    """First call (compile + sample) and second call (sample only) of our fit."""
    num_chains, num_warmup, num_samples = settings
    config = SamplerConfig(num_chains=num_chains, num_warmup=num_warmup,
                           num_samples=num_samples, chain_method=chain_method)
    traces_before = trace_count()
    _, first_s, _ = timed_fit(runs, jax.random.key(1), config)
    traces_after_first = trace_count()
    post, second_s, warned = timed_fit(runs, jax.random.key(2), config)
    retraced = trace_count() - traces_after_first
    stats = post.idata.sample_stats
    result = diagnostics(post.idata, stats["n_steps"].values, stats["diverging"].values,
                         sampling_s=second_s, compile_s=first_s - second_s)
    per_device, num_devices = chain_layout(config)
    result.update({
        "first_call_s": first_s, "second_call_s": second_s,
        "traces_first_call": traces_after_first - traces_before,
        "traces_second_call": retraced,
        "layout": f"{per_device} per device x {num_devices} device(s)",
        "target_accept": config.target_accept,
        "mass_matrix": "dense",
        "gate_warnings": warned,
        "compile_note": "first call − second call (second call reuses the compiled sampler)",
    })
    return result


# -- (b): the naive NumPyro model ----------------------------------------------------------------
def make_naive_model(priors):
    """log A, log B, log E sampled directly; α, β raw; the same priors as ``priors``."""
    loc_a, scale_a = float(priors["A"].loc), float(priors["A"].scale)
    loc_b, scale_b = float(priors["B"].loc), float(priors["B"].scale)
    scale_e = float(priors["E"].scale)
    loc_exp, scale_exp = float(priors["alpha"].loc), float(priors["alpha"].scale)
    sigma_scale = float(priors["sigma"].scale)
    nu_shape, nu_rate = float(priors["nu"].concentration), float(priors["nu"].rate)

    def model(log_n, log_d, y=None):
        # A ~ LogNormal(loc, scale)  <=>  log A ~ Normal(loc, scale); E ~ HalfNormal pushed to log.
        log_a = numpyro.sample("log_A", dist.Normal(loc_a, scale_a))
        log_b = numpyro.sample("log_B", dist.Normal(loc_b, scale_b))
        log_e = numpyro.sample("log_E", dist.TransformedDistribution(
            dist.HalfNormal(scale_e), [ExpTransform().inv]))
        alpha = numpyro.sample("alpha", dist.LogNormal(loc_exp, scale_exp))
        beta = numpyro.sample("beta", dist.LogNormal(loc_exp, scale_exp))
        sigma = numpyro.sample("sigma", dist.HalfNormal(sigma_scale))
        nu = numpyro.sample("nu", dist.Gamma(nu_shape, nu_rate))
        terms = jnp.stack(jnp.broadcast_arrays(log_e, log_a - alpha * log_n, log_b - beta * log_d))
        numpyro.sample("log_loss", dist.StudentT(nu, logsumexp(terms, axis=0), sigma), obs=y)

    return model


def naive_mcmc(model, num_chains, num_warmup, num_samples):
    return MCMC(NUTS(model, dense_mass=False), num_warmup=num_warmup, num_samples=num_samples,
                num_chains=num_chains, chain_method="parallel", progress_bar=False)


def timed_run(mcmc, key, args):
    start = time.perf_counter()
    mcmc.run(key, *args, extra_fields=("num_steps", "diverging"))
    jax.block_until_ready(mcmc.get_samples())
    return time.perf_counter() - start


def naive_posterior(mcmc):
    """Draws of A, B, E (exponentiated), α, β, σ, ν as an ArviZ dataset (chain, draw)."""
    samples = {k: np.asarray(v, np.float64) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    for name in ("A", "B", "E"):
        samples[name] = np.exp(samples.pop(f"log_{name}"))
    return az.convert_to_dataset(samples)


def bench_naive(runs, settings):
    """Compile estimate (1 + 1 iterations on a fresh MCMC), then the full run."""
    num_chains, num_warmup, num_samples = settings
    model = make_naive_model(default_priors("chinchilla", runs))
    args = (jnp.log(jnp.asarray(runs.N, jnp.float32)), jnp.log(jnp.asarray(runs.D, jnp.float32)),
            jnp.log(jnp.asarray(runs.loss, jnp.float32)))
    # Two tiny runs: the first also pays one-time costs of the process (first pmap, NumPyro's
    # helpers) that the full run no longer pays, so the second is the closer compile estimate.
    tiny_s = [timed_run(naive_mcmc(model, num_chains, 1, 1), jax.random.key(3), args)
              for _ in range(2)]
    compile_s = tiny_s[-1]
    mcmc = naive_mcmc(model, num_chains, num_warmup, num_samples)
    total_s = timed_run(mcmc, jax.random.key(4), args)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    result = diagnostics(naive_posterior(mcmc), extra["num_steps"], extra["diverging"],
                         sampling_s=total_s - compile_s, compile_s=compile_s)
    result.update({
        "full_run_s": total_s,
        "tiny_runs_s": tiny_s,
        "time_to_first_result_s": total_s,
        "layout": f"pmap, 1 chain per device x {num_chains} device(s)",
        "target_accept": getattr(mcmc.sampler, "_target_accept_prob", "NumPyro default"),
        "mass_matrix": "diagonal",
        "compile_note": "ESTIMATE: wall time of a separate mcmc.run with num_warmup=1, "
                        "num_samples=1 on a fresh MCMC object (the second of two such runs); "
                        "sampling = full run − estimate",
    })
    return result


# -- (d) BlackJAX, PyMC, nutpie on the same model; (e) Huber + bootstrap --------------------------
def bench_baseline(name, runs, settings):
    """One of `baselines.py`'s samplers, summarised like ours (ImportError if not installed)."""
    import baselines

    num_chains, num_warmup, num_samples = settings
    sizes = dict(num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples)
    if name == "BlackJAX":
        result = baselines.blackjax_fit(runs, key=jax.random.key(5), **sizes)
        layout, target, mass = "vectorized x 1 device", 0.9, "dense (Stan-regularised)"
    elif name == "PyMC":
        result = baselines.pymc_fit(runs, seed=5, **sizes)
        layout, target, mass = "2 worker processes", 0.8, "diagonal"
    else:
        result = baselines.nutpie_fit(runs, seed=5, **sizes)
        layout, target, mass = "nutpie threads", 0.8, "diagonal (gradient-based)"
    posterior = az.convert_to_dataset({p: np.asarray(v, np.float64)
                                       for p, v in result["draws"].items()})
    steps = result["num_steps"] if result["num_steps"] is not None else np.array([np.nan])
    out = diagnostics(posterior, steps, np.array([result["divergences"]]),
                      sampling_s=result["sampling_s"], compile_s=result["compile_s"])
    out.update({"layout": layout, "target_accept": target, "mass_matrix": mass,
                "compile_note": result["notes"]})
    return out


def bench_huber(runs):
    """Time to a 90% interval the Epoch way: Huber fit from Hoffmann's grid, 4,000 resamples."""
    def once(seed):
        start = time.perf_counter()
        boot = bayes_scaling.huber_bootstrap(runs, key=jax.random.key(seed), num_resamples=4000)
        np.quantile(boot.draws["alpha"], [0.05, 0.95])  # the interval (draws are NumPy)
        return time.perf_counter() - start

    first, second = once(6), once(7)
    return {"first_call_s": first, "second_call_s": second, "compile_s": first - second}


# -- report ---------------------------------------------------------------------------------------
COLUMNS = [
    ("method", "{}"), ("layout", "{}"), ("compile (s)", "{:.1f}"), ("sampling (s)", "{:.1f}"),
    ("time to first result (s)", "{:.1f}"), ("min bulk ESS", "{:.0f}"), ("ESS/s", "{:.1f}"),
    ("mean leapfrog/iter", "{:.1f}"), ("divergences", "{}"), ("max R-hat", "{:.4f}"),
    ("other processes' CPU (core-s)", "{:.0f}"),
]
KEYS = ["method", "layout", "compile_s", "sampling_s", "time_to_first_result_s", "min_ess_bulk",
        "ess_per_s", "mean_leapfrog_steps", "divergences", "max_r_hat", "other_cpu_s"]


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(results):
    rows = [[fmt.format(r[key]) for (_, fmt), key in zip(COLUMNS, KEYS)] for r in results]
    return markdown_table([name for name, _ in COLUMNS], rows)


def medians_table(results):
    headers = ["parameter", "truth"] + [r["method"] for r in results]
    rows = [[p, f"{EPOCH_CHINCHILLA[p]:.4g}"] + [f"{r['posterior_median'][p]:.4g}" for r in results]
            for p in PARAMS]
    return markdown_table(headers, rows)


def report(record):
    info, settings, results = record["machine"], record["settings"], record["results"]
    ours, naive = results[0], results[1]
    lines = [
        f"# Sampler benchmark ({info['backend']}, {info['date']})",
        "",
        f"Data: `simulate(jax.random.key({DATA_KEY}), num_runs={NUM_RUNS})`, same Runs for every "
        f"method. NUTS: {settings['num_chains']} chains x {settings['num_warmup']} warmup x "
        f"{settings['num_samples']} draws. Host devices: {info['host_devices']} "
        f"(XLA_FLAGS=`{info['xla_flags']}`) on {info['usable_cpus']} usable CPU core(s).",
        "",
        results_table(results),
        "",
        f"* ESS/s ratio, ours (auto) / naive: **{ours['ess_per_s'] / naive['ess_per_s']:.1f}x**; "
        f"time to first result: ours {ours['time_to_first_result_s']:.1f} s vs naive "
        f"{naive['time_to_first_result_s']:.1f} s.",
        f"* Ours: compile = first fit call − second call (second call: "
        f"{ours['traces_second_call']} retrace(s)); both calls include building the ArviZ "
        f"posterior and the diagnostics gate.",
        f"* Naive: {naive['compile_note']}.",
        "* ESS and R-hat over A, B, alpha, beta, E (naive log-space draws exponentiated first).",
        "* Each method's own defaults: target_accept " + ", ".join(
            f"{r['method']} {r['target_accept']}" for r in results) + "; mass matrix " + ", ".join(
            f"{r['method']} {r['mass_matrix']}" for r in results) + ".",
        "",
        "Posterior medians (sanity check: the models share priors and likelihood):",
        "",
        medians_table(results),
        "",
        f"Machine: {info['platform']}, {info['processor']}, cpu_count={info['cpu_count']}, "
        f"Python {info['python']}, jax {info['jax']}, numpyro {info['numpyro']}, "
        f"arviz {info['arviz']}, bayes_scaling {info['bayes_scaling']} (git "
        f"{info['git_commit']}, modified: {', '.join(info['git_modified'] or []) or 'none'}).",
        "CPU seconds during each method (this process / other processes; wall): " + ", ".join(
            f"{r['method']} {r['cpu']['cpu_s_self']:.0f} / {r['cpu']['cpu_s_other_processes']:.0f}"
            f" ({r['cpu']['wall_s']:.0f} s)" for r in results if r["cpu"])
        + f". The machine has {info['usable_cpus']} usable core(s); CPU taken by other processes "
          f"inflates the timings.",
    ]
    ratios = [f"{r['method']} {r['ess_per_s'] / ours['ess_per_s']:.2f}" for r in results[1:]]
    lines += ["", "ESS/s relative to ours (auto): " + ", ".join(ratios) + "."]
    if record.get("huber_bootstrap"):
        h = record["huber_bootstrap"]
        lines += [f"Huber + bootstrap (Hoffmann's 4,500-start grid, 4,000 resamples; the Epoch "
                  f"AI method): {h['second_call_s']:.1f} s to a 90% interval once compiled, "
                  f"{h['first_call_s']:.1f} s the first time (ours: "
                  f"{ours['time_to_first_result_s']:.1f} s to a posterior, first time)."]
    for name, why in record.get("skipped", {}).items():
        lines.append(f"Not run: {name} ({why}).")
    warned = [f"* {r['method']}: {m}" for r in results for m in r.get("gate_warnings", [])]
    if warned:
        lines += ["", "Diagnostics-gate warnings:", ""] + warned
    return "\n".join(lines) + "\n"


def write_outputs(record, text, out_dir, quick):
    os.makedirs(out_dir, exist_ok=True)
    stem = f"bench_sampler_{record['machine']['backend']}{'_quick' if quick else ''}"
    paths = [os.path.join(out_dir, stem + ext) for ext in (".json", ".md")]
    with open(paths[0], "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, default=float)
        handle.write("\n")
    with open(paths[1], "w", encoding="utf-8") as handle:
        handle.write(text)
    return paths


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 chains x 200 x 200 smoke test")
    parser.add_argument("--baselines", default="BlackJAX,PyMC,nutpie,huber",
                        help="other methods to run beside ours and naive NumPyro (those not "
                             "installed are reported as skipped; see baselines.py)")
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "results"),
                        help="where to write the JSON and markdown (default: benchmarks/results)")
    return parser.parse_args(argv)


def log(message):
    print(message, file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(argv)
    settings = sampler_settings(args.quick)
    runs = simulate(jax.random.key(DATA_KEY), num_runs=NUM_RUNS)
    machine = machine_info()  # before the runs: the package may be edited while they go
    log(f"{machine['host_devices']} host devices; settings (chains, warmup, draws) = {settings}")
    benches = [("ours (auto)", lambda: bench_ours(runs, settings, "auto")),
               ("naive NumPyro", lambda: bench_naive(runs, settings)),
               ("ours (vectorized)", lambda: bench_ours(runs, settings, "vectorized"))]
    benches += [(name, lambda name=name: bench_baseline(name, runs, settings))
                for name in args.baselines.split(",") if name and name != "huber"]
    results, skipped = [], {}
    for name, bench in benches:
        log(f"running {name} ...")
        cpu_before, start = cpu_seconds(), time.perf_counter()
        try:
            result = bench()
        except ImportError as err:  # an optional baseline that is not installed
            skipped[name] = str(err)
            log(f"  skipped: {err}")
            continue
        wall_s = time.perf_counter() - start
        result["cpu"] = contention(cpu_before, cpu_seconds(), wall_s)
        result["other_cpu_s"] = result["cpu"].get("cpu_s_other_processes", float("nan"))
        results.append({"method": name, **result})
        log(f"  done in {wall_s:.1f} s; {result['cpu']}")
    huber = bench_huber(runs) if "huber" in args.baselines.split(",") else None
    record = {
        "machine": machine, "skipped": skipped, "huber_bootstrap": huber,
        "settings": dict(zip(("num_chains", "num_warmup", "num_samples"), settings),
                         num_runs=NUM_RUNS, data=f"simulate(jax.random.key({DATA_KEY}))"),
        "results": results,
        "ess_per_s_ratio_ours_over_naive": results[0]["ess_per_s"] / results[1]["ess_per_s"],
    }
    text = report(record)
    print(text)
    for path in write_outputs(record, text, args.out_dir, args.quick):
        log(f"wrote {path}")
    return 0 if all(math.isfinite(r["ess_per_s"]) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
