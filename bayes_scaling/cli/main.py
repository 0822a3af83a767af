"""The parser of every command and ``main``, the console script's entry point."""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import sys
import warnings

from .checking import cmd_backtest, cmd_compare, cmd_sbc
from .emergence import cmd_emergence
from .fitting import cmd_demo, cmd_fit, cmd_summary
from .options import (LIKELIHOOD_CHOICES, add_column_flags, add_device_flags, add_fit_flags,
                      add_group_flag, add_output_flags, add_runs_flags, add_sampler_flags,
                      configure_jax, fit_file_command)
from .output import EXIT_INPUT_ERROR, to_stderr
from .planning import PLOT_KINDS, cmd_forecast, cmd_optimal, cmd_plan, cmd_plot, cmd_report


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Bayesian scaling-law fits and forecasts with honest uncertainty.",
        allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # No abbreviations: a typo such as --sample must fail, not silently mean --samples.
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)
    parser.commands = sub.choices  # name -> its parser, for `parse`'s suggestions

    demo = sub.add_parser("demo", help="simulate a Chinchilla-like sweep, fit it, forecast 70B/1.4T")
    demo.add_argument("--out", help="output directory (default: a new bayes_scaling_demo[-N])")
    add_fit_flags(demo)
    add_output_flags(demo, csv=False)  # two tables: as files in --out, or one --json document
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser("fit", help="fit a law to a runs CSV and save the posterior (.nc)")
    add_runs_flags(fit)
    fit.add_argument("-o", "--output", help="fit file to write (default: <runs>_fit.nc)")
    pooling = fit.add_argument_group("pooling across groups (families, data sets, ...)")
    pooling.add_argument("--group-col", help="column naming each run's group: fit one "
                                             "hierarchical model over the groups")
    pooling.add_argument("--pool", help="parameters partially pooled across groups, e.g. "
                                        "alpha,beta or alpha,beta,E (default: the law's "
                                        "exponents); the others are each group's own")
    add_fit_flags(fit)
    add_output_flags(fit)
    fit.set_defaults(func=cmd_fit)

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
    add_output_flags(em)
    em.set_defaults(func=cmd_emergence)

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
    fc.add_argument("--discrepancy", type=float, default=0.0, metavar="KAPPA",
                    help="widen the observed band beyond the fitted compute by KAPPA nats of "
                         "log-loss per e-fold (see 'backtest --discrepancy'; default 0)")

    opt = fit_file_command(sub, "optimal", "compute-optimal N*, D*, L* for budgets, or the "
                                            "compute needed for a target loss", cmd_optimal)
    opt.add_argument("--flops", help="budgets: 5.76e23, a list 1e21,1e23, or a log range "
                                     "1e21:1e25:9 (start:stop:count)")
    opt.add_argument("--target-loss", help="target loss(es), e.g. 1.95 or 2.0,1.95")
    opt.add_argument("--flops-per-param-token", type=float,
                     help="k in C = k*N*D (default: the fit's, usually 6)")

    pl = fit_file_command(sub, "plan", "judge a planned run against the compute-optimal one",
                           cmd_plan)
    pl.add_argument("--params", help="parameters N, e.g. 70B")
    pl.add_argument("--tokens", help="tokens D, e.g. 1.4T")
    pl.add_argument("--flops", help="FLOPs C (with one of the others)")
    pl.add_argument("--within", type=float, default=0.1,
                    help="report P(wasted compute share <= WITHIN) (default 0.1)")

    fit_file_command(sub, "summary", "reprint a fit's parameter table and diagnostics",
                      cmd_summary, probs=False)

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
    return parser


def parse(argv):
    """The parsed arguments; an unknown flag exits 2 naming it and the command's flags closest
    to it (``--chians`` -> ``did you mean --chains?``)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = parser.commands[args.command]
        flags = [flag for action in command._actions for flag in action.option_strings
                 if action.help is not argparse.SUPPRESS]  # not 0.1's hidden spellings
        typos = [word.split("=")[0] for word in unknown if word.startswith("--")]
        close = [f"{match[0]} for {typo}" for typo in typos
                 for match in [difflib.get_close_matches(typo, flags, n=1, cutoff=0.75)] if match]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        command.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return args


def main(argv=None):
    args = parse(argv)
    for note in getattr(args, "deprecations", None) or []:
        to_stderr(note)
    configure_jax(x64=args.x64, device=getattr(args, "device", "auto"))
    from ..data import RunsError
    from ..laws.priors import PriorError

    # Every command announces a failed diagnostics gate itself (loudly, on stderr), so the
    # library's ConvergenceWarning would only repeat it; other warnings still show.
    from ..posterior import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    try:
        return args.func(args)
    except (RunsError, PriorError, ValueError, FileExistsError, FileNotFoundError) as err:
        to_stderr(f"bayes-scaling {args.command}: error: {err}")
        return EXIT_INPUT_ERROR
    except BrokenPipeError:  # e.g. piped into `head`: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

