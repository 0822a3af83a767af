"""Do the default settings converge on real data? Every shared real loss set and emergence
set, fitted as a user would (`bayes_scaling.fit` and `fit_emergence` with defaults), with and
without the automatic remedies.

For each set of ``benchmarks/validation_sets.py`` (Epoch's Chinchilla points, datablations'
single-epoch runs, each of Porian et al.'s 15 configurations, ColPret's GPT-3 and OPT ladders)
and each key, it fits once with the default sampler (4 chains x 1000 + 1000, target_accept 0.9)
and, when that fails the diagnostics gate, lets `inference.remedy` try its remedies within the
default time budget. It lists per set: the first fit's gate result and problems, the remedies
tried and the final gate, and the wall time of both.

The emergence sets are Pythia's final-checkpoint zero-shot accuracies (7 tasks, both suites)
and the observational-scaling BIG-bench "emergent" tasks (7 tasks), each fitted as one batch by
`fit_emergence` with its defaults (4 chains x 1000 + 1000 at acceptance 0.99, remedies within
`emergence.fit.REMEDY_BUDGET_S`); per task: whether the first batch passed, the remedies, the
final gate. Run from the repository root::

    python benchmarks/bench_defaults.py [--keys 2] [--data-dir ../shared/datasets]

writes ``benchmarks/results/bench_defaults_<backend>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    # One JAX CPU device per core, as the CLI makes: chains run in parallel.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                               f"device_count={os.cpu_count() or 1}").strip()
sys.path.insert(0, HERE)

import jax  # noqa: E402  (after XLA_FLAGS)

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.emergence import fit as emergence_fit  # noqa: E402
from bayes_scaling.emergence.data import (load_scores, obsscaling_emergence_frame,  # noqa: E402
                                          pythia_final_frame)
from bayes_scaling.inference.remedy import REMEDY_BUDGET_S, fit_with_remedies  # noqa: E402
from bayes_scaling.inference.sampler import SamplerConfig, run_nuts  # noqa: E402
from bayes_scaling.laws.priors import default_priors  # noqa: E402
from bayes_scaling.laws.registry import get_law  # noqa: E402
from validation_sets import validation_sets  # noqa: E402


def fit_set(runs, key):
    """The first fit's gate, then the remedied fit's: one row of the table."""
    priors = default_priors(get_law("chinchilla"), runs, "student_t")
    attempts = []

    def fit_once(config, fit_key):
        began = time.perf_counter()
        post = run_nuts("chinchilla", priors, runs, key=fit_key, config=config, warn=False)
        attempts.append((post.check(), time.perf_counter() - began))
        return post

    began = time.perf_counter()
    post, notes = fit_with_remedies(fit_once, SamplerConfig(progress_bar=False), key)
    first, first_s = attempts[0]
    return {"first_ok": bool(first.ok), "first_problems": list(first.problems),
            "first_s": round(first_s, 2), "remedies": list(notes), "fits": len(attempts),
            "final_ok": bool(post.check().ok), "total_s": round(time.perf_counter() - began, 2)}


EMERGENCE_SETS = {"pythia": pythia_final_frame, "obsscaling": obsscaling_emergence_frame}


def fit_tasks(scores, key):
    """One emergence batch with the defaults: a row per task (first gate, remedies, final)."""
    began = time.perf_counter()
    fit = emergence_fit.fit_emergence(scores, key=key)
    seconds = time.perf_counter() - began
    table = fit.check().set_index("task")
    return [{"task": task, "first_ok": not fit.remedies.get(task),
             "remedies": list(fit.remedies.get(task, ())),
             "final_ok": bool(table.loc[task, "ok"]),
             "problems": table.loc[task, "problems"], "batch_s": round(seconds, 1)}
            for task in fit.tasks]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=2)
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "datasets"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    warnings.simplefilter("ignore", bs.ConvergenceWarning)
    rows = []
    for vset in validation_sets(args.data_dir):
        for k in range(args.keys):
            row = {"set": vset.name, "runs": len(vset.runs), "key": k,
                   **fit_set(vset.runs, jax.random.key(k))}
            rows.append(row)
            print(f"{row['set']:55s} key {k}: first {'ok' if row['first_ok'] else 'FAIL'} "
                  f"({row['first_s']:.1f} s) -> {'ok' if row['final_ok'] else 'FAIL'} after "
                  f"{row['fits'] - 1} remedies ({row['total_s']:.1f} s)", flush=True)
    tasks = []
    for name, frame in EMERGENCE_SETS.items():
        scores = load_scores(frame(args.data_dir))
        for k in range(args.keys):
            for row in fit_tasks(scores, jax.random.key(k)):
                tasks.append({"set": name, "key": k, **row})
            batch = [t for t in tasks if t["set"] == name and t["key"] == k]
            print(f"emergence {name} key {k}: {sum(t['first_ok'] for t in batch)}/{len(batch)} "
                  f"tasks passed at first, {sum(t['final_ok'] for t in batch)} after remedies "
                  f"({batch[0]['batch_s']:.0f} s)", flush=True)
    write(rows, tasks, args)


def write(rows, tasks, args):
    backend = jax.default_backend()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()
    first, final = sum(r["first_ok"] for r in rows), sum(r["final_ok"] for r in rows)
    remedied = [r for r in rows if not r["first_ok"]]
    extra = sum(r["total_s"] - r["first_s"] for r in remedied)
    summary = {"fits": len(rows), "first_passed": first, "final_passed": final,
               "remedied_fits": len(remedied), "remedy_seconds": round(extra, 1),
               "budget_s": REMEDY_BUDGET_S, "backend": backend, "commit": commit,
               "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "loadavg": os.getloadavg(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.makedirs(args.out, exist_ok=True)
    summary["emergence"] = {"tasks": len(tasks), "budget_s": emergence_fit.REMEDY_BUDGET_S,
                            "first_passed": sum(t["first_ok"] for t in tasks),
                            "final_passed": sum(t["final_ok"] for t in tasks)}
    with open(os.path.join(args.out, f"bench_defaults_{backend}.json"), "w") as handle:
        json.dump({"summary": summary, "rows": rows, "emergence": tasks}, handle, indent=1)
    lines = [f"# Default settings on every shared real loss and emergence set ({backend})", "",
             f"Generated by `python benchmarks/bench_defaults.py --keys {args.keys}` at commit "
             f"{commit} on {summary['date']} ({summary['machine']}, load average "
             f"{', '.join(f'{x:.1f}' for x in summary['loadavg'])} at the end). Each set is "
             f"fitted with `bayes_scaling.fit`'s defaults; a fit that fails the diagnostics gate "
             f"gets the automatic remedies (`inference.remedy`, budget {REMEDY_BUDGET_S:g} s).",
             "", f"**Gate passed: {first}/{len(rows)} fits at the first try, {final}/{len(rows)} "
             f"after remedies** ({len(remedied)} fits remedied, {extra:.0f} s of refits in all).",
             "", "| set | runs | key | first fit | first problems | remedies tried | final | "
             "time first / total (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r["set"].replace("|", "\\|")  # Porian's configurations are named a|b|c
        lines.append(f"| {name} | {r['runs']} | {r['key']} | "
                     f"{'passed' if r['first_ok'] else 'failed'} | "
                     f"{'; '.join(r['first_problems']) or '-'} | "
                     f"{'<br>'.join(r['remedies']) or '-'} | "
                     f"{'passed' if r['final_ok'] else 'FAILED'} | "
                     f"{r['first_s']:.1f} / {r['total_s']:.1f} |")
    em = summary["emergence"]
    lines += ["", "## Emergence tasks", "",
              f"Each set fitted as one batch by `fit_emergence` with its defaults; the tasks that "
              f"fail the gate get the remedies (budget {em['budget_s']:g} s for the batch).", "",
              f"**Gate passed: {em['first_passed']}/{em['tasks']} task fits at the first try, "
              f"{em['final_passed']}/{em['tasks']} after remedies.**", "",
              "| set | key | task | first batch | remedies tried | final | problems left | "
              "batch time (s) |", "|---|---|---|---|---|---|---|---|"]
    for t in tasks:
        lines.append(f"| {t['set']} | {t['key']} | {t['task']} | "
                     f"{'passed' if t['first_ok'] else 'failed'} | "
                     f"{'<br>'.join(t['remedies']) or '-'} | "
                     f"{'passed' if t['final_ok'] else 'FAILED'} | {t['problems'] or '-'} | "
                     f"{t['batch_s']:.0f} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, f"bench_defaults_{backend}.md"), "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
