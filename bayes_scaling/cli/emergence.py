"""The ``emergence`` command: thresholds of downstream abilities."""

from __future__ import annotations

import dataclasses

from .output import EXIT_GATE_FAILED, emit_table, records, to_stderr
from .options import (add_column_flags, add_device_flags, add_output_flags, add_remedy_flags,
                      add_unit_flags, devices_line, join_filters, parse_range, units_from_args)

# emergence.fit.REMEDY_BUDGET_S, here as a number: building the parser imports no JAX
REMEDY_BUDGET_S = 300


def fmt_scale(value):
    import numpy as np

    return "beyond range" if np.isinf(value) else f"{value:.3g}"


def describe_scores(scores, args):
    """Which columns were read as what (as 'fit' says for runs), the constants given instead of
    columns, and the rows dropped by --where."""
    columns, k = scores.columns, scores.flops_per_param_token
    order = ("N", "D", "C", "score", "task", "chance", "items", "group")
    mapped = ", ".join(f"{name} <- {columns[name]!r}" for name in order if name in columns)
    notes = []
    if "D" in columns and "C" not in columns:
        notes.append(f"C derived as {k:g}*N*D")
    if "N" not in columns and "D" in columns:
        notes.append(f"N derived as C/({k:g}*D)")
    if "task" not in columns:
        notes.append(f"no task column: one task, named {scores.tasks[0]!r}")
    for name, value, flag in (("chance", args.chance, "--chance"), ("items", args.items,
                                                                      "--items")):
        if name not in columns:
            notes.append(f"{name} = {value} for every task ({flag})" if value is not None
                         else f"{name} unknown (no binomial evaluation noise)")
    to_stderr(f"emergence: columns: {mapped}" + "".join(f"; {note}" for note in notes))
    for note in (*scores.notes, *scores.dropped):
        to_stderr(f"emergence: {note}")


def cmd_emergence(args):
    from ..data import parse_points
    from ..emergence.data import load_scores

    scores = load_scores(args.scores, params=args.params_col, tokens=args.tokens_col,
                         flops=args.flops_col,
                         score=args.score_col, task=args.task_col,
                         chance=args.chance_col or args.chance,
                         items=args.items_col or args.items, group=args.group_col,
                         ceiling=args.ceiling, flops_per_param_token=args.flops_per_param_token,
                         where=join_filters(args.where), units=units_from_args(args),
                         accept_units=args.accept_units)
    describe_scores(scores, args)
    # The file's mistakes are reported above, before the second it takes to import JAX.
    import jax

    from ..emergence.fit import DEFAULT_CONFIG, check_threshold_options, fit_emergence
    from ..inference.sampler import batch_strategy

    check_threshold_options(args.level, args.margin)  # before the fit, not after it
    at = parse_points(args.at, tokens=False)[0] if args.at else []
    scale_range = parse_range(args.range)
    loss_post = None
    if args.mean == "loss-linked":
        if not args.loss_fit:
            raise ValueError("--mean loss-linked needs --loss-fit FIT.nc (from 'bayes-scaling fit')")
        from ..posterior import Posterior

        loss_post = Posterior.load(args.loss_fit)
    given = dict(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.samples,
                 target_accept=args.target_accept, max_tree_depth=args.max_tree_depth)
    config = dataclasses.replace(DEFAULT_CONFIG,
                                 **{k: v for k, v in given.items() if v is not None})
    per_device, devices = batch_strategy("auto")
    tasks = scores.tasks
    to_stderr(f"emergence: {len(tasks)} task(s), {len(scores)} scores, {args.mean} mean in log "
         f"{args.scale}; one batch, {per_device} on {devices_line()}")
    budget = {} if args.remedy_budget is None else {"remedy_budget_s": args.remedy_budget}
    fit = fit_emergence(scores, key=jax.random.key(args.seed), mean=args.mean, scale=args.scale,
                        steps=args.steps, loss_posterior=loss_post,
                        tokens_per_param=args.tokens_per_param, config=config,
                        remedy=not args.no_remedy, **budget)
    for task, notes in fit.remedies.items():
        for note in notes:
            to_stderr(f"remedy: {task}: {note}")
    report = fit.thresholds(level=args.level, margin=args.margin, scale_range=scale_range,
                            at=at)
    table, x = report.table, args.scale
    diagnostics = fit.check()
    if args.json or args.csv:
        emit_table(table, args, extra={
            "mean": args.mean, "scale": x, "level": args.level, "interval": 0.9,
            "diagnostics": records(diagnostics)})
    else:
        shown = table.assign(**{
            f"{x}*_median": [fmt_scale(v) for v in table[f"{x}_star_median"]],
            f"{x}*_90%": [f"{fmt_scale(lo)} - {fmt_scale(hi)}" for lo, hi in
                          zip(table[f"{x}_star_lo"], table[f"{x}_star_hi"])],
            "P(emerged by largest)": table["p_emerged_at_largest"],
            "P(beyond range)": table["p_beyond_range"],
            "diagnostics": ["ok" if ok else "FAILED" for ok in table["diagnostics_ok"]]})
        columns = ["task", "chance", "margin", f"{x}*_median", f"{x}*_90%",
                   "P(emerged by largest)", "P(beyond range)"] + [
            c for c in table.columns if c.startswith("p_emerged_by_")] + ["diagnostics"]
        emit_table(shown[columns], args, title=(
            f"Emergence threshold {x}*: smallest {x} whose central {args.level:.0%} predictive "
            f"score interval lies above chance + margin (posterior median, 90% interval; "
            f"range {table['range_lo'].min():.3g} - {table['range_hi'].max():.3g})"))
        for _, row in table[table["open_ended"]].iterrows():
            print(f"note: {row['task']}: {row['p_beyond_range']:.0%} of the posterior does not "
                  f"emerge below {row['range_hi']:.3g}; its interval is open-ended")
        for _, row in table[table["p_at_start"] > 0.05].iterrows():
            print(f"note: {row['task']}: {row['p_at_start']:.0%} of the posterior has emerged "
                  f"already at the range's start, {row['range_lo']:.3g}: {x}* is at most that "
                  f"(give a lower --range to look further down)")
    failed = diagnostics[~diagnostics["ok"]]
    if len(failed):
        bar = "!" * 78
        to_stderr(f"{bar}\nWARNING: {len(failed)} of {len(tasks)} task fits did not pass the "
             f"diagnostics gate; do not trust their thresholds as they are:")
        for _, row in failed.iterrows():
            to_stderr(f"  {row['task']}: {row['problems']}")
        to_stderr(bar)
    return EXIT_GATE_FAILED if len(failed) else 0


def add_commands(sub):
    """The parsers of 'emergence' (``sub``: the subparsers of `main.build_parser`)."""
    em = sub.add_parser("emergence", help="emergence thresholds of downstream tasks: the scale "
                                          "at which a task's score clears chance, with a posterior")
    em.add_argument("scores", help="CSV with one row per (model, task) and its score in [0, 1]")
    model = em.add_argument_group("model")
    model.add_argument("--chance", help="chance level for every task (when there is no chance column)")
    model.add_argument("--items", help="evaluation items per score (binomial noise; default unknown)")
    model.add_argument("--mean", default="sigmoid", choices=("sigmoid", "multi-step", "loss-linked"),
                       help="shape of the mean score (default sigmoid)")
    model.add_argument("--scale", default="N", choices=("N", "C"),
                       help="fit against log parameters N or log compute C (default N)")
    model.add_argument("--steps", type=float, help="multi-step: fix k (default fitted)")
    model.add_argument("--loss-fit", help="loss-linked: a loss-law fit (.nc) from 'fit'")
    model.add_argument("--tokens-per-param", type=float,
                       help="tokens per parameter of the models (loss-linked: default 20); also "
                            "reports thresholds in compute, C = k*N*rule*N")
    model.add_argument("--ceiling", type=float, default=1.0, help="largest possible score")
    threshold = em.add_argument_group("threshold")
    threshold.add_argument("--level", type=float, default=0.95,
                           help="central predictive interval that must clear chance + margin")
    threshold.add_argument("--margin", type=float, help="fraction of the way from chance to 1 "
                           "that counts as a gain (default 0.05; 0 = clear chance itself)")
    threshold.add_argument("--at", help="report P(emerged) at these scales, e.g. 70B,400B")
    threshold.add_argument("--range", help="scale range searched, LOW:HIGH (default: smallest "
                           "observed to 100x the largest)")
    columns = em.add_argument_group("columns (auto-detected when not given)")
    add_column_flags(columns, {"params": "parameter counts N", "tokens": "training tokens D",
                                "flops": "training FLOPs C", "group": "model families"})
    for flag, what in (("--score-col", "scores"), ("--task-col", "task names"),
                       ("--chance-col", "chance levels"), ("--items-col", "item counts")):
        columns.add_argument(flag, help=f"column of {what}")
    columns.add_argument("--flops-per-param-token", type=float, default=6.0)
    columns.add_argument("--where", action="append",
                         help="keep only matching rows, e.g. 'step == 143000 and metric == "
                              "acc' (columns of the data); a repeated --where must hold too; "
                              "the dropped lines are reported")
    add_unit_flags(em, loss=False)
    sampler = em.add_argument_group("sampler")
    # Defaults (None here) come from emergence.DEFAULT_CONFIG: 4 chains x (1000 + 1000),
    # target acceptance 0.99, tree depth 10.
    sampler.add_argument("--chains", type=int)
    sampler.add_argument("--warmup", type=int)
    sampler.add_argument("--samples", type=int, help="draws per chain")
    sampler.add_argument("--target-accept", type=float)
    sampler.add_argument("--max-tree-depth", type=int)
    sampler.add_argument("--seed", type=int, default=0)
    add_device_flags(sampler)
    add_remedy_flags(em, REMEDY_BUDGET_S, "emergence.fit.REMEDY_BUDGET_S", sweep_evidence=False)
    add_output_flags(em)
    em.set_defaults(func=cmd_emergence)
