"""The ``bayes-scaling`` command line; the only module that prints.

Subcommands: ``demo``, ``fit``, ``forecast``, ``optimal``, ``plan``, ``summary``, ``backtest``,
``sbc``, ``emergence``, ``plot`` and ``report``. Every command that prints results takes
``--json``; tabular ones also ``--csv``; ``plot`` and ``report`` write files. Input errors exit with status 2 and a message naming the file, line and
column; a fit that fails the diagnostics gate is announced on stderr wherever it is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import json
import os
import sys
import warnings

EXIT_INPUT_ERROR = 2
DEMO_POINT = {"N": 70e9, "D": 1.4e12}
# The names of `likelihood.LIKELIHOODS`, repeated so that --help need not import NumPyro
# (tests/test_cli.py checks that the two agree).
LIKELIHOOD_CHOICES = ("student_t", "normal")


def _configure_jax(x64=False, device="auto"):
    """Set up JAX before its first import: the platform, one CPU device per core, the
    persistent compile cache and the precision."""
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        # Lets the sampler run chains on all cores (a no-op for GPU/TPU backends).
        cores = max(os.cpu_count() or 1, 1)
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores}".strip()
    import jax

    if os.environ.get("BAYES_SCALING_NO_CACHE") is None:
        cache = os.environ.get("BAYES_SCALING_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
            "bayes_scaling", "jax")
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    if x64:
        jax.config.update("jax_enable_x64", True)
    if device not in ("auto", "cpu") and jax.default_backend() != device:
        _err(f"bayes-scaling: error: --device {device} asked for, but JAX found only "
             f"{jax.default_backend()} device(s); install JAX with {device} support (see JAX's "
             f"install guide) or use --device auto")
        sys.exit(EXIT_INPUT_ERROR)


def _devices_line():
    """Which devices the engine uses, e.g. '2 cpu devices' or '1 gpu device (NVIDIA H100)'."""
    import jax

    devices = jax.local_devices()
    kinds = sorted({d.device_kind for d in devices})
    plural = "s" if len(devices) > 1 else ""
    described = "" if jax.default_backend() == "cpu" else f" ({', '.join(kinds)})"
    return f"{len(devices)} {jax.default_backend()} device{plural}{described}"


# -- output helpers ---------------------------------------------------------------------------
def _err(message):
    print(message, file=sys.stderr)


def _emit_table(frame, args, title=None, extra=None):
    """Print a DataFrame as text, CSV (--csv) or JSON (--json, with ``extra`` keys)."""
    if getattr(args, "json", False):
        print(json.dumps({**(extra or {}), "table": _records(frame)}, indent=2))
    elif getattr(args, "csv", False):
        print(frame.to_csv(index=False), end="")
    else:
        if title:
            print(title)
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _records(frame):
    return json.loads(frame.to_json(orient="records"))


def _diagnostics_dict(diagnostics):
    return {"ok": diagnostics.ok, "problems": list(diagnostics.problems),
            "max_r_hat": diagnostics.max_r_hat, "min_ess_bulk": diagnostics.min_ess_bulk,
            "min_ess_tail": diagnostics.min_ess_tail, "divergences": diagnostics.divergences,
            "min_e_bfmi": diagnostics.min_bfmi}


def _announce_gate(diagnostics):
    if not diagnostics.ok:
        bar = "!" * 78
        _err(f"{bar}\nWARNING: {diagnostics.message()}\nDo not trust these numbers as they "
             f"are.\n{bar}")


def _summary_payload(post, diagnostics):
    """The parameter table and the fit's facts, for text and JSON output alike."""
    frame = post.summary(prob=0.9).reset_index().rename(columns={"index": "param"})
    attrs = post.attrs
    extra = {"law": post.law.name, "likelihood": post.likelihood, "source": attrs["source"],
             "num_runs": int(post.runs_table.shape[0]), "priors": attrs["priors"],
             "sampler": attrs["sampler"], "diagnostics": _diagnostics_dict(diagnostics),
             "mean_leapfrog_steps": float(post.idata.sample_stats["n_steps"].mean())}
    if "pool" in attrs:
        extra.update(groups=attrs["groups"], pool=attrs["pool"])
    return frame, extra


def _print_summary(post, args, header=""):
    diagnostics = post.check()
    frame, extra = _summary_payload(post, diagnostics)
    attrs = post.attrs
    if getattr(args, "json", False) or getattr(args, "csv", False):
        _emit_table(frame, args, extra=extra)
    else:
        if header:
            print(header)
        sampler = attrs["sampler"]
        print(f"law {post.law.name} ({post.law.reference}); {post.likelihood} likelihood on "
              f"log-loss; {extra['num_runs']} runs from {extra['source']}")
        print("priors: " + "; ".join(f"{k} ~ {v}" if not v.startswith("fixed") else f"{k} {v}"
                                     for k, v in attrs["priors"].items()))
        if "pool" in attrs:
            own = [n for n in post.law.param_names if n not in attrs["pool"]]
            print(f"groups: {', '.join(attrs['groups'])}; pooled: {', '.join(attrs['pool'])} "
                  f"(their priors above are the population's; <name>_tau is the spread between "
                  f"groups); each group's own: {', '.join(own) or 'none'}")
        print(f"sampler: NUTS, {sampler['num_chains']} chains x ({sampler['num_warmup']} warmup + "
              f"{sampler['num_samples']} draws), target acceptance {sampler['target_accept']}")
        _emit_table(frame, args)
        print(f"divergences: {diagnostics.divergences}   min E-BFMI: {diagnostics.min_bfmi:.2f}   "
              f"max R-hat: {diagnostics.max_r_hat:.4f}   min ESS bulk/tail: "
              f"{diagnostics.min_ess_bulk:.0f}/{diagnostics.min_ess_tail:.0f}   "
              f"mean leapfrog steps: {extra['mean_leapfrog_steps']:.1f}")
        print(diagnostics.message())
    _announce_gate(diagnostics)


# -- subcommands ------------------------------------------------------------------------------
def _sampler_config(args):
    from .inference.sampler import SamplerConfig
    from .inference.pooled import POOLED_TARGET_ACCEPT

    target = args.target_accept
    if target is None:  # a pooled fit's default is higher (see pooling)
        target = POOLED_TARGET_ACCEPT if getattr(args, "group_col", None) else 0.9
    return SamplerConfig(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.samples,
                         target_accept=target, progress_bar=sys.stderr.isatty())


def _priors_from_args(args):
    from .laws.priors import parse_priors, read_prior_file

    priors = read_prior_file(args.prior_file) if args.prior_file else {}
    return {**priors, **parse_priors(args.prior or [])}  # --prior overrides the file


def _fit_and_report(runs, args, out_path, header, show_summary=True):
    import jax

    from .api import fit
    from .inference.sampler import FLOAT32_MAX_RUNS, chain_layout

    config = _sampler_config(args)
    per_device, devices = chain_layout(config)
    precision = "float64" if args.x64 else "float32"
    if not args.x64 and len(runs) > FLOAT32_MAX_RUNS:
        # float32 rounding of a sum over this many runs makes NUTS ~3x slower (see inference).
        jax.config.update("jax_enable_x64", True)
        precision = f"float64 (chosen for more than {FLOAT32_MAX_RUNS} runs)"
    _err(f"fitting {args.law} to {len(runs)} runs: {config.num_chains} chains x "
         f"({config.num_warmup} warmup + {config.num_samples} draws), {per_device} chains on "
         f"{devices} of {_devices_line()}, {precision}")
    _describe_runs(runs)
    options = dict(key=jax.random.key(args.seed), law=args.law, priors=_priors_from_args(args),
                   likelihood=args.likelihood, config=config)
    if getattr(args, "group_col", None):
        from .inference.pooled import fit_pooled

        pool = _pool_names(args.pool)
        _err(f"pooling {', '.join(pool) if pool else 'the exponents'} across "
             f"{len(set(runs.group))} groups of column {args.group_col!r}")
        post = fit_pooled(runs, pool=pool, **options)
    else:
        if runs.group is not None:
            _err(f"note: column {runs.columns['group']!r} names {len(set(runs.group))} groups, "
                 f"fitted here as one population; --group-col {runs.columns['group']} pools them "
                 f"instead")
        post = fit(runs, **options)
    post.save(out_path, force=args.force)
    if show_summary:
        _print_summary(post, args, header)
    _err(f"wrote {out_path}")
    return post


FEW_GROUPS = 5  # below it, `--group new` says the population rests on few groups


def _load_fit(args):
    """The posterior in ``args.fit``; of a pooled fit, the group named by ``--group`` (``new``:
    a group not in the data, drawn from the population). ``summary`` shows a pooled fit whole."""
    import jax

    from .inference.pooled import PooledPosterior
    from .posterior import Posterior

    post = Posterior.load(args.fit)
    group = getattr(args, "group", None)
    if not isinstance(post, PooledPosterior):
        if group is not None:
            raise ValueError(f"{args.fit} is not a pooled fit; --group applies to fits made "
                             f"with 'fit --group-col COLUMN'")
        return post
    if group is None:
        if args.command == "summary":
            return post
        raise ValueError(f"{args.fit} is a pooled fit of groups {post.groups}: name one with "
                         f"--group NAME, or --group new for a group not in the data")
    if group == "new":
        if len(post.groups) < FEW_GROUPS:
            _err(f"note: the population is estimated from only {len(post.groups)} groups, so "
                 f"its spread between groups is poorly known and a new group's intervals are wide")
        return post.for_new_group(jax.random.key(getattr(args, "seed", 0)))
    return post.for_group(group)


def _join_filters(filters):
    """Repeated --where options: every one must hold (None when there are none)."""
    return " and ".join(filters) if filters else None


def _runs_from_args(args):
    """The runs named on the command line (a CSV or --dataset) and a short name for them."""
    from .data import load_runs
    from .datasets import load_dataset

    if (args.runs is None) == (args.dataset is None):
        raise ValueError("give a runs CSV file or --dataset NAME (one of them)")
    options = dict(params=args.params_col, tokens=args.tokens_col, flops=args.flops_col,
                   loss=args.loss_col,
                   flops_per_param_token=args.flops_per_param_token)
    if args.where:
        options["where"] = _join_filters(args.where)
    if args.input:
        options["inputs"] = _input_columns(args.input)
    if getattr(args, "law", None):
        options["law"] = args.law  # a one-variable law needs only its column; U etc. are checked
    if getattr(args, "group_col", None):
        options["group"] = args.group_col
    elif getattr(args, "pool", None):
        raise ValueError("--pool needs --group-col COLUMN (the column naming each run's group)")
    if args.dataset:
        runs = load_dataset(args.dataset, data_dir=args.data_dir, download=args.download,
                            **options)
        return runs, args.dataset
    return load_runs(args.runs, **options), os.path.splitext(os.path.basename(args.runs))[0]


def _input_columns(specs):
    """``--input U=unique_tokens`` options as ``{"U": "unique_tokens"}``."""
    inputs = {}
    for spec in specs:
        name, sep, column = (part.strip() for part in spec.partition("="))
        if not (sep and name and column):
            raise ValueError(f"--input must be NAME=COLUMN, e.g. U=unique_tokens; got {spec!r}")
        if name in inputs:
            raise ValueError(f"--input {name} given twice ({inputs[name]!r} and {column!r})")
        inputs[name] = column
    return inputs


def _pool_names(text):
    """``--pool alpha,beta`` as a tuple (None: the default, the law's exponents)."""
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"--pool needs parameter names separated by commas, got {text!r}")
    return names


def _describe_runs(runs):
    if runs.columns:
        _err("columns: " + ", ".join(f"{k} <- {v!r}" for k, v in runs.columns.items())
             + "".join(f", {k} derived" for k in ("N", "D", "C") if k not in runs.columns))
    for note in runs.dropped:
        _err(note)


def cmd_fit(args):
    runs, name = _runs_from_args(args)
    out = args.output or f"{name}_fit.nc"
    _check_writable(out, args.force)
    _fit_and_report(runs, args, out, header="")
    return 0


def _check_writable(path, force, other="-o another path"):
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it or {other}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")


def _demo_dir(requested):
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

    from .datasets import EPOCH_CHINCHILLA, simulate
    from .prediction import forecast

    out_dir = _demo_dir(args.out)
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name) for name in ("runs.csv", "fit.nc", "forecast.csv")}
    for path in paths.values():
        _check_writable(path, args.force, other="--out another folder")
    key_sim, key_forecast = jax.random.split(jax.random.key(args.seed + 1))
    runs = simulate(key_sim, num_runs=245)
    runs.to_frame().to_csv(paths["runs.csv"], index=False)
    truth = ", ".join(f"{k}={v}" for k, v in EPOCH_CHINCHILLA.items())
    _err(f"simulated 245 Chinchilla-like runs from Epoch AI's fit ({truth}), Student-t noise "
         f"sigma=0.01 on log-loss")
    post = _fit_and_report(runs, args, paths["fit.nc"], header="Posterior (truth: " + truth + ")",
                           show_summary=not args.json)
    table = forecast(post, **DEMO_POINT, key=key_forecast)
    table.to_csv(paths["forecast.csv"], index=False)
    if args.json:  # one JSON document: the summary and the forecast
        diagnostics = post.check()
        frame, extra = _summary_payload(post, diagnostics)
        payload = {"truth": EPOCH_CHINCHILLA, "summary": {**extra, "table": _records(frame)},
                   "forecast": _records(table[_FORECAST_COLUMNS]),
                   "files": sorted(paths.values())}
        print(json.dumps(payload, indent=2))
        _announce_gate(diagnostics)
    else:
        print()
        _emit_table(table[_FORECAST_COLUMNS], args,
                    title="Forecast for a 70B-parameter, 1.4T-token run")
    _err(f"wrote {paths['runs.csv']}, {paths['forecast.csv']}")
    return 0


_FORECAST_COLUMNS = ["point", "quantity", "N", "D", "C", "median", "lo_50", "hi_50", "lo_90",
                     "hi_90", "lo_95", "hi_95", "extrapolation"]


def _parse_list(text, flag):
    from .data import parse_number

    if text is None:
        return None
    try:
        return [parse_number(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise ValueError(f"--{flag}: {err}") from None


def _point_inputs(path, names):
    """The columns of a --points file named like the law's further inputs (e.g. ``U``)."""
    import pandas as pd

    from .data import parse_number

    frame = pd.read_csv(path)
    try:
        return {name: [parse_number(str(v)) for v in frame[name]] for name in names
                if name in frame.columns}
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def cmd_forecast(args):
    import jax

    from .data import load_points
    from .prediction import forecast

    post = _load_fit(args)
    further = [name for name in post.law.inputs if name not in ("N", "D", "C")]
    inputs = {name: _parse_list(values, f"input {name}")
              for name, values in _input_columns(args.input or []).items()}
    unknown = sorted(set(inputs) - set(further))
    if unknown:
        raise ValueError(f"law {post.law.name!r} has no input {unknown[0]!r}"
                         + (f"; its further inputs are {further}" if further else ""))
    if args.points:
        if any(v is not None for v in (args.params, args.tokens, args.flops)):
            raise ValueError("give either --points FILE or --params/--tokens/--flops, not both")
        N, D, C = load_points(args.points, flops_per_param_token=post.flops_per_param_token)
        inputs = {**_point_inputs(args.points, further), **inputs}
    else:
        N, D, C = (_parse_list(args.params, "params"), _parse_list(args.tokens, "tokens"),
                   _parse_list(args.flops, "flops"))
    missing = [name for name in further if name not in inputs]
    if missing:
        raise ValueError(f"law {post.law.name!r} needs {missing[0]!r} at the points too: give "
                         f"--input {missing[0]}=VALUES or a {missing[0]!r} column in --points")
    probs = _parse_list(args.probs, "probs")
    if not args.discrepancy >= 0:
        raise ValueError(f"--discrepancy must be >= 0, got {args.discrepancy}")
    table = forecast(post, N=N, D=D, C=C, key=jax.random.key(args.seed), probs=probs,
                     discrepancy=args.discrepancy, inputs=inputs or None)
    columns = ["point", "quantity", "N", "D", "C", "median"] + [
        c for c in table.columns if c.startswith(("lo_", "hi_"))] + ["extrapolation"]
    diagnostics = post.check()
    _emit_table(table if (args.json or args.csv) else table[columns], args,
                extra={"fit": args.fit, "group": args.group,
                       "diagnostics": _diagnostics_dict(diagnostics)})
    _announce_gate(diagnostics)
    far = table[table["far"]]
    for point in sorted(set(far["point"])):
        row = far[far["point"] == point].iloc[0]
        _err(f"note: point {point} lies {row['C_vs_max']:.3g}x beyond the largest fitted compute "
             f"({row['N_vs_max']:.3g}x N, {row['D_vs_max']:.3g}x D); its intervals assume the law "
             f"still holds there, which the data cannot check")
    return 0


def _budgets(text):
    from .allocation import log_spaced_budgets

    return log_spaced_budgets(text) if ":" in text else _parse_list(text, "flops")


def _exponents_frame(post):
    table = post.summary(prob=0.9).loc[["a", "b"]]
    return table.reset_index().rename(columns={"index": "exponent"})[
        ["exponent", "median", "q0.05", "q0.95"]]


def cmd_optimal(args):
    from .allocation import compute_for_target, optimal

    if (args.flops is None) == (args.target_loss is None):
        raise ValueError("give --flops BUDGETS or --target-loss LOSSES (one of them)")
    post = _load_fit(args)
    probs = _parse_list(args.probs, "probs")
    if args.flops is not None:
        table = optimal(post, _budgets(args.flops), probs=probs,
                        flops_per_param_token=args.flops_per_param_token)
        title = "Compute-optimal allocation per budget (N*, D*, D*/N*, L*)"
    else:
        table = compute_for_target(post, _parse_list(args.target_loss, "target-loss"),
                                   probs=probs, flops_per_param_token=args.flops_per_param_token)
        title = "Compute needed to reach each target loss at the optimum"
    diagnostics = post.check()
    exponents = _exponents_frame(post)
    _emit_table(table, args, title=title,
                extra={"fit": args.fit, "exponents": _records(exponents),
                       "diagnostics": _diagnostics_dict(diagnostics)})
    if not (args.json or args.csv):
        _emit_table(exponents, args, title="\nAllocation exponents N* ∝ C^a, D* ∝ C^b (90% interval)")
        if args.target_loss is not None:
            for _, row in table.drop_duplicates("target").iterrows():
                if row["p_reachable"] < 1:
                    _err(f"note: target {row['target_loss']:g} is unreachable (at or below the "
                         f"irreducible loss E) in {row['unreachable_draws']} draws "
                         f"({1 - row['p_reachable']:.1%}); intervals are over the other draws")
    _announce_gate(diagnostics)
    return 0


def cmd_plan(args):
    from .allocation import plan

    post = _load_fit(args)
    N, D, C = (_parse_list(args.params, "params"), _parse_list(args.tokens, "tokens"),
               _parse_list(args.flops, "flops"))
    table, facts = plan(post, N=N, D=D, C=C, within=args.within,
                        probs=_parse_list(args.probs, "probs"))
    diagnostics = post.check()
    _emit_table(table, args, title=f"Planned run: N={facts['N']:.3g}, D={facts['D']:.3g}, "
                                   f"C={facts['C']:.3g} FLOP",
                extra={"fit": args.fit, "plan": facts, "diagnostics": _diagnostics_dict(diagnostics)})
    if not (args.json or args.csv):
        print(f"P(planned run within {facts['within']:.0%} of optimal, i.e. the optimal allocation "
              f"would need at least {1 - facts['within']:.0%} of its compute to match its loss): "
              f"{facts['p_within']:.3f}")
    _announce_gate(diagnostics)
    return 0


_BACKTEST_SHOWN = ["median", "lo_90", "hi_90", "rel_error", "in_90"]  # all of them: --csv/--json
_SHORT = {"bayes": "bayes", "bayes+discrepancy": "disc", "huber-bootstrap": "huber"}


def _side_by_side(table):
    """Per-run backtest rows, one line per run with each method's numbers in adjacent columns."""
    keys = ["line", "N", "D", "C", "C_vs_train", "loss"]
    wide = None
    for method, part in table.groupby("method", sort=False):
        part = part[keys + _BACKTEST_SHOWN].rename(
            columns={c: f"{_SHORT[method]}_{c}" for c in _BACKTEST_SHOWN})
        wide = part if wide is None else wide.merge(part, on=keys)
    return wide


def _backtest_figure(path, probs, result=None, table=None):
    """--plot: one backtest run by run, or a rolling one's error and coverage against the
    extrapolation distance; the 90% interval when asked for, else the widest."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from .plots.backtest import plot_backtest, plot_rolling_backtest

    prob = 0.9 if 0.9 in probs else max(probs)
    if result is not None:
        figure = Figure(figsize=(8, 5.5), layout="constrained")
        plot_backtest(result, ax=figure.subplots(), prob=prob)
    else:
        figure = Figure(figsize=(12, 4.8), layout="constrained")
        error, coverage = figure.subplots(1, 2)
        plot_rolling_backtest(table, quantity="error", ax=error)
        plot_rolling_backtest(table, quantity="coverage", ax=coverage, prob=prob)
    figure.savefig(path, format=_image_format(path), dpi=150)
    _err(f"wrote {path}")


def cmd_backtest(args):
    import jax

    from .validation.backtest import backtest, rolling_backtest

    if args.plot:  # before any work
        _image_format(args.plot)
        _check_writable(args.plot, args.force, other="--plot another path")
    runs, _ = _runs_from_args(args)
    _describe_runs(runs)
    compare = () if args.compare == "none" else (args.compare,)
    probs = _parse_list(args.probs, "probs")
    options = dict(key=jax.random.key(args.seed), law=args.law, priors=_priors_from_args(args),
                   likelihood=args.likelihood, config=_sampler_config(args), compare=compare,
                   num_resamples=args.resamples, probs=probs, discrepancy=args.discrepancy)
    if args.rolling:
        if args.holdout_top is not None or args.cutoff_flops is not None:
            raise ValueError("--rolling picks its own cutoffs; drop --holdout-top/--cutoff-flops")
        table, results = rolling_backtest(runs, **options)
        extra = {"diagnostics": [_diagnostics_dict(r.diagnostics) for r in results]}
        _emit_table(table, args, extra=extra, title="Rolling backtest: one row per cutoff and "
                    "method (median_C_vs_train = how far the held-out runs lie beyond the fit)")
        if args.plot:
            _backtest_figure(args.plot, probs, table=table)
        for result in results:
            _announce_gate(result.diagnostics)
        return 0
    if args.holdout_top is None and args.cutoff_flops is None:
        args.holdout_top = 0.2
    result = backtest(runs, holdout_top=args.holdout_top, cutoff_flops=args.cutoff_flops,
                      **options)
    extra = {"cutoff_flops": result.cutoff_flops, "num_train": result.num_train,
             "discrepancy_kappa": result.kappa,
             "summary": _records(result.summary),
             "diagnostics": _diagnostics_dict(result.diagnostics)}
    title = (f"Backtest: fit on {result.num_train} runs with C < {result.cutoff_flops:.4g} FLOPs, "
             f"forecast {len(runs) - result.num_train} held-out runs")
    if args.json or args.csv:
        _emit_table(result.runs, args, extra=extra)
    else:
        _emit_table(_side_by_side(result.runs), args, title=title)
        print()
        _emit_table(result.summary, args, title="Aggregate (lpd: log density of the observed "
                    "log-loss; crps in nats; coverage: share inside the central interval)")
        if result.kappa is not None:
            print(f"extrapolation discrepancy learned from the training runs: kappa = "
                  f"{result.kappa:.3g} (use 'forecast --discrepancy {result.kappa:.3g}')")
    if args.plot:
        _backtest_figure(args.plot, probs, result=result)
    ours = result.summary.set_index("method").loc["bayes"]
    if result.kappa is None and "coverage_90" in ours and ours["coverage_90"] < 0.8:
        _err(f"note: only {ours['coverage_90']:.0%} of held-out runs fell in the 90% intervals; "
             f"the law's error beyond the data is larger than its scatter within it. Try "
             f"--discrepancy (see docs/validation.md)")
    _announce_gate(result.diagnostics)
    return 0


def cmd_sbc(args):
    import jax

    from .validation.sbc import DEFAULT_SBC_CONFIG, sbc

    from .inference.sampler import batch_strategy

    if args.output:
        _check_writable(args.output, args.force, other="--plot another path")
    per_device, devices = batch_strategy(args.batch)
    _err(f"sbc: {args.replicates} fits as one batch, {per_device} on {_devices_line()}")
    result = sbc(key=jax.random.key(args.seed), law=args.law, likelihood=args.likelihood,
                 num_replicates=args.replicates, num_runs=args.runs, max_rank=args.max_rank,
                 config=DEFAULT_SBC_CONFIG, strategy=args.batch)
    table = result.table.assign(uniform_at_1pct=result.table["p_value"] >= 0.01)
    facts = {"replicates": args.replicates, "runs": args.runs, "max_rank": result.max_rank,
             "bins": result.bins, "replicates_with_divergences":
             int((result.divergences > 0).sum()), "passed": result.passed(0.01)}
    _emit_table(table, args, extra=facts, title=(
        f"Simulation-based calibration: {args.replicates} data sets of {args.runs} runs drawn "
        f"from the prior; chi-square test of rank uniformity over {result.bins} bins"))
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        from .plots.checks import plot_sbc

        axes = plot_sbc(result.ranks, result.max_rank, result.names)
        axes.flat[0].figure.savefig(args.output, dpi=120, bbox_inches="tight")
        _err(f"wrote {args.output}")
    if facts["replicates_with_divergences"]:
        _err(f"note: {facts['replicates_with_divergences']} of {args.replicates} replicates had "
             f"divergent transitions")
    if not result.passed(0.01):
        _err("WARNING: ranks are not uniform at the 1% level for: " + ", ".join(
            table.loc[~table["uniform_at_1pct"], "param"]))
        return 1
    return 0


def _fmt_scale(value):
    import numpy as np

    return "beyond range" if np.isinf(value) else f"{value:.3g}"


def _describe_scores(scores, args):
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
    _err(f"emergence: columns: {mapped}" + "".join(f"; {note}" for note in notes))
    for note in scores.dropped:
        _err(f"emergence: {note}")


def cmd_emergence(args):
    import jax

    from .data import parse_points
    from .emergence.fit import DEFAULT_CONFIG, check_threshold_options, fit_emergence, load_scores
    from .inference.sampler import batch_strategy

    scores = load_scores(args.scores, params=args.params_col, tokens=args.tokens_col,
                         flops=args.flops_col,
                         score=args.score_col, task=args.task_col,
                         chance=args.chance_col or args.chance,
                         items=args.items_col or args.items, group=args.group_col,
                         ceiling=args.ceiling, flops_per_param_token=args.flops_per_param_token,
                         where=_join_filters(args.where))
    _describe_scores(scores, args)
    check_threshold_options(args.level, args.margin)  # before the fit, not after it
    at = parse_points(args.at, tokens=False)[0] if args.at else []
    scale_range = _parse_range(args.range)
    loss_post = None
    if args.mean == "loss-linked":
        if not args.loss_fit:
            raise ValueError("--mean loss-linked needs --loss-fit FIT.nc (from 'bayes-scaling fit')")
        from .posterior import Posterior

        loss_post = Posterior.load(args.loss_fit)
    given = dict(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.samples,
                 target_accept=args.target_accept, max_tree_depth=args.max_tree_depth)
    config = dataclasses.replace(DEFAULT_CONFIG,
                                 **{k: v for k, v in given.items() if v is not None})
    per_device, devices = batch_strategy("auto")
    tasks = scores.tasks
    _err(f"emergence: {len(tasks)} task(s), {len(scores)} scores, {args.mean} mean in log "
         f"{args.scale}; one batch, {per_device} on {_devices_line()}")
    fit = fit_emergence(scores, key=jax.random.key(args.seed), mean=args.mean, scale=args.scale,
                        steps=args.steps, loss_posterior=loss_post,
                        tokens_per_param=args.tokens_per_param, config=config)
    report = fit.thresholds(level=args.level, margin=args.margin, scale_range=scale_range,
                            at=at)
    table, at_table = report.table, report.at
    x = args.scale
    for value in at:
        name = f"p_emerged_by_{_fmt_scale(value)}"
        table[name] = [float(at_table[(at_table["task"] == t) & (at_table[x] == value)]
                             ["p_emerged"].iloc[0]) for t in table["task"]]
    diagnostics = fit.check()
    if args.json or args.csv:
        _emit_table(table, args, extra={
            "mean": args.mean, "scale": x, "level": args.level, "interval": 0.9,
            "diagnostics": _records(diagnostics)})
    else:
        shown = table.assign(**{
            f"{x}*_median": [_fmt_scale(v) for v in table[f"{x}_star_median"]],
            f"{x}*_90%": [f"{_fmt_scale(lo)} - {_fmt_scale(hi)}" for lo, hi in
                          zip(table[f"{x}_star_lo"], table[f"{x}_star_hi"])],
            "P(emerged by largest)": table["p_emerged_at_largest"],
            "P(beyond range)": table["p_beyond_range"],
            "diagnostics": ["ok" if ok else "FAILED" for ok in table["diagnostics_ok"]]})
        columns = ["task", "chance", "margin", f"{x}*_median", f"{x}*_90%",
                   "P(emerged by largest)", "P(beyond range)"] + [
            c for c in table.columns if c.startswith("p_emerged_by_")] + ["diagnostics"]
        _emit_table(shown[columns], args, title=(
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
        _err(f"{bar}\nWARNING: {len(failed)} of {len(tasks)} task fits did not pass the "
             f"diagnostics gate; do not trust their thresholds as they are:")
        for _, row in failed.iterrows():
            _err(f"  {row['task']}: {row['problems']}")
        _err(bar)
    return 0


def _parse_range(text):
    if text is None:
        return None
    parts = _parse_list(text.replace(":", ","), "range")
    if len(parts) != 2 or not 0 < parts[0] < parts[1]:
        raise ValueError(f"--range must be LOW:HIGH with 0 < LOW < HIGH, got {text!r}")
    return tuple(parts)


def cmd_summary(args):

    _print_summary(_load_fit(args), args)
    return 0


PLOT_KINDS = ("fit", "residuals", "pairs", "frontier")
IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def _image_format(path):
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_FORMATS:
        raise ValueError(f"{path}: unknown image format {ext or '(no extension)'!r}; "
                         f"use {', '.join(IMAGE_FORMATS)}")
    return IMAGE_FORMATS[ext]


def _frontier_budgets(post, text):
    import numpy as np

    if text is not None:
        return np.asarray(_budgets(text), dtype=float)
    flops = post.runs_table["C"]
    return np.geomspace(flops.min(), 100 * flops.max(), 40)


def cmd_plot(args):
    import matplotlib

    matplotlib.use("Agg")
    import jax
    import matplotlib.pyplot as plt


    image_format = _image_format(args.output)  # before any work
    _check_writable(args.output, args.force)
    post = _load_fit(args)
    if args.kind == "fit":
        from .prediction import forecast
        from .plots.fit import plot_fit
        from .data import parse_points

        forecasts = None
        if args.at:
            N, D = parse_points(args.at)
            forecasts = forecast(post, N=N, D=D, key=jax.random.key(args.seed))
        fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
        color_by = "auto" if args.color_by is None else (
            None if args.color_by == "none" else args.color_by)
        plot_fit(post, ax=ax, x=args.x, color_by=color_by, forecasts=forecasts)
    elif args.kind == "residuals":
        from .plots.fit import plot_residuals

        fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
        plot_residuals(post, args.x, ax=ax)
    elif args.kind == "pairs":
        from .plots.fit import plot_pairs

        fig = plot_pairs(post).flat[0].figure
    else:
        from .plots.planning import plot_frontier

        budgets = _frontier_budgets(post, args.flops)
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
        for ax, quantity in zip(axes, ("N", "D", "loss")):
            plot_frontier(post, budgets, quantity, ax=ax)
    fig.savefig(args.output, format=image_format, dpi=150)
    plt.close(fig)
    _announce_gate(post.check())
    _err(f"wrote {args.output}")
    return 0


def cmd_report(args):
    import matplotlib

    matplotlib.use("Agg")
    import jax

    from .data import parse_points
    from .report import write_report

    out = args.output or os.path.splitext(os.path.basename(args.fit))[0] + "_report.html"
    if os.path.splitext(out)[1].lower() not in (".html", ".htm"):
        raise ValueError(f"{out}: the report is an HTML file; name it *.html")
    _check_writable(out, args.force)
    at = parse_points(args.at) if args.at else None
    budgets = _parse_list(args.flops, "flops") if args.flops else None
    post = _load_fit(args)
    write_report(post, out, key=jax.random.key(args.seed), at=at, budgets=budgets,
                 force=args.force)
    _announce_gate(post.check())
    _err(f"wrote {out}")
    return 0


# -- argument parsing -------------------------------------------------------------------------
def cmd_compare(args):
    import jax

    from .validation.compare import STATEMENT, compare_laws

    laws = [name.strip() for name in args.laws.split(",") if name.strip()]
    if len(laws) < 2:
        raise ValueError(f"--laws needs two or more laws separated by commas, got {args.laws!r}")
    runs, _ = _runs_from_args(args)
    _describe_runs(runs)
    _err(f"comparing {', '.join(laws)}: two fits per law (all runs for LOO, the smaller "
         f"{1 - args.holdout_top:.0%} for the backtest)")
    table = compare_laws(runs, laws, key=jax.random.key(args.seed), holdout_top=args.holdout_top,
                         likelihood=args.likelihood, config=_sampler_config(args))
    _emit_table(table, args, extra={"statement": STATEMENT}, title="Law comparison (best ELPD "
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
            _err(f"warning: {row['law']}: {row['runs_bad_k']} run(s) have Pareto k > 0.7 "
                 f"(max {row['max_pareto_k']:.2f}); its LOO estimate is unreliable there")
        failed = [name for name, ok in (("the fit to all runs (LOO)", row["fit_ok"]),
                                        ("the backtest's fit", row["backtest_ok"])) if not ok]
        if failed:
            _err(f"warning: {row['law']}: {' and '.join(failed)} failed the diagnostics gate; "
                 f"its numbers are not trustworthy (more --warmup/--samples)")
        if row["backtest_coverage_90"] < 0.8:
            _err(f"warning: {row['law']}: only {row['backtest_coverage_90']:.0%} of the held-out "
                 f"runs fell in its 90% intervals: overconfident beyond the data (see "
                 f"'bayes-scaling backtest --discrepancy')")
    return 0


def _add_output_flags(parser, csv=True):
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    if csv:
        formats.add_argument("--csv", action="store_true", help="the table as CSV on stdout")


def _add_fit_flags(parser):
    group = parser.add_argument_group("model and sampler")
    group.add_argument("--law", default="chinchilla", help="scaling law (default chinchilla)")
    group.add_argument("--likelihood", default="student_t", choices=LIKELIHOOD_CHOICES,
                       help="noise on log-loss (default student_t, robust to outliers)")
    group.add_argument("--prior", action="append", metavar="NAME=DIST",
                       help="override a prior, e.g. --prior 'alpha=Beta(2,5)' or --prior nu=5 "
                            "(a number fixes the parameter); repeatable")
    group.add_argument("--prior-file", help="file of NAME=DIST lines")
    _add_sampler_flags(group)
    group.add_argument("--force", action="store_true", help="overwrite existing output files")


def _add_sampler_flags(group):
    group.add_argument("--chains", type=int, default=4)
    group.add_argument("--warmup", type=int, default=1000)
    group.add_argument("--samples", type=int, default=1000, help="draws per chain")
    group.add_argument("--target-accept", type=float,
                       help="NUTS step-size target (default 0.9; pooled fits 0.995)")
    group.add_argument("--seed", type=int, default=0)
    _add_device_flags(group)


def _add_device_flags(parser):
    parser.add_argument("--x64", action="store_true", help="compute in float64")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu", "tpu"),
                        help="where to compute (default auto: an accelerator if JAX has one)")


class _OldColumnFlag(argparse.Action):
    """0.1's spelling of a column flag (``--params COLUMN``): stores into the new flag's dest
    and leaves a note for `main` to print; hidden from --help, goes in 0.3."""

    def __init__(self, option_strings, dest, new, **kwargs):
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        notes = list(getattr(namespace, "deprecations", None) or [])
        notes.append(f"note: {option_string} COLUMN is now {self.new} COLUMN (a column is "
                     f"always --X-col, values --X); the old spelling goes in 0.3")
        namespace.deprecations = notes


def _add_column_flags(group, columns):
    """``--X-col`` flags for ``columns`` (name -> what it holds), with 0.1's ``--X`` hidden."""
    for name, what in columns.items():
        new = f"--{name}-col"
        group.add_argument(new, dest=f"{name}_col", metavar="COLUMN", help=f"column of {what}")
        group.add_argument(f"--{name}", dest=f"{name}_col", action=_OldColumnFlag, new=new)


def _add_runs_flags(parser):
    """The runs to read: a CSV (positional) or --dataset, and how to map its columns."""
    parser.add_argument("runs", nargs="?", help="CSV with one row per trained model")
    parser.add_argument("--dataset", help="a registered public dataset instead of a CSV, e.g. "
                                          "chinchilla-epoch240 (see --data-dir)")
    parser.add_argument("--data-dir", help="directory holding the public datasets "
                                           "(default: $BAYES_SCALING_DATA, then the cache)")
    parser.add_argument("--download", action="store_true", help="download a missing dataset")
    columns = parser.add_argument_group("columns (auto-detected when not given)")
    _add_column_flags(columns, {"params": "parameter counts N", "tokens": "training tokens D",
                                "flops": "training FLOPs C", "loss": "final losses"})
    columns.add_argument("--input", action="append", metavar="NAME=COLUMN",
                         help="a further input a law needs, e.g. --input U=unique_tokens "
                              "(data_constrained) or --input D_1=web --input D_2=code "
                              "(effective_data); repeatable")
    columns.add_argument("--flops-per-param-token", type=float, default=6.0,
                         help="k in C = k*N*D (default 6)")
    columns.add_argument("--where", action="append",
                         help="keep only matching runs, e.g. 'loss < 3.447' or "
                              "'config_id == rw|base' (any column); conditions join with "
                              "'and', and a repeated --where must hold too; the dropped lines "
                              "are reported")


def _fit_file_command(sub, name, help_text, func, probs=True):
    """A subcommand that reads a fit file: the positional FIT, --json/--csv, and --probs."""
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("fit", help="fit file (.nc) from 'bayes-scaling fit'")
    if probs:
        parser.add_argument("--probs", default="0.5,0.9,0.95",
                            help="central interval probabilities")
    parser.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)
    _add_group_flag(parser)
    _add_output_flags(parser)
    parser.set_defaults(func=func)
    return parser


def _add_group_flag(parser):
    parser.add_argument("--group", help="of a pooled fit (fit --group-col): the group to use, "
                                        "or 'new' for a group not in the data")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Bayesian scaling-law fits and forecasts with honest uncertainty.",
        allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # No abbreviations: a typo such as --sample must fail, not silently mean --samples.
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)
    parser.commands = sub.choices  # name -> its parser, for `_parse`'s suggestions

    demo = sub.add_parser("demo", help="simulate a Chinchilla-like sweep, fit it, forecast 70B/1.4T")
    demo.add_argument("--out", help="output directory (default: a new bayes_scaling_demo[-N])")
    _add_fit_flags(demo)
    _add_output_flags(demo, csv=False)  # two tables: as files in --out, or one --json document
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser("fit", help="fit a law to a runs CSV and save the posterior (.nc)")
    _add_runs_flags(fit)
    fit.add_argument("-o", "--output", help="fit file to write (default: <runs>_fit.nc)")
    pooling = fit.add_argument_group("pooling across groups (families, data sets, ...)")
    pooling.add_argument("--group-col", help="column naming each run's group: fit one "
                                             "hierarchical model over the groups")
    pooling.add_argument("--pool", help="parameters partially pooled across groups, e.g. "
                                        "alpha,beta or alpha,beta,E (default: the law's "
                                        "exponents); the others are each group's own")
    _add_fit_flags(fit)
    _add_output_flags(fit)
    fit.set_defaults(func=cmd_fit)

    bt = sub.add_parser("backtest", help="fit below a compute cutoff, forecast the larger runs, "
                                         "score against the Huber+bootstrap baseline")
    _add_runs_flags(bt)
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
    _add_fit_flags(bt)
    _add_output_flags(bt)
    bt.set_defaults(func=cmd_backtest)

    cmp = sub.add_parser("compare", help="compare laws on the same runs: PSIS-LOO (interpolation) "
                                         "and a backtest (extrapolation) side by side")
    _add_runs_flags(cmp)
    group = cmp.add_argument_group("laws and sampler")
    group.add_argument("--laws", required=True,
                       help="comma-separated law names, e.g. chinchilla,kaplan,power_N")
    group.add_argument("--holdout-top", type=float, default=0.2,
                       help="the backtest holds out this fraction of the largest-compute runs")
    group.add_argument("--likelihood", default="student_t", choices=LIKELIHOOD_CHOICES)
    _add_sampler_flags(group)
    _add_output_flags(cmp)
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
    _add_device_flags(sb)
    _add_output_flags(sb)
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
    _add_column_flags(columns, {"params": "parameter counts N", "tokens": "training tokens D",
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
    _add_device_flags(sampler)
    _add_output_flags(em)
    em.set_defaults(func=cmd_emergence)

    fc = _fit_file_command(sub, "forecast", "predictive loss at new (N, D) points with intervals",
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

    opt = _fit_file_command(sub, "optimal", "compute-optimal N*, D*, L* for budgets, or the "
                                            "compute needed for a target loss", cmd_optimal)
    opt.add_argument("--flops", help="budgets: 5.76e23, a list 1e21,1e23, or a log range "
                                     "1e21:1e25:9 (start:stop:count)")
    opt.add_argument("--target-loss", help="target loss(es), e.g. 1.95 or 2.0,1.95")
    opt.add_argument("--flops-per-param-token", type=float,
                     help="k in C = k*N*D (default: the fit's, usually 6)")

    pl = _fit_file_command(sub, "plan", "judge a planned run against the compute-optimal one",
                           cmd_plan)
    pl.add_argument("--params", help="parameters N, e.g. 70B")
    pl.add_argument("--tokens", help="tokens D, e.g. 1.4T")
    pl.add_argument("--flops", help="FLOPs C (with one of the others)")
    pl.add_argument("--within", type=float, default=0.1,
                    help="report P(wasted compute share <= WITHIN) (default 0.1)")

    _fit_file_command(sub, "summary", "reprint a fit's parameter table and diagnostics",
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
    _add_group_flag(pt)
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
    _add_group_flag(rp)
    rp.set_defaults(func=cmd_report)
    return parser


def _parse(argv):
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
    args = _parse(argv)
    for note in getattr(args, "deprecations", None) or []:
        _err(note)
    _configure_jax(x64=args.x64, device=getattr(args, "device", "auto"))
    from .data import RunsError
    from .laws.priors import PriorError

    # Every command announces a failed diagnostics gate itself (loudly, on stderr), so the
    # library's ConvergenceWarning would only repeat it; other warnings still show.
    from .posterior import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    try:
        return args.func(args)
    except (RunsError, PriorError, ValueError, FileExistsError, FileNotFoundError) as err:
        _err(f"bayes-scaling {args.command}: error: {err}")
        return EXIT_INPUT_ERROR
    except BrokenPipeError:  # e.g. piped into `head`: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
