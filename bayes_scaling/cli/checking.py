"""Commands that check a method: ``backtest``, ``sbc`` and ``compare``."""

from __future__ import annotations

from .output import (announce_gate, check_writable, describe_runs, diagnostics_dict, emit_table,
                     image_format, records, to_stderr)
from .options import (LIKELIHOOD_CHOICES, add_device_flags, add_fit_flags, add_output_flags,
                      add_runs_flags, add_sampler_flags, devices_line, parse_list,
                      priors_from_args, runs_from_args, sampler_config)


def backtest_figure(path, probs, result=None, table=None):
    """--plot: one backtest run by run, or a rolling one's error and coverage against the
    extrapolation distance; the 90% interval when asked for, else the widest."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from ..plots.backtest import plot_backtest, plot_rolling_backtest

    prob = 0.9 if 0.9 in probs else max(probs)
    if result is not None:
        figure = Figure(figsize=(8, 5.5), layout="constrained")
        plot_backtest(result, ax=figure.subplots(), prob=prob)
    else:
        figure = Figure(figsize=(12, 4.8), layout="constrained")
        error, coverage = figure.subplots(1, 2)
        plot_rolling_backtest(table, quantity="error", ax=error)
        plot_rolling_backtest(table, quantity="coverage", ax=coverage, prob=prob)
    figure.savefig(path, format=image_format(path), dpi=150)
    to_stderr(f"wrote {path}")


def cmd_backtest(args):
    import jax

    from ..validation.backtest import backtest, rolling_backtest

    if args.plot:  # before any work
        image_format(args.plot)
        check_writable(args.plot, args.force, other="--plot another path")
    runs, _ = runs_from_args(args)
    describe_runs(runs)
    compare = () if args.compare == "none" else (args.compare,)
    probs = parse_list(args.probs, "probs")
    options = dict(key=jax.random.key(args.seed), law=args.law, priors=priors_from_args(args),
                   likelihood=args.likelihood, config=sampler_config(args), compare=compare,
                   num_resamples=args.resamples, probs=probs, discrepancy=args.discrepancy)
    if args.rolling:
        if args.holdout_top is not None or args.cutoff_flops is not None:
            raise ValueError("--rolling picks its own cutoffs; drop --holdout-top/--cutoff-flops")
        table, results = rolling_backtest(runs, **options)
        extra = {"diagnostics": [diagnostics_dict(r.diagnostics) for r in results]}
        emit_table(table, args, extra=extra, title="Rolling backtest: one row per cutoff and "
                    "method (median_C_vs_train = how far the held-out runs lie beyond the fit)")
        if args.plot:
            backtest_figure(args.plot, probs, table=table)
        for result in results:
            announce_gate(result.diagnostics)
        return 0
    if args.holdout_top is None and args.cutoff_flops is None:
        args.holdout_top = 0.2
    result = backtest(runs, holdout_top=args.holdout_top, cutoff_flops=args.cutoff_flops,
                      **options)
    extra = {"cutoff_flops": result.cutoff_flops, "num_train": result.num_train,
             "discrepancy_kappa": result.kappa,
             "summary": records(result.summary),
             "diagnostics": diagnostics_dict(result.diagnostics)}
    title = (f"Backtest: fit on {result.num_train} runs with C < {result.cutoff_flops:.4g} FLOPs, "
             f"forecast {len(runs) - result.num_train} held-out runs")
    if args.json or args.csv:
        emit_table(result.runs, args, extra=extra)
    else:
        emit_table(result.side_by_side(), args, title=title)
        print()
        emit_table(result.summary, args, title="Aggregate (lpd: log density of the observed "
                    "log-loss; crps in nats; coverage: share inside the central interval)")
        if result.kappa is not None:
            print(f"extrapolation discrepancy learned from the training runs: kappa = "
                  f"{result.kappa:.3g} (use 'forecast --discrepancy {result.kappa:.3g}')")
    if args.plot:
        backtest_figure(args.plot, probs, result=result)
    ours = result.summary.set_index("method").loc["bayes"]
    if result.kappa is None and "coverage_90" in ours and ours["coverage_90"] < 0.8:
        to_stderr(f"note: only {ours['coverage_90']:.0%} of held-out runs fell in the 90% intervals; "
             f"the law's error beyond the data is larger than its scatter within it. Try "
             f"--discrepancy (see docs/validation.md)")
    announce_gate(result.diagnostics)
    return 0


def cmd_sbc(args):
    import jax

    from ..validation.sbc import DEFAULT_SBC_CONFIG, sbc

    from ..inference.sampler import batch_strategy

    if args.output:
        check_writable(args.output, args.force, other="--plot another path")
    per_device, devices = batch_strategy(args.batch)
    to_stderr(f"sbc: {args.replicates} fits as one batch, {per_device} on {devices_line()}")
    result = sbc(key=jax.random.key(args.seed), law=args.law, likelihood=args.likelihood,
                 num_replicates=args.replicates, num_runs=args.runs, max_rank=args.max_rank,
                 config=DEFAULT_SBC_CONFIG, strategy=args.batch)
    table = result.table.assign(uniform_at_1pct=result.table["p_value"] >= 0.01)
    facts = {"replicates": args.replicates, "runs": args.runs, "max_rank": result.max_rank,
             "bins": result.bins, "replicates_with_divergences":
             int((result.divergences > 0).sum()), "passed": result.passed(0.01)}
    emit_table(table, args, extra=facts, title=(
        f"Simulation-based calibration: {args.replicates} data sets of {args.runs} runs drawn "
        f"from the prior; chi-square test of rank uniformity over {result.bins} bins"))
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        from ..plots.checks import plot_sbc

        axes = plot_sbc(result.ranks, result.max_rank, result.names)
        axes.flat[0].figure.savefig(args.output, dpi=120, bbox_inches="tight")
        to_stderr(f"wrote {args.output}")
    if facts["replicates_with_divergences"]:
        to_stderr(f"note: {facts['replicates_with_divergences']} of {args.replicates} replicates had "
             f"divergent transitions")
    if not result.passed(0.01):
        to_stderr("WARNING: ranks are not uniform at the 1% level for: " + ", ".join(
            table.loc[~table["uniform_at_1pct"], "param"]))
        return 1
    return 0


def cmd_compare(args):
    import jax

    from ..validation.compare import STATEMENT, compare_laws

    laws = [name.strip() for name in args.laws.split(",") if name.strip()]
    if len(laws) < 2:
        raise ValueError(f"--laws needs two or more laws separated by commas, got {args.laws!r}")
    runs, _ = runs_from_args(args)
    describe_runs(runs)
    to_stderr(f"comparing {', '.join(laws)}: two fits per law (all runs for LOO, the smaller "
         f"{1 - args.holdout_top:.0%} for the backtest)")
    table = compare_laws(runs, laws, key=jax.random.key(args.seed), holdout_top=args.holdout_top,
                         likelihood=args.likelihood, config=sampler_config(args))
    emit_table(table, args, extra={"statement": STATEMENT}, title="Law comparison (best ELPD "
                "first; backtest: forecasts of the held-out largest-compute runs)")
    if not (args.json or args.csv):
        by_backtest = table.loc[table["backtest_rel_error"].idxmin()]
        best = table.iloc[0]
        caveat = {True: "", False: " (its fit FAILED the diagnostics gate: see below)"}
        print(f"\nBest by LOO: {best['law']}{caveat[bool(best['fit_ok'])]}; best by backtest "
              f"error: {by_backtest['law']}{caveat[bool(by_backtest['backtest_ok'])]}.")
        print(STATEMENT)
    for _, row in table.iterrows():
        if row["runs_bad_k"]:
            to_stderr(f"warning: {row['law']}: {row['runs_bad_k']} run(s) have Pareto k > 0.7 "
                 f"(max {row['max_pareto_k']:.2f}); its LOO estimate is unreliable there")
        failed = [name for name, ok in (("the fit to all runs (LOO)", row["fit_ok"]),
                                        ("the backtest's fit", row["backtest_ok"])) if not ok]
        if failed:
            to_stderr(f"warning: {row['law']}: {' and '.join(failed)} failed the diagnostics gate; "
                 f"its numbers are not trustworthy (more --warmup/--samples)")
        if row["backtest_coverage_90"] < 0.8:
            to_stderr(f"warning: {row['law']}: only {row['backtest_coverage_90']:.0%} of the held-out "
                 f"runs fell in its 90% intervals: overconfident beyond the data (see "
                 f"'bayes-scaling backtest --discrepancy')")
    return 0


def add_commands(sub):
    """The parsers of 'backtest', 'compare', 'sbc' (``sub``: the subparsers of `main.build_parser`)."""
    bt = sub.add_parser("backtest", help="fit below a compute cutoff, forecast the larger runs, "
                                         "score against the Huber+bootstrap baseline")
    add_runs_flags(bt)
    split = bt.add_argument_group("split (default: --holdout-top 0.2)")
    split.add_argument("--holdout-top", type=float,
                       help="hold out this fraction of runs with the largest compute")
    split.add_argument("--cutoff-flops", type=float, help="hold out runs with C >= this")
    split.add_argument("--rolling", action="store_true",
                       help="backtests holding out 10%%, 20%%, ..., 50%% of the runs")
    bt.add_argument("--compare", default="huber-bootstrap", choices=("huber-bootstrap", "none"),
                    help="reference method scored alongside (default huber-bootstrap)")
    bt.add_argument("--resamples", type=int, default=4000, help="bootstrap resamples")
    bt.add_argument("--discrepancy", action="store_true",
                    help="also score forecasts widened by the extrapolation discrepancy learned "
                         "from the training runs (one more fit)")
    bt.add_argument("--probs", default="0.5,0.9,0.95", help="central interval probabilities")
    bt.add_argument("--plot", metavar="FIG", help="also draw the forecasts' error and interval "
                    "against the extrapolation distance (with --rolling: error and coverage per "
                    "cutoff) into this image (.png, .svg or .pdf)")
    add_fit_flags(bt)
    add_output_flags(bt)
    bt.set_defaults(func=cmd_backtest)

    cmp = sub.add_parser("compare", help="compare laws on the same runs: PSIS-LOO (interpolation) "
                                         "and a backtest (extrapolation) side by side")
    add_runs_flags(cmp)
    group = cmp.add_argument_group("laws and sampler")
    group.add_argument("--laws", required=True,
                       help="comma-separated law names, e.g. chinchilla,kaplan,power_N")
    group.add_argument("--holdout-top", type=float, default=0.2,
                       help="the backtest holds out this fraction of the largest-compute runs")
    group.add_argument("--likelihood", default="student_t", choices=LIKELIHOOD_CHOICES)
    add_sampler_flags(group)
    add_output_flags(cmp)
    cmp.set_defaults(func=cmd_compare)

    sb = sub.add_parser("sbc", help="simulation-based calibration of a law and its default priors")
    sb.add_argument("--law", default="chinchilla", help="scaling law (default chinchilla)")
    sb.add_argument("--likelihood", default="student_t", choices=LIKELIHOOD_CHOICES)
    sb.add_argument("--replicates", type=int, default=200, help="simulated data sets (default 200)")
    sb.add_argument("--runs", type=int, default=245, help="runs per data set (default 245)")
    sb.add_argument("--max-rank", type=int, default=99, help="posterior draws kept per fit")
    sb.add_argument("--plot", dest="output", help="write the rank ECDF plots to this image")
    sb.add_argument("--seed", type=int, default=0)
    sb.add_argument("--force", action="store_true", help="overwrite the plot file")
    sb.add_argument("--batch", default="auto", choices=("auto", "vectorized", "sequential"),
                    help="how the replicates' fits share the devices: vectorized in lockstep "
                         "(accelerators), one after another per device (CPU); default auto")
    add_device_flags(sb)
    add_output_flags(sb)
    sb.set_defaults(func=cmd_sbc)
