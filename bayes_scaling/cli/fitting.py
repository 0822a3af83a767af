"""Commands that fit: ``fit``, ``demo`` and ``summary`` of a fit file."""

from __future__ import annotations

import json
import os

from .interrupt import UNFINISHED_OUTPUTS
from .output import (EXIT_GATE_FAILED, announce_gate, check_writable, describe_runs, emit_table,
                     print_summary, records, summary_payload, to_stderr)
from .options import (add_fit_flags, add_output_flags, add_remedy_flags, add_runs_flags,
                      devices_line,
                      fit_file_command, load_fit, pool_names, priors_from_args, runs_from_args,
                      sampler_config)
from .planning import FORECAST_COLUMNS


DEMO_POINT = {"N": 70e9, "D": 1.4e12}
FIT_SUFFIXES = (".nc",)  # fits are netCDF files (ArviZ InferenceData)


def fit_and_report(runs, args, out_path, header, show_summary=True):
    import jax

    from ..api import check_fittable, fit
    from ..discrepancy import resolve_discrepancy
    from ..inference.sampler import FLOAT32_MAX_RUNS, chain_layout
    from ..laws.registry import get_law
    from ..sweep_evidence import EVIDENCE_HOLDOUT

    if not getattr(args, "group_col", None):
        check_fittable(get_law(args.law), runs, args.likelihood)  # before announcing the fit
    config = sampler_config(args)
    per_device, devices = chain_layout(config)
    precision = "float64" if args.x64 else "float32"
    if not args.x64 and len(runs) > FLOAT32_MAX_RUNS:
        # float32 rounding of a sum over this many runs makes NUTS ~3x slower (see inference).
        jax.config.update("jax_enable_x64", True)
        precision = f"float64 (chosen for more than {FLOAT32_MAX_RUNS} runs)"
    to_stderr(f"fitting {args.law} to {len(runs)} runs: {config.num_chains} chains x "
         f"({config.num_warmup} warmup + {config.num_samples} draws), {per_device} chains on "
         f"{devices} of {devices_line()}, {precision}")
    describe_runs(runs)
    options = dict(key=jax.random.key(args.seed), law=args.law, priors=priors_from_args(args),
                   likelihood=args.likelihood, config=config)
    if getattr(args, "group_col", None):
        from ..inference.pooled import fit_pooled

        pool = pool_names(args.pool)
        to_stderr(f"pooling {', '.join(pool) if pool else 'the exponents'} across "
             f"{len(set(runs.group))} groups of column {args.group_col!r}")
        post = fit_pooled(runs, pool=pool, **options)
    else:
        if runs.group is not None:
            to_stderr(f"note: column {runs.columns['group']!r} names {len(set(runs.group))} groups, "
                 f"fitted here as one population; --group-col {runs.columns['group']} pools them "
                 f"instead")
        budget = {} if args.remedy_budget is None else {"remedy_budget_s": args.remedy_budget}
        evidence = not args.no_sweep_evidence
        if evidence:
            to_stderr(f"then one more fit, of the runs below the largest "
                      f"{EVIDENCE_HOLDOUT:.0%} by compute, to see how far the law holds beyond "
                      f"them (--no-sweep-evidence skips it)")
        post = fit(runs, remedy=not args.no_remedy, sweep_evidence=evidence, **budget, **options)
        for note in post.remedies:
            to_stderr(f"remedy: {note}")
        if evidence:
            kappa = resolve_discrepancy("sweep", post)
            to_stderr(f"the law's own error beyond the data, for forecasts: {kappa.describe()} "
                      f"({kappa.origin()})")
    written = post.check().ok or not args.strict
    if written:
        post.save(out_path, force=args.force)
    if show_summary:
        print_summary(post, args, header)
    to_stderr(f"wrote {out_path}" if written else
              f"did not write {out_path}: the fit failed the diagnostics gate and --strict "
              f"was given")
    return post


def gate_status(post):
    """The exit status of a command that fitted: 0, or `EXIT_GATE_FAILED` (the gate failed)."""
    return 0 if post.check().ok else EXIT_GATE_FAILED


def cmd_fit(args):
    runs, name = runs_from_args(args)
    out = args.output or f"{name}_fit.nc"
    check_writable(out, args.force, suffixes=FIT_SUFFIXES)
    return gate_status(fit_and_report(runs, args, out, header=""))


def demo_dir(requested):
    if requested:
        return requested
    base, n = "bayes_scaling_demo", 1
    candidate = base
    while os.path.exists(candidate):  # never overwrite an earlier demo's files
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def cmd_demo(args):
    import jax

    from ..datasets import EPOCH_CHINCHILLA
    from ..simulation import simulate
    from ..prediction import forecast

    out_dir = demo_dir(args.out)
    paths = {name: os.path.join(out_dir, name) for name in ("runs.csv", "fit.nc", "forecast.csv")}
    new_outputs = {path for path in (out_dir, *paths.values()) if not os.path.exists(path)}
    os.makedirs(out_dir, exist_ok=True)
    UNFINISHED_OUTPUTS.update(new_outputs)  # an interrupt before the end removes them
    for path in paths.values():
        check_writable(path, args.force, other="--out another folder")
    key_sim, key_forecast = jax.random.split(jax.random.key(args.seed + 1))
    runs = simulate(key_sim, num_runs=245)
    runs.to_frame().to_csv(paths["runs.csv"], index=False)
    truth = ", ".join(f"{k}={v}" for k, v in EPOCH_CHINCHILLA.items())
    to_stderr(f"simulated 245 Chinchilla-like runs from Epoch AI's fit ({truth}), Student-t noise "
         f"sigma=0.01 on log-loss")
    post = fit_and_report(runs, args, paths["fit.nc"], header="Posterior (truth: " + truth + ")",
                           show_summary=not args.json)
    table = forecast(post, **DEMO_POINT, key=key_forecast)
    table.to_csv(paths["forecast.csv"], index=False)
    if args.json:  # one JSON document: the summary and the forecast
        diagnostics = post.check()
        frame, extra = summary_payload(post, diagnostics)
        payload = {"truth": EPOCH_CHINCHILLA, "summary": {**extra, "table": records(frame)},
                   "forecast": records(table[FORECAST_COLUMNS]),
                   "files": sorted(paths.values())}
        print(json.dumps(payload, indent=2))
        announce_gate(diagnostics)
    else:
        print()
        emit_table(table[FORECAST_COLUMNS], args,
                    title="Forecast for a 70B-parameter, 1.4T-token run")
    UNFINISHED_OUTPUTS.difference_update(new_outputs)
    to_stderr(f"wrote {paths['runs.csv']}, {paths['forecast.csv']}")
    return gate_status(post)


def cmd_summary(args):

    print_summary(load_fit(args), args)
    return 0


def add_strict_flag(parser):
    parser.add_argument("--strict", action="store_true",
                        help="write no fit file when the fit fails the diagnostics gate (the "
                             f"exit status is {EXIT_GATE_FAILED} either way)")


def add_commands(sub):
    """The parsers of 'demo', 'fit', 'summary' (``sub``: the subparsers of `main.build_parser`)."""
    demo = sub.add_parser("demo", help="simulate a Chinchilla-like sweep, fit it, forecast 70B/1.4T")
    demo.add_argument("--out", help="output directory (default: a new bayes_scaling_demo[-N])")
    add_fit_flags(demo)
    add_remedy_flags(demo)
    add_strict_flag(demo)
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
    add_remedy_flags(fit)
    add_strict_flag(fit)
    add_output_flags(fit)
    fit.set_defaults(func=cmd_fit)

    fit_file_command(sub, "summary", "reprint a fit's parameter table and diagnostics",
                      cmd_summary, probs=False)
