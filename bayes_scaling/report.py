"""One self-contained HTML report of a fit: a file to share that opens offline.

It holds the verdict of the diagnostics gate, warnings in plain words (a failed gate,
forecasts far beyond the data, a posterior pressing against a bound of its prior, residuals that
drift with N, D or C), a summary of
the data, the priors, the parameter table with its diagnostics, the fit, residual and pair
plots (PNG images embedded as base64 data URIs), forecasts at the points asked for, and the
compute-optimal allocation for a few budgets. No external resource is referenced: no scripts,
fonts, style sheets or images from elsewhere.

Example
-------
>>> import jax, bayes_scaling as bs
>>> post = bs.fit(bs.simulate(jax.random.key(0)), key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> from bayes_scaling.data import parse_points
>>> page = render_report(post, key=jax.random.key(2), at=parse_points("700B:14T"))
>>> page.startswith("<!DOCTYPE html>"), 'id="warnings"' in page  # 700B/14T: far out
(True, True)
>>> [w.kind for w in report_warnings(post, key=jax.random.key(3))]  # the fit itself: none
[]
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import tempfile
import warnings
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import __version__
from .allocation import ALLOCATION_LAWS, optimal
from .discrepancy import resolve_discrepancy
from .validation.checks import replicated_log_losses
from .errors import ConvergenceWarning, PriorError
from .prediction import FAR_EXTRAPOLATION, forecast, spread_notes
from .plots.fit import SIZES, law_losses, plot_fit, plot_pairs, plot_residuals
from .posterior import GATE
from .laws.priors import parse_prior

__all__ = ["render_report", "write_report", "report_warnings", "residual_trends",
           "ReportWarning", "TREND_LEVEL", "default_budgets"]

BOUND_SHARE = 0.01  # posterior share within 5% of its 1-99% range of a prior bound: "pressing"
TREND_LEVEL = 0.05  # family-wise level of the residual-trend check (over all its bins)
TREND_BINS = 8  # bins per axis, as in plot_residuals
TREND_MIN_RUNS = 3  # bins with fewer runs are not tested (nor drawn)


class ReportWarning(NamedTuple):
    """One warning of the report: ``kind`` is "gate", "extrapolation", "prior-bound" or
    "residual-trend"."""

    kind: str
    text: str


# -- inputs --------------------------------------------------------------------------------------
def default_budgets(post):
    """Powers of ten from the fitted runs' median compute up to `FAR_EXTRAPOLATION` times
    their largest one (at most six).

    Examples
    --------
    See the module example, which runs it.
    """
    flops = post.runs_table["C"].to_numpy()
    first = math.floor(math.log10(np.median(flops)))
    last = math.floor(math.log10(FAR_EXTRAPOLATION * flops.max()))
    return [10.0 ** e for e in range(first, last + 1)][-6:]


# -- warnings ------------------------------------------------------------------------------------
def _prior_bound_warnings(post):
    found = []
    for name, text in post.attrs.get("priors", {}).items():
        if text.startswith("fixed") or name not in post.idata.posterior:
            continue
        try:
            prior = parse_prior(f"{name}={text}")[name]
        except PriorError:
            continue
        values = post.idata.posterior[name].values.reshape(-1)
        low, high = np.quantile(values, [0.01, 0.99])
        near = 0.05 * (high - low)
        support = prior.support
        for side, bound in (("lower", getattr(support, "lower_bound", None)),
                            ("upper", getattr(support, "upper_bound", None))):
            if bound is None or not np.isfinite(float(np.asarray(bound))):
                continue
            share = float(np.mean(np.abs(values - float(np.asarray(bound))) <= near))
            if share > BOUND_SHARE:
                found.append(ReportWarning("prior-bound", (
                    f"The posterior of {name} presses against the {side} bound {float(bound):g} "
                    f"of its prior {text}: {share:.0%} of the draws lie next to it. The data "
                    f"push {name} towards a value the prior rules out; the law may not suit "
                    f"these runs, or the prior is too narrow.")))
    return found


def _bins(values, bins):
    """Index of each run's bin among ``bins`` equal bins of log ``values`` (as plot_residuals)."""
    log_v = np.log(values)
    edges = np.linspace(log_v.min(), log_v.max(), int(bins) + 1)
    return np.clip(np.searchsorted(edges, log_v, side="right") - 1, 0, int(bins) - 1)


def residual_trends(post, *, key, bins=TREND_BINS):
    """Do the residuals drift with N, D or C beyond what the model allows? A test per bin.

    The runs are cut into ``bins`` equal bins of log N, of log D and of log C (the bins of
    `plots.fit.plot_residuals`; bins of fewer than 3 runs are left out). In each bin the
    statistic is the median residual: observed log-loss minus the posterior median of the
    law's log-loss (`plots.fit.fit_residuals`). What it would be if the model were right comes
    from replicated data (`validation.checks.replicated_losses`: per posterior draw, the law plus the
    fitted noise) put through the same residuals and medians. Each bin's median is standardised
    by the median and the scaled median absolute deviation of its replicates (robust to the
    Student-t's heavy tails), and its p-value adjusted for the bins of its axis by the max-T
    method (Westfall & Young 1993): the share of replicates whose *largest* standardised bin
    median on that axis is at least as far out, with the usual +1 correction (so with S draws
    it is at least 1/(S + 1)). That controls the false-alarm rate over the bins of an axis
    exactly, however they are correlated; the result is then Bonferroni-adjusted over the axes.
    A bin with an adjusted p-value below `TREND_LEVEL` shows a trend, a part of the runs that
    the law misses. Posterior predictive p-values are conservative (the fit has seen the runs),
    so a well-specified fit raises such a warning in fewer than 5% of data sets.

    Parameters
    ----------
    post : Posterior
    key : jax.random key
        For the replicated noise.
    bins : int
        Bins per axis.

    Returns
    -------
    pandas.DataFrame
        One row per bin tested: ``axis`` (N, D or C), ``low`` and ``high`` (its runs' extreme
        values), ``runs``, ``median_residual`` (log-loss), ``z`` (standardised), ``p_adjusted``
        and ``trend`` (p_adjusted < TREND_LEVEL). Axes without finite values (e.g. N and C of a
        law of D alone) are left out.

    Examples
    --------
    With ``post`` a fit as in the module example (which runs this): a well-specified fit
    shows no trend, ``residual_trends(post, key=jax.random.key(3))["trend"].any()`` is False.
    """
    table = post.runs_table
    reference = np.median(np.log(law_losses(post, {n: table[n].to_numpy() for n in SIZES})),
                          axis=0)
    observed = np.log(table["loss"].to_numpy()) - reference
    # log-losses directly: with a heavy-tailed fit (Student-t, ν near 1) exp() of a replicate
    # can overflow, and its log would come back as inf or -inf
    post.warn_if_unconverged("checking residual trends", stacklevel=3)
    replicated = replicated_log_losses(post, key).reshape(-1, len(table)) - reference
    axes = [a for a in SIZES if np.all(np.isfinite(table[a])) and np.all(table[a] > 0)]
    rows = []
    for axis in axes:
        values = table[axis].to_numpy(dtype=np.float64)
        which = _bins(values, bins)
        masks = [which == b for b in range(int(bins)) if np.sum(which == b) >= TREND_MIN_RUNS]
        obs = np.array([np.median(observed[m]) for m in masks])
        rep = np.column_stack([np.median(replicated[:, m], axis=1) for m in masks])
        centre = np.median(rep, axis=0)
        scale = 1.4826 * np.median(np.abs(rep - centre), axis=0)
        z_obs, z_rep = (obs - centre) / scale, np.abs(rep - centre) / scale
        largest = z_rep.max(axis=1)  # per replicate, the largest over this axis's bins
        for m, o, z in zip(masks, obs, z_obs):
            p = (1 + np.sum(largest >= abs(z))) / (1 + len(largest))
            rows.append({"axis": axis, "low": values[m].min(), "high": values[m].max(),
                         "runs": int(m.sum()), "median_residual": float(o), "z": float(z),
                         "p_adjusted": min(1.0, p * len(axes))})
    found = pd.DataFrame(rows, columns=["axis", "low", "high", "runs", "median_residual", "z",
                                        "p_adjusted"])
    found["trend"] = found["p_adjusted"] < TREND_LEVEL
    return found


TREND_NAMES = {"N": "model size N", "D": "training tokens D", "C": "training compute C"}


def _trend_warnings(trends):
    found = []
    for axis, part in trends[trends["trend"]].groupby("axis", sort=False):
        where = "; ".join(
            f"the {row.runs} runs with {axis} from {row.low:.3g} to {row.high:.3g} lie "
            f"{100 * abs(math.expm1(row.median_residual)):.1f}% "
            f"{'above' if row.median_residual > 0 else 'below'} the fitted law on median "
            f"(adjusted p = {row.p_adjusted:.2g})" for row in part.itertuples())
        found.append(ReportWarning("residual-trend", (
            f"The residuals drift with {TREND_NAMES[axis]}: {where}, further than the fitted "
            f"noise and the law's uncertainty allow (a test per bin of the residual plots, "
            f"adjusted for testing all {len(trends)} bins). The law misses a pattern in "
            f"these runs, and its forecasts beyond the data may be off in the same direction; "
            f"look at the residual plots, and consider another law or leaving these runs "
            f"out.")))
    return found


def report_warnings(post, forecasts=None, budgets=None, *, key=None):
    """The report's warnings, in plain words: a list of `ReportWarning` (empty when all is well).

    A failed diagnostics gate; forecast points (a `forecast` table) or budgets beyond
    `FAR_EXTRAPOLATION` times the largest fitted run; a posterior pressing against a bound of
    its prior; and, given a ``key`` (for replicated data), residuals that drift with N, D or C
    (`residual_trends`).

    Examples
    --------
    See the module example, which runs it.
    """
    found = []
    diagnostics = post.check()
    if not diagnostics.ok:
        found.append(ReportWarning("gate", (
            "The sampler did not converge by the diagnostics gate: "
            + "; ".join(diagnostics.problems) + ". Do not trust the numbers in this report as "
            "they are. Fit again with more warmup and draws (--warmup, --samples) or a higher "
            "--target-accept, and look at the priors.")))
    table = post.runs_table
    if forecasts is not None:
        rows = forecasts.drop_duplicates("point")
        for _, row in rows.iterrows():
            worst = max(row["N_vs_max"], row["D_vs_max"], row["C_vs_max"])
            if worst > FAR_EXTRAPOLATION:
                found.append(ReportWarning("extrapolation", (
                    f"Forecast point {int(row['point'])} (N = {row['N']:.3g}, D = "
                    f"{row['D']:.3g}) lies far beyond the data: {row['C_vs_max']:.3g}x the "
                    f"largest fitted compute ({row['N_vs_max']:.3g}x N, {row['D_vs_max']:.3g}x "
                    f"D). Its intervals assume the law still holds there, which the data cannot "
                    f"check.")))
    for budget in budgets or ():
        if budget > FAR_EXTRAPOLATION * table["C"].max():
            found.append(ReportWarning("extrapolation", (
                f"The budget {budget:.3g} FLOP is {budget / table['C'].max():.3g}x the largest "
                f"fitted compute; its compute-optimal allocation extrapolates the law far beyond "
                f"the data.")))
    if key is not None:
        found += _trend_warnings(residual_trends(post, key=key))
    return found + _prior_bound_warnings(post)


# -- pieces of the page --------------------------------------------------------------------------
def _figure_uri(figure, dpi=100):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(post, forecasts):
    """(title, data URI, caption) of the fit, residual and pair plots."""
    out = []
    figure = Figure(figsize=(13, 5.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    inputs = set(post.law.inputs)
    x_left = "N" if "N" in inputs else post.law.inputs[0]
    plot_fit(post, ax=left, x=x_left, forecasts=forecasts)
    if post.law.name in ALLOCATION_LAWS:
        plot_fit(post, ax=right, x="C", forecasts=forecasts)
    else:
        plot_residuals(post, "C" if "C" in inputs else x_left, ax=right)
    out.append(("The fit", _figure_uri(figure), (
        "Runs with the law's posterior median (lines) and 50%/90% credible bands of the "
        "expected loss; hatched grey: beyond the largest fitted run, where the law is "
        "extrapolated. "
        "Black diamonds: forecasts with the 90% interval of the observed loss.")))
    figure = Figure(figsize=(15, 4.4), layout="constrained")
    for ax, against in zip(figure.subplots(1, 3), ("N", "D", "C")):
        plot_residuals(post, against, ax=ax)
    out.append(("Residuals", _figure_uri(figure), (
        "Each run's log-loss minus the fitted law's; grey: the 90% interval of the fitted "
        "noise. A trend in the binned median (blue), rather than scatter around 0, is a misfit; "
        "the warnings say when a bin's median lies further out than the model allows.")))
    names = [n for n in post.law.param_names if n in set(post.param_names)]
    if len(names) >= 2:
        figure = Figure(figsize=(1.9 * len(names), 1.9 * len(names)), layout="constrained")
        plot_pairs(post, names, axes=figure.subplots(len(names), len(names)))
        out.append(("Posterior of the parameters", _figure_uri(figure, dpi=80), (
            "Marginal histograms (median and 90% interval dashed) and pairwise draws.")))
    return out


def _table(frame, digits=4):
    return frame.to_html(index=False, border=0, classes="table", na_rep="–",
                         float_format=lambda v: f"{v:.{digits}g}")


def _data_section(post):
    table = post.runs_table.assign(**{"D/N": lambda t: t["D"] / t["N"]})
    rows = pd.DataFrame({"quantity": ["N (parameters)", "D (tokens)", "C (FLOP)", "loss",
                                      "tokens per parameter D/N"],
                         "min": table.min().to_numpy(), "median": table.median().to_numpy(),
                         "max": table.max().to_numpy()})
    attrs = post.attrs
    notes = [f"{len(table)} runs from {html.escape(str(attrs.get('source', '?')))}; C = "
             f"{post.flops_per_param_token:g}·N·D."]
    if attrs.get("columns"):
        notes.append("Columns: " + html.escape(", ".join(
            f"{k} ← {v!r}" for k, v in attrs["columns"].items())) + ".")
    notes += [html.escape(str(note)) for note in attrs.get("dropped") or []]
    return "".join(f"<p>{n}</p>" for n in notes) + _table(rows)


def _diagnostics_table(diagnostics):
    checks = [("max R-hat", f"{diagnostics.max_r_hat:.4f}", f"≤ {GATE['r_hat']}",
               diagnostics.max_r_hat <= GATE["r_hat"]),
              ("min bulk ESS", f"{diagnostics.min_ess_bulk:.0f}", f"≥ {GATE['ess']}",
               diagnostics.min_ess_bulk >= GATE["ess"]),
              ("min tail ESS", f"{diagnostics.min_ess_tail:.0f}", f"≥ {GATE['ess']}",
               diagnostics.min_ess_tail >= GATE["ess"]),
              ("divergent transitions", f"{diagnostics.divergences}", "0",
               diagnostics.divergences <= GATE["divergences"]),
              ("min E-BFMI", f"{diagnostics.min_bfmi:.2f}", f"≥ {GATE['bfmi']}",
               diagnostics.min_bfmi >= GATE["bfmi"])]
    return _table(pd.DataFrame(
        [(name, value, need, "pass" if ok else "FAIL") for name, value, need, ok in checks],
        columns=["check", "value", "needed", "result"]))


def _forecast_table(forecasts):
    shown = forecasts.copy()
    shown["beyond the data"] = [
        "within" if max(n, d, c) <= 1 else f"{c:.3g}x C, {n:.3g}x N, {d:.3g}x D"
        for n, d, c in zip(shown["N_vs_max"], shown["D_vs_max"], shown["C_vs_max"])]
    columns = ["point", "quantity", "N", "D", "C", "median"] + [
        c for c in shown.columns if c.startswith(("lo_", "hi_"))] + ["beyond the data"]
    return _table(shown[columns])


def _interval(row, prob=0.9):
    lo, hi = f"lo_{100 * prob:g}", f"hi_{100 * prob:g}"
    return f"{row['median']:.3g} ({row[lo]:.3g} – {row[hi]:.3g})"


def _optimal_section(post, budgets):
    if post.law.name not in ALLOCATION_LAWS:
        return (f"<p>The {html.escape(post.law.name)} law has no closed-form compute-optimal "
                f"allocation; this section needs a Chinchilla fit.</p>")
    table = optimal(post, budgets, probs=(0.9,))
    largest = post.runs_table["C"].max()
    rows = []
    for budget, part in table.groupby("C", sort=True):
        by = part.set_index("quantity")
        rows.append({"budget C (FLOP)": f"{budget:.3g}",
                     "N* parameters": _interval(by.loc["N"]), "D* tokens": _interval(by.loc["D"]),
                     "D*/N*": _interval(by.loc["tokens_per_param"]),
                     "L* expected loss": _interval(by.loc["loss"]),
                     "vs largest fitted C": f"{budget / largest:.3g}x"})
    return ("<p>Median and 90% credible interval per budget (C = "
            f"{post.flops_per_param_token:g}·N·D).</p>" + _table(pd.DataFrame(rows)))


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; color: #222;
       padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
.verdict { padding: .8em 1em; border-radius: 6px; font-weight: 600; }
.verdict.pass { background: #e3f2ea; border: 2px solid #009E73; }
.verdict.fail { background: #fbe9e0; border: 2px solid #D55E00; }
#warnings { background: #fff4e0; border: 2px solid #E69F00; border-radius: 6px;
            padding: .2em 1.2em; }
#warnings li.gate { font-weight: 600; color: #8a2c00; }
table.table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
table.table th, table.table td { padding: .25em .7em; border-bottom: 1px solid #ddd;
                                 text-align: right; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { color: #555; font-size: .9em; }
"""


def render_report(post, *, key, at=None, budgets=None, title=None):
    """The HTML text of a report of ``post``.

    Parameters
    ----------
    post : Posterior
    key : jax.random key
        For the observation noise of the forecasts.
    at : tuple of (N list, D list), optional
        Points to forecast, e.g. from `data.parse_points`; none by default.
    budgets : sequence of float, optional
        Budgets (FLOPs) of the compute-optimal table; default `default_budgets`.
    title : str, optional
        Heading; default names the law and the data.

    Returns
    -------
    str
        A complete HTML document with every image embedded.

    Warns
    -----
    ConvergenceWarning
        When the posterior fails the diagnostics gate (the report's warnings say so too).

    Examples
    --------
    See the module example, which runs it.
    """
    diagnostics = post.warn_if_unconverged("reporting", stacklevel=3)
    budgets = default_budgets(post) if budgets is None else [float(b) for b in budgets]
    key_forecast, key_trends = jax.random.split(key)
    with warnings.catch_warnings():  # announced once above and in the page itself
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        forecasts = None if at is None else forecast(post, N=at[0], D=at[1], key=key_forecast)
        found = report_warnings(post, forecasts, budgets, key=key_trends)
        figures = _figures(post, forecasts)
        optimal_html = _optimal_section(post, budgets)
    attrs = post.attrs
    title = title or f"{post.law.name} law fitted to {html.escape(str(attrs.get('source')))}"
    verdict = ("pass", "PASS: the sampler converged by every check of the diagnostics gate.")
    if not diagnostics.ok:
        verdict = ("fail", "FAIL: the fit did not pass the diagnostics gate; see the warnings.")
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
             f"<h1>{html.escape(title)}</h1>",
             f"<p class=\"verdict {verdict[0]}\" id=\"verdict\">{verdict[1]}</p>"]
    if found:
        items = "".join(f"<li class=\"{w.kind}\">{html.escape(w.text)}</li>" for w in found)
        parts.append(f"<section id=\"warnings\"><h2>Warnings</h2><ul>{items}</ul></section>")
    sampler = attrs.get("sampler", {})
    priors = pd.DataFrame(list(attrs.get("priors", {}).items()), columns=["parameter", "prior"])
    summary = post.summary(prob=0.9).reset_index().rename(columns={"index": "parameter"})
    parts += [
        "<section id=\"data\"><h2>Data</h2>" + _data_section(post) + "</section>",
        "<section id=\"model\"><h2>Model and priors</h2>"
        f"<p>Law {html.escape(post.law.name)} ({html.escape(post.law.reference)}); "
        f"{html.escape(post.likelihood)} likelihood on log-loss. NUTS, "
        f"{sampler.get('num_chains')} chains × ({sampler.get('num_warmup')} warmup + "
        f"{sampler.get('num_samples')} draws), target acceptance "
        f"{sampler.get('target_accept')}.</p>" + _table(priors) + "</section>",
        "<section id=\"parameters\"><h2>Parameters</h2><p>Posterior median, mean, sd, 90% "
        "central interval, R-hat and effective sample sizes.</p>" + _table(summary)
        + "<h3>Diagnostics gate</h3>" + _diagnostics_table(diagnostics) + "</section>",
        "<section id=\"figures\"><h2>Plots</h2>"]
    for heading, uri, caption in figures:
        parts.append(f"<figure><img alt=\"{html.escape(heading)}\" src=\"{uri}\">"
                     f"<figcaption><b>{html.escape(heading)}.</b> {html.escape(caption)}"
                     f"</figcaption></figure>")
    parts.append("</section><section id=\"forecasts\"><h2>Forecasts</h2>")
    if forecasts is None:
        parts.append("<p>No points were asked for (CLI: <code>--at 70B:1.4T</code>).</p>")
    else:
        notes = spread_notes(forecasts)
        kappa = resolve_discrepancy("sweep", post)
        parts.append(
            "<p>Expected loss (the law) and observed loss (plus the fitted run-to-run noise "
            "and, beyond the data, the law's own error: the extrapolation discrepancy, which "
            "grows with the distance beyond the largest fitted N, D or C; see "
            f"docs/validation.md) with central intervals. Its rate: {html.escape(kappa.describe())} "
            f"({html.escape(kappa.origin())}).</p>" + _forecast_table(forecasts)
            + ("<p>Where the spread of each forecast beyond the data comes from (standard "
               "deviations of log-loss, about the relative spread of the loss):</p><ul>"
               + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
               if notes else ""))
    parts += ["</section><section id=\"optimal\"><h2>Compute-optimal allocation</h2>",
              optimal_html, "</section>",
              f"<footer><p>bayes_scaling {__version__}</p></footer>\n</body>\n</html>\n"]
    return "\n".join(parts)


def write_report(post, path, *, key, force=False, **options):
    """Write `render_report`'s page to ``path``; an existing file needs ``force=True``.

    Returns the path. ``options`` go to `render_report`.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it")
    page = render_report(post, key=key, **options)
    directory = os.path.dirname(os.path.abspath(path))
    handle, partial = tempfile.mkstemp(dir=directory, suffix=".html.part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path
