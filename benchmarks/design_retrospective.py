"""Retrospective on real sweeps: does choosing runs with `bayes_scaling.design` beat simpler
rules, when the runs to choose from are ones that were actually trained?

Pool-based, per set (Epoch's Chinchilla points, datablations' single-epoch runs, Porian's
configurations whose budgets are separate runs):

- **targets**: the runs within a factor `TARGET_BAND` of the set's largest compute, and at
  least the `MIN_TARGETS` largest (what a lab wants to forecast: its biggest runs);
- **pool**: the runs at least `GAP` times cheaper than the smallest target (what it could have
  trained first); the cheapest `SEED_SHARE` of them (at least `MIN_SEED` runs) are trained at
  the start, the rest are the candidates;
- **budget**: `BUDGET_SHARE` of the candidates' total compute.

Each strategy then adds candidates one at a time, each run "trained" by revealing its real
loss, and the sweep is refitted with the defaults (`bayes_scaling.fit`, its internal backtest
included) after every run, until no candidate fits what is left of the budget:

- **design**: sequential; before each run, `rank_candidates` (observed band, the fit's own
  discrepancy, 64 simulated outcomes) of the affordable candidates aimed at the largest target
  run, and the best gain per FLOP is trained (when no gain is clear of its Monte-Carlo error the
  best is still trained, so that every strategy spends the same budget; the table counts those
  steps);
- **design, largest gain**: the same ranking, but the affordable candidate with the largest
  expected gain is trained, whatever it costs (gain per FLOP is myopic when the whole budget
  will be spent anyway);
- **design, decision, largest gain**: the same, ranked by the fall of the expected regret of
  the compute-optimal allocation at the largest target's compute (``objective="decision"``),
  the largest gain trained;
- **random**: an affordable candidate uniformly at random (`RANDOM_REPS` repetitions);
- **cheapest first**; **largest first** (the most expensive affordable candidate: the rule
  "go as close to the target as you can").

After each refit the targets are forecast (`forecast`, default discrepancy) and scored against
their real losses: median |relative error| of the median, median relative width of the 90%
interval of the observed loss, and the share of targets it covers. Scores are plotted against
the compute spent (docs/design_retrospective.png).

Run: ``python benchmarks/design_retrospective.py --data-dir ../shared/datasets`` (about 50 min on
2 cores; writes results/design_retrospective_cpu.{json,md} and the figure; ``--from-json`` renders
an earlier run's tables and figure again).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import warnings

os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count()}")

import jax  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.design import rank_candidates, target_point  # noqa: E402
from bayes_scaling.errors import ConvergenceWarning  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from validation_sets import validation_sets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SETS = ("chinchilla", "datablations:unique", "porian:rw|base|short|chinchilla|standard|val",
        "porian:owt2|base|short|chinchilla|standard|val")
TARGET_BAND = 2.0    # targets: compute within this factor of the largest...
MIN_TARGETS = 3      # ...and at least this many of the largest
GAP = 10.0           # the pool lies at least this factor below the smallest target
SEED_SHARE = 0.3     # the cheapest share of the pool trained at the start...
MIN_SEED = 12        # ...and at least this many runs
BUDGET_SHARE = 0.25  # the budget: this share of the candidates' total compute
RANDOM_REPS = 3
MAX_STEPS = 40       # a strategy stops after this many runs even with budget left (said so)
STRATEGIES = ("design", "design, largest gain", "random", "cheapest first", "largest first",
              "design, decision, largest gain")
CHECKPOINTS = (0.25, 0.5, 1.0)  # shares of the budget at which the strategies are compared


def split(runs):
    """Indices of the targets, the seed and the candidates of one set (module docstring)."""
    C = runs.C
    targets = np.flatnonzero(C >= min(C.max() / TARGET_BAND, np.sort(C)[-MIN_TARGETS]))
    pool = np.flatnonzero(C <= C[targets].min() / GAP)
    pool = pool[np.argsort(C[pool], kind="stable")]
    seed_count = max(MIN_SEED, int(round(SEED_SHARE * len(pool))))
    return targets, pool[:seed_count], pool[seed_count:]


def score(post, runs, targets, key):
    """Median |relative error|, median relative 90% width and coverage of the targets."""
    with warnings.catch_warnings():  # a fit that failed the gate is counted in `gate_ok`
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = bs.forecast(post, N=runs.N[targets], D=runs.D[targets], key=key, probs=(0.9,))
    observed = table[table["quantity"] == "observed"]
    truth = runs.loss[targets]
    median = observed["median"].to_numpy()
    lo, hi = observed["lo_90"].to_numpy(), observed["hi_90"].to_numpy()
    return {"error": float(np.median(np.abs(median / truth - 1))),
            "width": float(np.median((hi - lo) / median)),
            "coverage": float(np.mean((lo <= truth) & (truth <= hi)))}


def fit(runs, chosen, key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return bs.fit(runs.subset(np.isin(np.arange(len(runs)), chosen)), key=key)


def pick(strategy, post, runs, open_, target, key, rng):
    """The candidate (an index into ``runs``) the strategy trains next, and whether the
    design's gain was clear of its Monte-Carlo error (None for the other strategies)."""
    C = runs.C[open_]
    if strategy == "cheapest first":
        return open_[np.argmin(C)], None
    if strategy == "largest first":
        return open_[np.argmax(C)], None
    if strategy == "random":
        return open_[rng.integers(len(open_))], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = rank_candidates(post, {"N": runs.N[open_], "D": runs.D[open_]}, target=target,
                                key=key,
                                objective="decision" if "decision" in strategy else "width")
    best = table.iloc[0] if strategy == "design" else table.loc[table["gain"].idxmax()]
    match = np.argmin(np.abs(np.log(runs.N[open_] / best["N"]))
                      + np.abs(np.log(runs.D[open_] / best["D"])))
    return open_[match], bool(best["gain"] > 2 * best["gain_se"])


def play(strategy, runs, targets, seed, candidates, key, rng):
    """One strategy's history: a row per refit (the seed's first)."""
    budget = BUDGET_SHARE * runs.C[candidates].sum()
    big = targets[np.argmax(runs.C[targets])]
    chosen, spent, rows, clear = list(seed), 0.0, [], []
    while True:
        step = len(rows)
        began = time.perf_counter()
        post = fit(runs, chosen, jax.random.fold_in(key, 2 * step))
        row = {"strategy": strategy, "step": step, "runs_added": step, "spent": spent,
               "spent_share": spent / budget, "gate_ok": bool(post.check().ok),
               **score(post, runs, targets, jax.random.fold_in(key, 2 * step + 1))}
        open_ = np.array([i for i in candidates if i not in chosen
                          and runs.C[i] <= (budget - spent) * (1 + 1e-9)], int)
        if not len(open_) or step >= MAX_STEPS:
            row["stopped"] = ("budget spent" if not len(open_) else
                              f"{MAX_STEPS} runs added, {budget - spent:.3g} FLOPs left")
            row["seconds"] = time.perf_counter() - began
            rows.append(row)
            return rows, clear
        target = target_point(post, N=runs.N[big], D=runs.D[big])
        nxt, significant = pick(strategy, post, runs, open_, target,
                                jax.random.fold_in(key, 10_000 + step), rng)
        if significant is not None:
            clear.append(significant)
        row["next_N"], row["next_D"], row["next_C"] = (float(runs.N[nxt]), float(runs.D[nxt]),
                                                       float(runs.C[nxt]))
        row["seconds"] = time.perf_counter() - began
        rows.append(row)
        chosen.append(nxt)
        spent += float(runs.C[nxt])


def run_set(vs, key):
    runs = vs.runs
    targets, seed, candidates = split(runs)
    info = {"set": vs.name, "runs": len(runs), "targets": len(targets), "seed": len(seed),
            "candidates": len(candidates),
            "target_C": [float(runs.C[targets].min()), float(runs.C[targets].max())],
            "seed_max_C": float(runs.C[seed].max()),
            "candidates_C": [float(runs.C[candidates].min()), float(runs.C[candidates].max())],
            "budget": float(BUDGET_SHARE * runs.C[candidates].sum())}
    print(f"{vs.name}: {info}", flush=True)
    histories, clear = [], {}
    for s, strategy in enumerate(STRATEGIES):
        for rep in range(RANDOM_REPS if strategy == "random" else 1):
            rng = np.random.default_rng(rep)
            rows, significant = play(strategy, runs, targets, seed, candidates,
                                     jax.random.fold_in(key, 100 * s + rep), rng)
            for row in rows:
                row["rep"] = rep
            histories += rows
            if strategy == "design":
                clear = {"steps": len(significant), "clear": int(sum(significant))}
            last = rows[-1]
            print(f"  {strategy} rep {rep}: {last['runs_added']} runs, "
                  f"{last['spent_share']:.0%} of budget, error {last['error']:.4f}, "
                  f"width {last['width']:.4f}, coverage {last['coverage']:.2f}", flush=True)
    info["design_gain_clear"] = clear
    return info, pd.DataFrame(histories)


def at_checkpoints(history):
    """Scores at equal compute: for each strategy and share of the budget in `CHECKPOINTS`, the
    scores of its last refit that had spent no more than that share (what a lab stopping
    there would have), averaged over repetitions (random choice: with the standard error).
    A strategy that stopped (`MAX_STEPS`) before spending a share has no score there."""
    rows = []
    for (name, strategy), group in history.groupby(["set", "strategy"], sort=False):
        for share in CHECKPOINTS:
            reached = []
            for _, rep in group.groupby("rep"):
                # the share a repetition could spend: all of it once no candidate was affordable
                ends = 1.0 if rep["stopped"].iloc[-1] == "budget spent" else \
                    rep["spent_share"].iloc[-1]
                if ends >= share - 1e-9:
                    reached.append(rep[rep["spent_share"] <= share + 1e-9].iloc[-1])
            row = {"set": name, "strategy": strategy, "budget_share": share,
                   "repetitions": len(reached)}
            for what in ("error", "width", "coverage"):
                values = np.array([r[what] for r in reached])
                row[what] = values.mean() if len(values) else np.nan
                row[f"{what}_se"] = (values.std(ddof=1) / np.sqrt(len(values))
                                     if len(values) > 1 else np.nan)
            row["runs_added"] = np.mean([r["runs_added"] for r in reached]) if reached else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def plot(histories, path):
    sets = list(dict.fromkeys(histories["set"]))
    fig, axes = plt.subplots(2, len(sets), figsize=(4 * len(sets), 6.5), squeeze=False)
    colours = dict(zip(STRATEGIES, ("C3", "C1", "C7", "C0", "C2", "C4")))
    for j, name in enumerate(sets):
        h = histories[histories["set"] == name]
        for strategy in STRATEGIES:
            for rep, g in h[h["strategy"] == strategy].groupby("rep"):
                for i, what in enumerate(("error", "width")):
                    axes[i, j].plot(g["spent_share"], g[what], marker="o", ms=3,
                                    color=colours[strategy], alpha=1.0 if rep == 0 else 0.45,
                                    label=strategy if rep == 0 else None)
        axes[0, j].set_title(name if len(name) < 30 else name.replace("|", "|\n", 1), fontsize=9)
        axes[1, j].set_xlabel("share of the budget spent")
    axes[0, 0].set_ylabel("target median |relative error|")
    axes[1, 0].set_ylabel("target 90% width / median")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Pool-based retrospective: forecasts of each set's largest runs as runs are "
                 "added", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(frame, digits=3):
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.{digits}g}" if isinstance(v, float)
                                       else str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def measure(data_dir, sets):
    """Every set's splits and every strategy's history, with the run's metadata."""
    start = time.perf_counter()
    infos, histories = [], []
    for i, vs in enumerate(validation_sets(data_dir, include=sets)):
        info, history = run_set(vs, jax.random.fold_in(jax.random.key(2026), i))
        history.insert(0, "set", vs.name)
        infos.append(info)
        histories.append(history)
    meta = {"commit": git_commit(), "when": datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
        "cpu_count": os.cpu_count(), "backend": jax.default_backend(),
        "seconds": time.perf_counter() - start,
        "settings": {"target_band": TARGET_BAND, "min_targets": MIN_TARGETS, "gap": GAP,
                     "seed_share": SEED_SHARE, "min_seed": MIN_SEED,
                     "budget_share": BUDGET_SHARE, "random_reps": RANDOM_REPS,
                     "max_steps": MAX_STEPS}}
    return {"meta": meta, "sets": infos,
            "history": pd.concat(histories, ignore_index=True).to_dict("records")}


def git_commit():
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()


def write(result, out, figure):
    """The JSON, the markdown table and the figure of a `measure` result."""
    meta, infos = result["meta"], result["sets"]
    history = pd.DataFrame(result["history"])
    table = at_checkpoints(history)
    plot(history, figure)
    stem = os.path.join(out, f"design_retrospective_{meta['backend']}")
    os.makedirs(out, exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump({"meta": meta, "sets": infos, "checkpoints": table.to_dict("records"),
                   "history": result["history"]}, f, indent=1, default=float)
    splits = pd.DataFrame([{k: (f"{v[0]:.3g} - {v[1]:.3g}" if isinstance(v, list) else v)
                            for k, v in i.items() if k != "design_gain_clear"} for i in infos])
    clear = "; ".join(f"{i['set']}: {i['design_gain_clear']['clear']} of "
                      f"{i['design_gain_clear']['steps']}" for i in infos)
    rendered = git_commit()
    settings = meta["settings"]
    text = "\n\n".join([
        f"# Which run next, in retrospect: pool-based choice among real runs "
        f"({meta['backend']})",
        f"Measured by `python benchmarks/design_retrospective.py` at commit {meta['commit']} on "
        f"{meta['when']} ({meta['machine']}, {meta['cpu_count']} cores) in "
        f"{meta['seconds'] / 60:.1f} min" + ("" if rendered == meta["commit"] else
                                            f"; tables rendered from its JSON at {rendered}")
        + f". Protocol in the script's docstring: targets within {settings['target_band']:g}x "
        f"of each set's largest compute (at least the {settings['min_targets']} largest); a pool "
        f"at least {settings['gap']:g}x cheaper, its cheapest {settings['seed_share']:.0%} (at "
        f"least {settings['min_seed']}) trained first; a budget of "
        f"{settings['budget_share']:.0%} of the other candidates' compute; a default refit "
        f"after every run, at most {settings['max_steps']} runs per strategy.",
        "## The splits", markdown(splits),
        "## Scores of the targets' forecasts at equal compute",
        "At each share of the budget, the last refit of each strategy that had spent no more "
        "than that (random choice: mean of its repetitions, `_se` the standard error of that "
        "mean; NaN: the strategy stopped at its run limit before spending that much). error: "
        "median |relative error| of the targets' median forecasts; width: median 90% width "
        "over the median; coverage: share of targets inside their 90% interval.",
        markdown(table), f"Design steps whose best gain was clear of 2 Monte-Carlo standard "
                         f"errors: {clear}.",
        "![error and width against compute spent](../../docs/design_retrospective.png)"])
    with open(stem + ".md", "w") as f:
        f.write(text + "\n")
    print(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "datasets"))
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--figure", default=os.path.join(ROOT, "docs",
                                                         "design_retrospective.png"))
    parser.add_argument("--from-json", metavar="PATH",
                        help="render the tables and figure of an earlier run's JSON again")
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            result = json.load(f)
    else:
        result = measure(args.data_dir, args.sets)
    write(result, args.out, args.figure)


if __name__ == "__main__":
    main()
