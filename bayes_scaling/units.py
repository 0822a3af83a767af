"""Units of a runs table: conversions the user asks for, and sanity checks of the scales.

The mistakes users make most with scaling data are not malformed files but well-formed numbers
in the wrong unit: a loss given as perplexity or in percent, parameter counts in billions, a
log10 FLOPs column. Each fits without complaint and forecasts nonsense, so they are caught here,
before sampling, from the one thing that gives them away: the scale of the values.

- `convert` applies what the user declared: ``units={"N": "B"}`` (sizes in K, M, B, T, P or
  log10) and ``loss_kind`` (``"perplexity"`` takes the log, ``"percent"`` divides by 100).
- `check_scales` refuses values outside what any trained language model has (a log-loss above
  20, fewer than 10,000 parameters or tokens in the largest run, less than 1e10 FLOPs, a loss
  that rises with compute), naming the column, showing the values and the flag that fixes it,
  and warns (`UnitsWarning`) where the values are unusual but possible (tokens per parameter
  far outside anything trained). ``accept=True`` turns the refusals into warnings for input that
  is unusual but intended.

Example
-------
>>> import numpy as np
>>> convert({"N": np.array([0.07, 7.0])}, {"N": "B"}, "loss")["N"].tolist()
[70000000.0, 7000000000.0]
>>> try:
...     check_scales({"N": np.array([0.07, 7.0]), "loss": np.array([3.0, 2.5])},
...                  {"N": "params"}, "runs.csv")
... except RunsError as err:
...     print(str(err)[:82])
runs.csv: column 'params' (N) holds 0.07 - 7, too small for parameter counts: if t
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .errors import RunsError, UnitsWarning

__all__ = ["UNITS", "LOSS_KINDS", "convert", "check_scales", "check_point_sizes", "UnitsWarning"]

# Multipliers of the size units a user may declare (--params-unit B); "log10" means 10**value.
UNITS = {"1": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15, "log10": None}
LOSS_KINDS = ("loss", "perplexity", "percent")

# A log-loss at chance is log(vocabulary size): below 14 nats (20 bits) for any vocabulary up
# to a million tokens, so a larger "loss" is in another unit (perplexity, percent, x10).
MAX_LOG_LOSS = math.log2(1e6)
# The largest run of a real sweep has at least this many parameters / tokens (the smallest
# published sweeps start near 1e5 parameters and 1e7 tokens); sizes in billions or as log10
# stay far below it.
MIN_LARGEST_SIZE = 1e4
MIN_LARGEST_FLOPS = 1e10  # 6 x 1e5 parameters x 1e7 tokens is already 6e12
# Tokens per parameter of trained models: from 0.006 (the largest models of Porian et al.'s
# smallest isoFLOP budgets) to ~2e4 (their tiniest models trained long); beyond these (a factor
# of 6 and 50) it is a unit mistake, or at least unusual.
TOKENS_PER_PARAM = (1e-3, 1e6)
# Ten times beyond those no run is: parameter counts in millions read as counts give 2e7
# tokens per parameter at 20 real ones, token counts in millions 2e-5. Refused (with
# --accept-units as the way out), not only warned.
IMPOSSIBLE_FACTOR = 10.0
# The best run of a sweep has a log-loss above this only in an unusual unit: the best runs of
# the public sweeps in ../shared reach 1.8 - 3.2 nats (4.6 bits), while perplexities of those
# runs are 6 - 24, below the refusal at MAX_LOG_LOSS. A warning, not a refusal: a sweep of tiny
# models, in bits, can come near it.
BEST_LOSS_UNUSUAL = 6.5
# Loss against compute: a rank correlation above this means the column rises with scale.
RISING = 0.5
_NAMES = {"N": ("parameter counts", "--params-unit", "params"),
          "D": ("training tokens", "--tokens-unit", "tokens"),
          "C": ("training FLOPs", "--flops-unit", "flops")}


def convert(values, units, loss_kind):
    """Values in the declared units converted to plain counts and log-loss.

    Parameters
    ----------
    values : dict of str to numpy.ndarray
        Parsed columns by canonical name (N, D, C, loss, ...).
    units : dict of str to str
        Unit of each size column that is not a plain count: a key of `UNITS`.
    loss_kind : str
        One of `LOSS_KINDS`: what the loss column holds.

    Returns
    -------
    dict of str to numpy.ndarray
    """
    converted = dict(values)
    for name, unit in units.items():
        if name not in converted:
            continue
        if unit not in UNITS:
            raise RunsError(f"unknown unit {unit!r} for {name}; use one of {', '.join(UNITS)}")
        scale = UNITS[unit]
        converted[name] = 10.0 ** converted[name] if scale is None else converted[name] * scale
    if loss_kind not in LOSS_KINDS:
        raise RunsError(f"unknown loss kind {loss_kind!r}; use one of {', '.join(LOSS_KINDS)}")
    if "loss" in converted and loss_kind == "perplexity":
        converted["loss"] = np.log(converted["loss"])
    elif "loss" in converted and loss_kind == "percent":
        converted["loss"] = converted["loss"] / 100.0
    return converted


def check_scales(values, columns, source, *, accept=False, sizes=("N", "D", "C"), k=6.0,
                 error=RunsError):
    """Refuse values whose scale gives away a unit mistake; warn about unusual ones.

    Parameters
    ----------
    values : dict of str to numpy.ndarray
        Columns by canonical name, in the units they will be fitted in (after `convert`), for
        the runs that will be fitted. Only those given are checked.
    columns : dict of str to str
        The source column of each canonical name, for messages.
    source : str
        The file name, for messages.
    accept : bool
        The user says the values are right: every refusal becomes a `UnitsWarning`.
    sizes : tuple of str
        The sizes whose scale matters. A one-variable law is scale-free in its input (its
        examples or steps may be in any unit), so its caller passes ``()``.

    Raises
    ------
    RunsError
        (or ``error``) Naming the column, its range and the flag that fixes it.
    """
    problems, notes = [], []
    loss = values.get("loss")
    if loss is not None and loss.max() > MAX_LOG_LOSS:
        problems.append(
            f"column {_column(columns, 'loss')} (loss) holds {_range(loss)}, too large for a "
            f"log-loss (cross-entropy is below {MAX_LOG_LOSS:.0f} even in bits, at chance with a "
            f"million-token vocabulary). If these are perplexities, --loss-kind perplexity takes "
            f"their log; if percent, --loss-kind percent (API: loss_kind=)")
    elif loss is not None and loss.min() > BEST_LOSS_UNUSUAL:
        notes.append(
            f"column {_column(columns, 'loss')} (loss): its best run has {loss.min():.3g}, high "
            f"for the log-loss of a trained model (the best runs of public sweeps reach 1.8 - "
            f"3.2 nats). If these are perplexities, --loss-kind perplexity takes their log "
            f"(API: loss_kind=)")
    for name in sizes:
        size = values.get(name)
        if size is None or np.isnan(size).all():
            continue
        largest = MIN_LARGEST_FLOPS if name == "C" else MIN_LARGEST_SIZE
        if np.nanmax(size) < largest:
            what, flag, column_flag = _NAMES[name]
            log10 = 1 < np.nanmin(size) and np.nanmax(size) < 40
            fixes = ([f"if they are log10 values, {flag} log10"] if log10 else []) + \
                ([] if name == "C" else [f"if they are in billions, {flag} B (or M, K, T)"]) + \
                ([f"or leave FLOPs out: --{column_flag}-col none (derived from N and D)"]
                 if name == "C" else [])
            problems.append(f"column {_column(columns, name)} ({name}) holds {_range(size)}, too "
                            f"small for {what}: {'; '.join(fixes)} (API: units={{{name!r}: "
                            f"...}})")
    rising = _rises_with_scale(values, sizes)
    if loss is not None and rising is not None and rising > RISING:
        problems.append(
            f"column {_column(columns, 'loss')} (loss) rises with compute (rank correlation "
            f"{rising:+.2f}): a scaling law of loss falls with scale. Is it an accuracy or a "
            f"score (see the emergence command), or a loss with its sign flipped?")
    # Once a size is refused, its ratio to the other says nothing more.
    ratio = _tokens_per_param(values, k) if len(sizes) > 1 and not problems else None
    if ratio is not None:
        low, high = np.nanmin(ratio), np.nanmax(ratio)
        if (low < TOKENS_PER_PARAM[0] / IMPOSSIBLE_FACTOR
                or high > TOKENS_PER_PARAM[1] * IMPOSSIBLE_FACTOR):
            # Too many tokens per parameter: the parameter counts read too small; too few: the
            # token counts do.
            small = "N" if high > TOKENS_PER_PARAM[1] * IMPOSSIBLE_FACTOR else "D"
            given = [name for name in ("N", "D", "C") if values.get(name) is not None]
            small = small if small in given else "C"   # derived from C: C's unit is suspect
            others = [name for name in given if name != small]
            problems.append(
                f"tokens per parameter range {_range(ratio)}, beyond any trained model: columns "
                f"{' and '.join(_column(columns, name) for name in given)} are in different "
                f"units. If the {_NAMES[small][0]} are in millions or billions, "
                f"{_NAMES[small][1]} M (or B); otherwise "
                f"{' or '.join(_NAMES[name][1] for name in others)} (API: units=...)")
        elif low < TOKENS_PER_PARAM[0] or high > TOKENS_PER_PARAM[1]:
            notes.append(f"tokens per parameter range {_range(ratio)}, far outside anything "
                         f"trained ({TOKENS_PER_PARAM[0]:g} - {TOKENS_PER_PARAM[1]:g}); check "
                         f"the units of columns {_column(columns, 'N')} and "
                         f"{_column(columns, 'D')}")
    for problem in problems if accept else ():
        notes.append(f"{problem} (accepted as intended)")
    for note in notes:
        warnings.warn(f"{source}: {note}", UnitsWarning, stacklevel=3)
    if problems and not accept:
        raise error(f"{source}: {problems[0]}; --accept-units if the values are right "
                    f"(API: accept_units=True)"
                    + (f". {len(problems) - 1} more problem(s): "
                       + "; ".join(problems[1:]) if len(problems) > 1 else ""))


def check_point_sizes(values, columns, lines, source):
    """Refuse a point (a run to forecast, a candidate run) smaller than any trained model.

    Row by row, where `check_scales` looks at a whole sweep: one point among many given in
    billions (``7`` for 7B) or as log10 FLOPs (``23``) would otherwise be read as a model of 7
    parameters, or a run of 23 FLOPs, and ranked or forecast without complaint.

    Parameters
    ----------
    values : dict of str to numpy.ndarray
        N, D and/or C per point, as read (before the missing one is derived).
    columns : dict of str to str
        The source column of each canonical name, for messages.
    lines : sequence
        Each point's line in the file, for messages.
    source : str
        The file name, for messages.

    Raises
    ------
    RunsError
        Naming the first such point's line, column and value.

    Examples
    --------
    >>> try:
    ...     check_point_sizes({"N": np.array([4e8, 7.0])}, {"N": "params"}, [2, 3], "runs.csv")
    ... except RunsError as err:
    ...     print(str(err)[:68])
    runs.csv, line 3, column 'params' (N): 7 is too small for parameter
    """
    for name in ("N", "D", "C"):
        size = values.get(name)
        if size is None:
            continue
        floor = MIN_LARGEST_FLOPS if name == "C" else MIN_LARGEST_SIZE
        small = np.flatnonzero(np.asarray(size) < floor)
        if not small.size:
            continue
        what = _NAMES[name][0]
        first = small[0]
        fix = (f"write {10.0 ** size[first]:.3g} if it is a log10 value" if name == "C"
               else f"write {size[first]:.3g}B for billions (or M, K, T)")
        more = f"; {len(small) - 1} more such row(s)" if len(small) > 1 else ""
        raise RunsError(f"{source}, line {lines[first]}, column {_column(columns, name)} "
                        f"({name}): {size[first]:.3g} is too small for {what} (no trained "
                        f"language model has fewer than {floor:.0e}): {fix}{more}")


def _tokens_per_param(values, k):
    """D/N from whichever two of N, D, C are given (None with fewer)."""
    N, D, C = (values.get(name) for name in ("N", "D", "C"))
    if N is not None and D is not None:
        return D / N
    if N is not None and C is not None:
        return C / (k * N * N)
    if D is not None and C is not None:
        return k * D * D / C
    return None


def _rises_with_scale(values, sizes):
    """Spearman's rank correlation of loss with compute (or the one size given), or None when
    there are too few distinct runs to say."""
    loss = values.get("loss")
    scale = next((values[name] for name in ("C", "N", "D")
                  if name in values and name in sizes and not np.isnan(values[name]).any()),
                 None)
    if loss is None or scale is None or len(np.unique(scale)) < 5:
        return None
    ranks = pd.DataFrame({"scale": scale, "loss": loss}).rank()
    return float(np.corrcoef(ranks["scale"], ranks["loss"])[0, 1])


def _column(columns, name):
    return repr(columns.get(name, name))


def _range(values):
    return f"{np.nanmin(values):.3g} - {np.nanmax(values):.3g}"
