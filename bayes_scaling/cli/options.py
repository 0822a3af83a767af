"""Flags shared by commands and how their values are read: runs, columns, sampler, devices, points."""

from __future__ import annotations

import argparse
import os
import sys

from .output import EXIT_INPUT_ERROR, to_stderr


# The names of `likelihood.LIKELIHOODS`, repeated so that --help need not import NumPyro
# (tests/test_likelihood.py checks that the two agree).
LIKELIHOOD_CHOICES = ("student_t", "normal")


def configure_jax(x64=False, device="auto"):
    """Set up JAX before its first import: the platform, one CPU device per core, the
    persistent compile cache and the precision.

    Through JAX's environment variables, without importing it: an error about the input then
    comes before the second it takes to import JAX. (Options are applied directly when JAX is
    already imported in this process, as when `main` is called from Python; ``--device gpu``
    or ``tpu`` imports it to check that such a device is there.)
    """
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        # Lets the sampler run chains on all cores (a no-op for GPU/TPU backends).
        cores = max(os.cpu_count() or 1, 1)
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores}".strip()
    options = {}
    if os.environ.get("BAYES_SCALING_NO_CACHE") is None:
        options["jax_compilation_cache_dir"] = os.environ.get("BAYES_SCALING_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
            "bayes_scaling", "jax")
        # Every program, not only the sampler's (JAX's default keeps those over 1 s): a warm
        # fit otherwise compiled some 75 small ones again each time (2.6 s; 14.5 -> 11 s warm,
        # measured; the cache holds 1.5 MB for them).
        options["jax_persistent_cache_min_compile_time_secs"] = 0.0
    if x64:
        options["jax_enable_x64"] = True
    if "jax" in sys.modules:
        for name, value in options.items():
            sys.modules["jax"].config.update(name, value)
    else:
        for name, value in options.items():
            os.environ[name.upper()] = str(value).lower() if value is True else str(value)
    if device not in ("auto", "cpu"):
        import jax

        if jax.default_backend() != device:
            to_stderr(f"bayes-scaling: error: --device {device} asked for, but JAX found only "
                      f"{jax.default_backend()} device(s); install JAX with {device} support (see "
                      f"JAX's install guide) or use --device auto")
            sys.exit(EXIT_INPUT_ERROR)


def devices_line():
    """Which devices the engine uses, e.g. '2 cpu devices' or '1 gpu device (NVIDIA H100)'."""
    import jax

    devices = jax.local_devices()
    kinds = sorted({d.device_kind for d in devices})
    plural = "s" if len(devices) > 1 else ""
    described = "" if jax.default_backend() == "cpu" else f" ({', '.join(kinds)})"
    return f"{len(devices)} {jax.default_backend()} device{plural}{described}"


def sampler_config(args):
    """The sampler flags as a `SamplerConfig`; the defaults of flags not given are the
    library's (a pooled fit's own: `inference.pooled.pooled_config`)."""
    from ..inference.pooled import pooled_config
    from ..inference.sampler import SamplerConfig

    settings = dict(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.samples,
                    progress_bar=sys.stderr.isatty() and not getattr(args, "quiet", False))
    if args.target_accept is not None:
        settings["target_accept"] = args.target_accept
    return (pooled_config if getattr(args, "group_col", None) else SamplerConfig)(**settings)


def priors_from_args(args):
    from ..laws.priors import parse_priors, read_prior_file

    priors = read_prior_file(args.prior_file) if args.prior_file else {}
    return {**priors, **parse_priors(args.prior or [])}  # --prior overrides the file


def load_fit(args):
    """The posterior in ``args.fit``; of a pooled fit, the group named by ``--group`` (``new``:
    a group not in the data, drawn from the population). ``summary`` shows a pooled fit whole."""
    import jax

    from ..inference.pooled import PooledPosterior
    from ..posterior import Posterior

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
            to_stderr(f"note: the population is estimated from only {len(post.groups)} groups, so "
                 f"its spread between groups is poorly known and a new group's intervals are wide")
        return post.for_new_group(jax.random.key(getattr(args, "seed", 0)))
    return post.for_group(group)


def join_filters(filters):
    """Repeated --where options: every one must hold (None when there are none)."""
    return " and ".join(filters) if filters else None


def runs_from_args(args):
    """The runs named on the command line (a CSV or --dataset) and a short name for them."""
    from ..data import load_runs
    from ..datasets import load_dataset

    if (args.runs is None) == (args.dataset is None):
        raise ValueError("give a runs CSV file or --dataset NAME (one of them)")
    options = dict(params=args.params_col, tokens=args.tokens_col, flops=args.flops_col,
                   loss=args.loss_col, flops_per_param_token=args.flops_per_param_token,
                   units=units_from_args(args), loss_kind=args.loss_kind, accept_units=args.accept_units,
                   ignore=args.ignore_col or (), dedupe=args.dedupe, sep=args.sep)
    if args.where:
        options["where"] = join_filters(args.where)
    if args.input:
        options["inputs"] = input_columns(args.input)
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


def input_columns(specs):
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


def pool_names(text):
    """``--pool alpha,beta`` as a tuple (None: the default, the law's exponents)."""
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"--pool needs parameter names separated by commas, got {text!r}")
    return names


def parse_list(text, flag):
    from ..data import parse_number

    if text is None:
        return None
    try:
        return [parse_number(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise ValueError(f"--{flag}: {err}") from None


def parse_discrepancy(text):
    """``--discrepancy``: "sweep" (the default: the field's κ updated by the fit's own internal
    backtest, kept in the fit file), "field" (the field's alone), "none" or 0 (the plain
    posterior predictive), or a number κ >= 0."""
    word = text.strip().lower()
    if word in ("sweep", "field"):
        return word
    if word == "none":
        return 0.0
    try:
        kappa = float(text)
    except ValueError:
        raise ValueError(f"--discrepancy must be 'sweep', 'field', 'none' or a number KAPPA >= 0, "
                         f"got {text!r}") from None
    if not kappa >= 0:
        raise ValueError(f"--discrepancy must be >= 0, got {text}")
    return kappa


def add_discrepancy_flag(parser, where):
    """``--discrepancy`` for a command that forecasts beyond the data; ``where`` says how it
    enters the command's answer."""
    parser.add_argument("--discrepancy", default="sweep", metavar="sweep|field|none|KAPPA",
                        help=f"the law's own error beyond the data, {where}: 'sweep' (default) "
                             "draws kappa from the distribution learned across public sweeps "
                             "(docs/validation.md) updated by the internal backtest 'fit' ran on "
                             "this fit's runs, 'field' uses the public sweeps' alone, 'none' takes "
                             "the law as exact, a number is a fixed kappa in nats of log-loss per "
                             "e-fold beyond the data")


def discrepancy_note(table, discrepancy, post):
    """What the observed intervals include beyond the data, in plain words, for stderr."""
    from ..discrepancy import resolve_discrepancy
    from ..prediction import spread_notes

    notes = spread_notes(table)
    if not notes:
        return None
    kappa = resolve_discrepancy(discrepancy, post)
    if kappa.is_zero:
        return ("note: the observed intervals are the plain posterior predictive: they leave out "
                "the law's own error beyond the data (the default, --discrepancy sweep, adds it)")
    where = kappa.origin()
    return "\n  ".join([f"note: beyond the data the observed intervals include the law's own "
                        f"error, growing with the distance: {kappa.describe()} ({where}; "
                        f"--discrepancy none leaves it out)", *notes])


def point_inputs(path, names):
    """The columns of a --points file named like the law's further inputs (e.g. ``U``)."""
    import pandas as pd

    from ..data import parse_number

    frame = pd.read_csv(path)
    try:
        return {name: [parse_number(str(v)) for v in frame[name]] for name in names
                if name in frame.columns}
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def budgets(text):
    from ..allocation import log_spaced_budgets

    return log_spaced_budgets(text) if ":" in text else parse_list(text, "flops")


def parse_range(text):
    if text is None:
        return None
    parts = parse_list(text.replace(":", ","), "range")
    if len(parts) != 2 or not 0 < parts[0] < parts[1]:
        raise ValueError(f"--range must be LOW:HIGH with 0 < LOW < HIGH, got {text!r}")
    return tuple(parts)


def frontier_budgets(post, text):
    import numpy as np

    if text is not None:
        return np.asarray(budgets(text), dtype=float)
    flops = post.runs_table["C"]
    return np.geomspace(flops.min(), 100 * flops.max(), 40)


class OldColumnFlag(argparse.Action):
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


def add_column_flags(group, columns):
    """``--X-col`` flags for ``columns`` (name -> what it holds), with 0.1's ``--X`` hidden."""
    for name, what in columns.items():
        new = f"--{name}-col"
        group.add_argument(new, dest=f"{name}_col", metavar="COLUMN", help=f"column of {what}")
        group.add_argument(f"--{name}", dest=f"{name}_col", action=OldColumnFlag, new=new)


def add_output_flags(parser, csv=True):
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    if csv:
        formats.add_argument("--csv", action="store_true", help="the table as CSV on stdout")


def add_fit_flags(parser):
    group = parser.add_argument_group("model and sampler")
    group.add_argument("--law", default="chinchilla", help="scaling law (default chinchilla)")
    group.add_argument("--likelihood", default="student_t", choices=LIKELIHOOD_CHOICES,
                       help="noise on log-loss (default student_t, robust to outliers)")
    group.add_argument("--prior", action="append", metavar="NAME=DIST",
                       help="override a prior, e.g. --prior 'alpha=Beta(2,5)' or --prior nu=5 "
                            "(a number fixes the parameter); repeatable")
    group.add_argument("--prior-file", help="file of NAME=DIST lines")
    add_sampler_flags(group)
    group.add_argument("--force", action="store_true", help="overwrite existing output files")



def add_remedy_flags(parser, budget_s=120, budget_name="inference.remedy.REMEDY_BUDGET_S",
                     sweep_evidence=True):
    """--no-remedy and --remedy-budget (what a fit that fails the gate may try; ``budget_s``
    is the default named ``budget_name``, kept here as a number so that building the parser
    imports no JAX) and, with ``sweep_evidence``, --no-sweep-evidence (skip the internal
    backtest), for the commands that fit."""
    group = parser.add_argument_group("when the fit fails the diagnostics gate")
    group.add_argument("--no-remedy", action="store_true",
                       help="do not refit with the standard remedy (higher target acceptance "
                            "after divergences, another key for a stuck chain, twice the draws "
                            "for R-hat or ESS); by default up to two are tried and said")
    group.add_argument("--remedy-budget", type=float, metavar="SECONDS",
                       help=f"wall time for the fit and its remedies together (default "
                            f"{budget_s:g}, {budget_name})")
    if sweep_evidence:
        parser.add_argument("--no-sweep-evidence", action="store_true",
                            help="skip the internal backtest (one fit fewer) that measures how "
                                 "far the law held beyond these runs' own smaller ones; "
                                 "forecasts then take the law's error beyond the data from the "
                                 "public sweeps alone")


def add_sampler_flags(group):
    group.add_argument("--chains", type=int, default=4)
    group.add_argument("--warmup", type=int, default=1000)
    group.add_argument("--samples", type=int, default=1000, help="draws per chain")
    group.add_argument("--target-accept", type=float,
                       help="NUTS step-size target (default 0.9; pooled fits 0.995)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--quiet", action="store_true",
                       help="no progress bar (it is shown only on a terminal anyway)")
    add_device_flags(group)


def add_device_flags(parser):
    parser.add_argument("--x64", action="store_true", help="compute in float64")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu", "tpu"),
                        help="where to compute (default auto: an accelerator if JAX has one)")


def add_runs_flags(parser):
    """The runs to read: a CSV (positional) or --dataset, and how to map its columns."""
    parser.add_argument("runs", nargs="?", help="CSV with one row per trained model")
    parser.add_argument("--dataset", help="a registered public dataset instead of a CSV, e.g. "
                                          "chinchilla-epoch240 (see --data-dir)")
    parser.add_argument("--data-dir", help="directory holding the public datasets "
                                           "(default: $BAYES_SCALING_DATA, then the cache)")
    parser.add_argument("--download", action="store_true", help="download a missing dataset")
    columns = parser.add_argument_group("columns (auto-detected when not given)")
    add_column_flags(columns, {"params": "parameter counts N", "tokens": "training tokens D",
                                "flops": "training FLOPs C", "loss": "final losses"})
    columns.add_argument("--input", action="append", metavar="NAME=COLUMN",
                         help="a further input a law needs, e.g. --input U=unique_tokens "
                              "(data_constrained) or --input D_1=web --input D_2=code "
                              "(effective_data); repeatable")
    columns.add_argument("--flops-per-param-token", type=float, default=6.0,
                         help="k in C = k*N*D (default 6)")
    columns.add_argument("--where", action="append",
                         help="keep only matching runs, e.g. 'loss < 3.447' or "
                              "'config_id == rw|base' (any column), before the values are "
                              "checked; conditions join with 'and', and a repeated --where "
                              "must hold too; the dropped lines are reported")
    columns.add_argument("--ignore-col", action="append", metavar="COLUMN",
                         help="leave this column out (e.g. a FLOPs column that counts something "
                              "else); repeatable. --flops-col none does the same for FLOPs")
    columns.add_argument("--dedupe", action="store_true",
                         help="drop rows that repeat an earlier run exactly (reported), "
                              "instead of refusing them")
    columns.add_argument("--sep", help="the delimiter of the file, e.g. ';' or tab (default: "
                                       "sniffed from the first lines)")
    add_unit_flags(parser)


def add_unit_flags(parser, loss=True):
    """--params-unit, --tokens-unit, --flops-unit, --accept-units (and --loss-kind)."""
    units = parser.add_argument_group(
        "units (checked: values that look like a unit mistake are refused with the flag to use)")
    units.add_argument("--params-unit", metavar="UNIT",
                       help="the unit of the parameter counts: K, M, B, T, P (thousands ... "
                            "quadrillions) or log10; a unit in the column's name, as in "
                            "'Model Size (B)', is read without this")
    units.add_argument("--tokens-unit", metavar="UNIT",
                       help="the unit of the training tokens (as --params-unit)")
    units.add_argument("--flops-unit", metavar="UNIT",
                       help="the unit of the FLOPs (as --params-unit)")
    if loss:
        units.add_argument("--loss-kind", choices=("loss", "perplexity", "percent"),
                           default="loss",
                           help="what the loss column holds (default loss, in nats or bits); "
                                "perplexity is converted with log, percent divided by 100")
    units.add_argument("--accept-units", action="store_true",
                       help="keep values whose scale looks like a unit mistake (with a "
                            "warning): they are right, only unusual")


def units_from_args(args):
    """The declared units of N, D, C: ``{"N": "B"}`` for --params-unit B."""
    return {name: unit for name, unit in (("N", args.params_unit), ("D", args.tokens_unit),
                                          ("C", args.flops_unit)) if unit}


def fit_file_command(sub, name, help_text, func, probs=True):
    """A subcommand that reads a fit file: the positional FIT, --json/--csv, and --probs."""
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("fit", help="fit file (.nc) from 'bayes-scaling fit'")
    if probs:
        parser.add_argument("--probs", default="0.5,0.9,0.95",
                            help="central interval probabilities")
    parser.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)
    add_group_flag(parser)
    add_output_flags(parser)
    parser.set_defaults(func=func)
    return parser


def add_group_flag(parser):
    parser.add_argument("--group", help="of a pooled fit (fit --group-col): the group to use, "
                                        "or 'new' for a group not in the data")


FEW_GROUPS = 5  # below it, `--group new` says the population rests on few groups
