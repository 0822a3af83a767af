"""Commands that use a fit: ``forecast``, ``optimal``, ``plan``, ``plot`` and ``report``."""

from __future__ import annotations

import argparse
import os

from .output import (announce_gate, check_writable, diagnostics_dict, emit_table, image_format,
                     records, to_stderr)
from .options import (add_discrepancy_flag, add_group_flag, budgets, discrepancy_note,
                      fit_file_command, frontier_budgets, input_columns, load_fit,
                      parse_discrepancy, parse_list, point_inputs)


FORECAST_COLUMNS = ["point", "quantity", "N", "D", "C", "median", "lo_50", "hi_50", "lo_90",
                     "hi_90", "lo_95", "hi_95", "extrapolation"]


def cmd_forecast(args):
    import jax

    from ..data import load_points
    from ..prediction import forecast

    post = load_fit(args)
    further = [name for name in post.law.inputs if name not in ("N", "D", "C")]
    inputs = {name: parse_list(values, f"input {name}")
              for name, values in input_columns(args.input or []).items()}
    unknown = sorted(set(inputs) - set(further))
    if unknown:
        raise ValueError(f"law {post.law.name!r} has no input {unknown[0]!r}"
                         + (f"; its further inputs are {further}" if further else ""))
    if args.points:
        if any(v is not None for v in (args.params, args.tokens, args.flops)):
            raise ValueError("give either --points FILE or --params/--tokens/--flops, not both")
        N, D, C = load_points(args.points, flops_per_param_token=post.flops_per_param_token,
                              check_sizes=len({"N", "D", "C"} & set(post.law.inputs)) > 1)
        inputs = {**point_inputs(args.points, further), **inputs}
    else:
        N, D, C = (parse_list(args.params, "params"), parse_list(args.tokens, "tokens"),
                   parse_list(args.flops, "flops"))
    missing = [name for name in further if name not in inputs]
    if missing:
        raise ValueError(f"law {post.law.name!r} needs {missing[0]!r} at the points too: give "
                         f"--input {missing[0]}=VALUES or a {missing[0]!r} column in --points")
    probs = parse_list(args.probs, "probs")
    discrepancy = parse_discrepancy(args.discrepancy)
    table = forecast(post, N=N, D=D, C=C, key=jax.random.key(args.seed), probs=probs,
                     discrepancy=discrepancy, inputs=inputs or None)
    columns = ["point", "quantity", "N", "D", "C", "median"] + [
        c for c in table.columns if c.startswith(("lo_", "hi_"))] + ["extrapolation"]
    diagnostics = post.check()
    emit_table(table if (args.json or args.csv) else table[columns], args,
                extra={"fit": args.fit, "group": args.group,
                       "diagnostics": diagnostics_dict(diagnostics)})
    announce_gate(diagnostics)
    note = discrepancy_note(table, discrepancy, post)
    if note:
        to_stderr(note)
    far = table[table["far"]]
    for point in sorted(set(far["point"])):
        row = far[far["point"] == point].iloc[0]
        to_stderr(f"note: point {point} lies {row['C_vs_max']:.3g}x beyond the largest fitted compute "
             f"({row['N_vs_max']:.3g}x N, {row['D_vs_max']:.3g}x D); its intervals assume the law "
             f"still holds there, which the data cannot check")
    return 0


def cmd_optimal(args):
    import jax

    from ..allocation import TARGET_SEARCH_EFOLDS, allocation_exponents, compute_for_target, optimal
    from ..discrepancy import resolve_discrepancy

    if (args.flops is None) == (args.target_loss is None):
        raise ValueError("give --flops BUDGETS or --target-loss LOSSES (one of them)")
    post = load_fit(args)
    probs = parse_list(args.probs, "probs")
    if args.flops is not None:
        table = optimal(post, budgets(args.flops), probs=probs,
                        flops_per_param_token=args.flops_per_param_token)
        title = "Compute-optimal allocation per budget (N*, D*, D*/N*, L*)"
    else:
        discrepancy = parse_discrepancy(args.discrepancy)
        table = compute_for_target(post, parse_list(args.target_loss, "target-loss"),
                                   key=jax.random.key(args.seed), discrepancy=discrepancy,
                                   probs=probs, flops_per_param_token=args.flops_per_param_token)
        title = "Compute needed to reach each target loss at the optimum"
    diagnostics = post.check()
    exponents = allocation_exponents(post, prob=0.9)
    emit_table(table, args, title=title,
                extra={"fit": args.fit, "exponents": records(exponents),
                       "diagnostics": diagnostics_dict(diagnostics)})
    if not (args.json or args.csv):
        emit_table(exponents, args, title="\nAllocation exponents N* ∝ C^a, D* ∝ C^b (90% interval)")
        if args.target_loss is not None:
            exact = resolve_discrepancy(discrepancy, post).is_zero
            if not exact:
                to_stderr("note: the compute needed carries the law's own error beyond the data "
                          "(the extrapolation discrepancy of 'forecast', docs/validation.md); "
                          "--discrepancy none takes the law as exact")
            for _, row in table.drop_duplicates("target").iterrows():
                if row["p_reachable"] < 1:
                    why = ("at or below the irreducible loss E" if exact else
                           "at or below E, or kept out of reach by the law's own error beyond "
                           f"the data within {TARGET_SEARCH_EFOLDS[1]:g} e-folds of compute")
                    rest = ("intervals are over the other draws" if row["p_reachable"] > 0
                            else "no draw reaches it, so there is no interval: aim higher")
                    to_stderr(f"note: target {row['target_loss']:g} is unreachable ({why}) in "
                              f"{row['unreachable_draws']} draws ({1 - row['p_reachable']:.1%}); "
                              f"{rest}")
                if row["p_reached_below_E"] > 0:
                    to_stderr(f"note: {row['p_reached_below_E']:.1%} of the draws reach target "
                              f"{row['target_loss']:g} although it is at or below their "
                              f"irreducible loss E, only through the law's own error far beyond "
                              f"the data: that says the law cannot be trusted so far out, not "
                              f"that the loss is within reach; --discrepancy none keeps E as the "
                              f"floor")
    announce_gate(diagnostics)
    return 0


def cmd_plan(args):
    import jax

    from ..allocation import plan

    post = load_fit(args)
    N, D, C = (parse_list(args.params, "params"), parse_list(args.tokens, "tokens"),
               parse_list(args.flops, "flops"))
    discrepancy = parse_discrepancy(args.discrepancy)
    table, facts = plan(post, N=N, D=D, C=C, key=jax.random.key(args.seed),
                        discrepancy=discrepancy, within=args.within,
                        probs=parse_list(args.probs, "probs"))
    diagnostics = post.check()
    emit_table(table, args, title=f"Planned run: N={facts['N']:.3g}, D={facts['D']:.3g}, "
                                   f"C={facts['C']:.3g} FLOP",
                extra={"fit": args.fit, "plan": facts, "diagnostics": diagnostics_dict(diagnostics)})
    if not (args.json or args.csv):
        print(f"P(planned run within {facts['within']:.0%} of optimal, i.e. the optimal allocation "
              f"would need at least {1 - facts['within']:.0%} of its compute to match its loss): "
              f"{facts['p_within']:.3f}")
    if table["mean"].isna().any():
        to_stderr(f"note: {', '.join(table.loc[table['mean'].isna(), 'quantity'])} has no mean "
                  f"(NaN): a loss whose log has Student-t noise has none; its median and "
                  f"intervals are the summary")
    announce_gate(diagnostics)
    return 0


PLOT_KINDS = ("fit", "residuals", "pairs", "frontier")


def cmd_plot(args):
    import matplotlib

    matplotlib.use("Agg")
    import jax
    import matplotlib.pyplot as plt


    fmt = image_format(args.output)  # before any work
    check_writable(args.output, args.force)
    post = load_fit(args)
    if args.kind == "fit":
        from ..prediction import forecast
        from ..plots.fit import plot_fit
        from ..data import parse_points

        forecasts = None
        if args.at:
            N, D = parse_points(args.at)
            forecasts = forecast(post, N=N, D=D, key=jax.random.key(args.seed))
        fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
        color_by = "auto" if args.color_by is None else (
            None if args.color_by == "none" else args.color_by)
        plot_fit(post, ax=ax, x=args.x, color_by=color_by, forecasts=forecasts)
    elif args.kind == "residuals":
        from ..plots.fit import plot_residuals

        fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
        plot_residuals(post, args.x, ax=ax)
    elif args.kind == "pairs":
        from ..plots.fit import plot_pairs

        fig = plot_pairs(post).flat[0].figure
    else:
        from ..plots.planning import plot_frontier

        budgets = frontier_budgets(post, args.flops)
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
        for ax, quantity in zip(axes, ("N", "D", "loss")):
            plot_frontier(post, budgets, quantity, ax=ax)
    fig.savefig(args.output, format=fmt, dpi=150)
    plt.close(fig)
    announce_gate(post.check())
    to_stderr(f"wrote {args.output}")
    return 0


def cmd_report(args):
    import matplotlib

    matplotlib.use("Agg")
    import jax

    from ..data import parse_points
    from ..report import write_report

    out = args.output or os.path.splitext(os.path.basename(args.fit))[0] + "_report.html"
    if os.path.splitext(out)[1].lower() not in (".html", ".htm"):
        raise ValueError(f"{out}: the report is an HTML file; name it *.html")
    check_writable(out, args.force)
    at = parse_points(args.at) if args.at else None
    budgets = parse_list(args.flops, "flops") if args.flops else None
    post = load_fit(args)
    write_report(post, out, key=jax.random.key(args.seed), at=at, budgets=budgets,
                 force=args.force)
    announce_gate(post.check())
    to_stderr(f"wrote {out}")
    return 0


def add_commands(sub):
    """The parsers of 'forecast', 'optimal', 'plan', 'plot', 'report' (``sub``: the subparsers of `main.build_parser`)."""
    fc = fit_file_command(sub, "forecast", "predictive loss at new (N, D) points with intervals",
                           cmd_forecast)
    fc.add_argument("--params", help="parameters, e.g. 70B or 7B,70B")
    fc.add_argument("--tokens", help="tokens, e.g. 1.4T")
    fc.add_argument("--flops", help="FLOPs, e.g. 5.76e23")
    fc.add_argument("--points", help="CSV of points (two of params/tokens/flops columns)")
    fc.add_argument("--input", action="append", metavar="NAME=VALUES",
                    help="a further input the law needs at the points, e.g. --input U=10B "
                         "(data_constrained) or a list U=10B,20B; repeatable")
    fc.add_argument("--seed", type=int, default=0)
    add_discrepancy_flag(fc, "added to the observed band")

    opt = fit_file_command(sub, "optimal", "compute-optimal N*, D*, L* for budgets, or the "
                                            "compute needed for a target loss", cmd_optimal)
    opt.add_argument("--flops", help="budgets: 5.76e23, a list 1e21,1e23, or a log range "
                                     "1e21:1e25:9 (start:stop:count)")
    opt.add_argument("--target-loss", help="target loss(es), e.g. 1.95 or 2.0,1.95")
    opt.add_argument("--flops-per-param-token", type=float,
                     help="k in C = k*N*D (default: the fit's, usually 6)")
    add_discrepancy_flag(opt, "with --target-loss: carried along the frontier")
    opt.add_argument("--seed", type=int, default=0)

    pl = fit_file_command(sub, "plan", "judge a planned run against the compute-optimal one",
                           cmd_plan)
    pl.add_argument("--params", help="parameters N, e.g. 70B")
    pl.add_argument("--tokens", help="tokens D, e.g. 1.4T")
    pl.add_argument("--flops", help="FLOPs C (with one of the others)")
    pl.add_argument("--within", type=float, default=0.1,
                    help="report P(wasted compute share <= WITHIN) (default 0.1)")
    add_discrepancy_flag(pl, "in the planned run's observed loss")
    pl.add_argument("--seed", type=int, default=0)

    pt = sub.add_parser("plot", help="draw a fit: data and law, residuals, parameter pairs or "
                                     "the compute-optimal frontier, as PNG, SVG or PDF")
    pt.add_argument("fit", help="fit file (.nc) from 'bayes-scaling fit'")
    pt.add_argument("--kind", default="fit", choices=PLOT_KINDS,
                    help="what to draw (default fit)")
    pt.add_argument("-o", "--output", required=True,
                    help="image file; the format follows the extension: .png, .svg or .pdf")
    pt.add_argument("--x", default="N", choices=("N", "D", "C"),
                    help="fit: the horizontal axis; residuals: what they are plotted against")
    pt.add_argument("--color-by", choices=("N", "D", "C", "none"),
                    help="fit: what groups the runs (default D against N, N against D or C)")
    pt.add_argument("--at", help="fit: forecast points drawn with error bars, e.g. "
                                 "70B:1.4T,7B:140B")
    pt.add_argument("--flops", help="frontier: budgets, a list or a log range 1e19:1e25:30 "
                                    "(default: the fitted compute range up to 100x)")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--force", action="store_true", help="overwrite an existing image")
    pt.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)
    add_group_flag(pt)
    pt.set_defaults(func=cmd_plot)

    rp = sub.add_parser("report", help="one self-contained HTML report of a fit (plots "
                                       "embedded, no external URLs)")
    rp.add_argument("fit", help="fit file (.nc) from 'bayes-scaling fit'")
    rp.add_argument("-o", "--output", help="HTML file to write (default: <fit>_report.html)")
    rp.add_argument("--at", help="forecast points PARAMS:TOKENS, e.g. 70B:1.4T,7B:140B")
    rp.add_argument("--flops", help="budgets of the compute-optimal table, e.g. 1e21,1e23 "
                                    "(default: powers of ten up to 10x the largest fitted run)")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--force", action="store_true", help="overwrite an existing report")
    rp.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)
    add_group_flag(rp)
    rp.set_defaults(func=cmd_report)
