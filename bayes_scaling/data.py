"""Runs: the table of trained models a scaling law is fitted to.

A run is one trained model: its parameter count N, its training tokens D, its compute C and its
final loss. Any two of N, D, C determine the third through the cost model C = k·N·D (k = 6 by
default). `load_runs` reads a CSV file or a DataFrame, recognises common column names, parses
numbers written like ``70M``, ``1.4B`` or ``5.76e23``, and validates every value. Bad input raises
`RunsError` naming the source, the line and the column; nothing is silently dropped.

Example
-------
>>> import pandas as pd
>>> runs = load_runs(pd.DataFrame({"params": ["70M", "1.4B"], "tokens": ["1.4B", "28B"],
...                                "loss": [3.1, 2.4]}))
>>> runs.N.tolist(), float(runs.C[0])
([70000000.0, 1400000000.0], 5.88e+17)
"""

from __future__ import annotations

import dataclasses
import operator
import re

import numpy as np
import pandas as pd

from .errors import RunsError, UnitsWarning
from .laws.names import law_inputs
from .reading import THOUSANDS, read_table
from .units import check_point_sizes, check_scales, convert

__all__ = ["Runs", "RunsError", "UnitsWarning", "load_runs", "load_points", "parse_number",
           "parse_points", "column_unit", "size_units", "COLUMN_ALIASES", "COLUMN_WORDS",
           "INPUT_ALIASES", "NO_COLUMN"]

DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0

# Canonical column -> names recognised for it, compared after lower-casing and dropping spaces,
# underscores, dashes and dots ("Model Size" -> "modelsize").
COLUMN_ALIASES = {
    "N": ("n", "params", "parameters", "nparams", "numparams", "paramcount", "modelsize", "size",
          "numparameters", "nparameters", "parametercount"),
    "D": ("d", "tokens", "ntokens", "numtokens", "trainingtokens", "traintokens", "datasize",
          "dtokens", "tokensseen", "seentokens", "tokennum"),
    "C": ("c", "flops", "flop", "compute", "trainingflop", "trainingflops", "trainflops"),
    "loss": ("loss", "finalloss", "valloss", "validationloss", "evalloss", "testloss", "trainloss"),
    "group": ("group", "family", "modelfamily"),
}
# When no alias matches, a column still matches by its words (``openLM_loss``, ``tokens_seen_total``)
# if it has one of the first set and none of the second (which mark a different quantity:
# ``tokens_per_epoch``, ``params_nonembedding``, ``loss_std``).
COLUMN_WORDS = {
    "N": ({"params", "param", "parameters", "parameter"},
          {"per", "embedding", "nonembedding", "embed", "std", "opt", "optimal"}),
    "D": ({"tokens", "token"}, {"per", "unique", "epoch", "epochs", "std", "opt", "optimal"}),
    "C": ({"flops", "flop", "compute"}, {"per", "std", "budget"}),
    "loss": ({"loss", "crossentropy", "xent", "nll"},
             {"std", "stderr", "sem", "err", "error", "var", "opt", "optimal"}),
}
NO_COLUMN = "none"  # --flops-col none: the data has no such column, even if one looks like it
# Units a column's name may carry, "Model Size (B)", "params_b", "tokens_in_billions",
# "log10_flops", and what they mean (`units.UNITS`).
_NAME_UNITS = {"k": "K", "thousand": "K", "thousands": "K", "m": "M", "mil": "M",
               "million": "M", "millions": "M", "b": "B", "bn": "B", "billion": "B",
               "billions": "B", "t": "T", "trillion": "T", "trillions": "T", "log10": "log10"}
_UNIT_AT_END = re.compile(
    r"^(.+?)(?:\s*[(\[]\s*([A-Za-z0-9]+)\s*[)\]]|[\s_\-.]+(?:in[\s_\-.]+)?([A-Za-z0-9]+))\s*$")
_UNIT_AT_START = re.compile(r"^(log10)[\s_\-.(]*(.+?)\)?$", re.IGNORECASE)
# Further inputs some laws need (`Runs.extra`), recognised the same way; others are mapped with
# ``inputs=``. U: unique tokens (data-constrained law); a dataset's tokens per epoch are its
# unique tokens (datablations' own files name the column so).
INPUT_ALIASES = {
    "U": ("u", "unique", "uniquetokens", "uuniquetokens", "numuniquetokens", "tokensperepoch"),
}
_INPUT_NAMES = {"U": "unique tokens"}
_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([KMBGTP]?)$", re.IGNORECASE)
_PLAIN_NUMBER = r"[+-]?[\d.,]+(?:[eE][+-]?\d+)?"
_CONDITION = re.compile(r"^\s*(\w+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")
_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
              "==": operator.eq, "!=": operator.ne}


@dataclasses.dataclass(frozen=True)
class Runs:
    """Validated runs, one entry per trained model (float64 NumPy arrays).

    Attributes
    ----------
    N, D, C, loss : numpy.ndarray
        Parameters, training tokens, training FLOPs (C = k·N·D) and final loss.
    group : numpy.ndarray or None
        Optional group / family label per run.
    lines : numpy.ndarray
        Where each run came from: the file's line number for a CSV, the row label for a DataFrame.
    source : str
        File name or "DataFrame", used in messages.
    flops_per_param_token : float
        The k of the cost model.
    dropped : tuple of str
        Human-readable notes on rows removed on request (``where=``, ``dedupe=``); empty when
        none were.
    notes : tuple of str
        How the data was read when it needed saying: a sniffed delimiter, decimal commas, an
        encoding, a unit taken from a column's name.
    columns : dict
        Which source column gave N, D, C, loss and group (derived ones are absent).
    extra : dict
        Further inputs some laws need, by input name: unique tokens ``"U"``, token sources
        ``"D_1"``, ``"D_2"``, ... (float64 arrays, validated like N and D). They read as
        attributes too (``runs.U``). N, D or C is NaN where it is unknown (a one-variable law's
        runs need only its own input).
    """

    N: np.ndarray
    D: np.ndarray
    C: np.ndarray
    loss: np.ndarray
    group: np.ndarray | None = None
    lines: np.ndarray | None = None
    source: str = "DataFrame"
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN
    dropped: tuple = ()
    notes: tuple = ()
    columns: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.loss)

    def __getattr__(self, name):
        extra = self.__dict__.get("extra") or {}
        if name in extra:
            return extra[name]
        raise AttributeError(f"Runs has no attribute or input column {name!r}")

    def input(self, name, law="the law"):
        """The values of input ``name`` (N, D, C or an extra column); a clear error if absent.

        >>> import numpy as np
        >>> runs = Runs(N=np.ones(1), D=np.ones(1), C=np.ones(1), loss=np.ones(1))
        >>> runs.input("U", "data_constrained")
        Traceback (most recent call last):
        ...
        bayes_scaling.errors.RunsError: DataFrame: law 'data_constrained' needs column 'U' (unique tokens), which the runs lack; name it with --input U=COLUMN (API: load_runs(..., inputs={'U': COLUMN}))
        """
        values = self.extra.get(name) if name not in ("N", "D", "C") else getattr(self, name)
        if values is None or np.isnan(values).all():
            what = f" ({_INPUT_NAMES[name]})" if name in _INPUT_NAMES else ""
            raise RunsError(f"{self.source}: law {law!r} needs column {name!r}{what}, which the "
                            f"runs lack; name it with --input {name}=COLUMN (API: load_runs(..., "
                            f"inputs={{{name!r}: COLUMN}}))")
        return values

    def subset(self, keep):
        """The runs where the boolean mask ``keep`` is True, with the same metadata."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != self.loss.shape:
            raise ValueError(f"mask has shape {keep.shape}, expected {self.loss.shape}")
        pick = {name: getattr(self, name)[keep] for name in ("N", "D", "C", "loss")}
        for name in ("group", "lines"):
            value = getattr(self, name)
            pick[name] = None if value is None else np.asarray(value)[keep]
        pick["extra"] = {name: values[keep] for name, values in self.extra.items()}
        return dataclasses.replace(self, **pick)

    def extended(self, N, D, loss):
        """These runs and further ones at (N, D) with their losses (C = k·N·D), as new `Runs`:
        e.g. a run a design proposes, once trained. Runs with further inputs (U, D_i) or groups
        need those too, so they are refused.

        >>> runs = Runs(N=np.array([1e8]), D=np.array([2e9]), C=np.array([1.2e18]),
        ...             loss=np.array([3.1]))
        >>> runs.extended([1e9], [2e10], [2.6]).C.tolist()
        [1.2e+18, 1.2e+20]
        """
        if self.extra or self.group is not None:
            raise ValueError("extended adds runs of N and D only; these runs also have "
                             f"{sorted(self.extra) or 'groups'}")
        N, D, loss = (np.atleast_1d(np.asarray(v, np.float64)) for v in (N, D, loss))
        if not N.shape == D.shape == loss.shape:
            raise ValueError(f"N, D and loss must have one value per run, got shapes "
                             f"{N.shape}, {D.shape} and {loss.shape}")
        k = self.flops_per_param_token
        lines = None if self.lines is None else np.concatenate(
            [np.asarray(self.lines, object), [f"added {i + 1}" for i in range(len(N))]])
        return dataclasses.replace(
            self, N=np.concatenate([self.N, N]), D=np.concatenate([self.D, D]),
            C=np.concatenate([self.C, k * N * D]), loss=np.concatenate([self.loss, loss]),
            lines=lines)

    def to_frame(self):
        """The runs as a DataFrame with columns N, D, C, loss, the extra inputs (and group)."""
        frame = pd.DataFrame({"N": self.N, "D": self.D, "C": self.C, "loss": self.loss,
                              **self.extra})
        if self.group is not None:
            frame["group"] = self.group
        return frame


def parse_number(text):
    """Parse ``"70M"``, ``"1.4B"``, ``"1.4T"``, ``"5.76e23"``, ``"1,000"`` or a number.

    Suffixes K, M, B (or G), T and P are powers of 1000 (case-insensitive). A comma is read
    only as a thousands separator: ``"2,85"`` is an error, not 285.

    >>> parse_number("1.4T"), parse_number("70m"), parse_number(3)
    (1400000000000.0, 70000000.0, 3.0)
    """
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        return float(text)
    cleaned = str(text).strip()
    if "," in cleaned and not THOUSANDS.match(cleaned):
        # "2,85" is a decimal comma (or two numbers), never 285: refuse rather than misread.
        raise ValueError(f"cannot read {text!r} as a number: its comma is not a thousands "
                         f"separator (1,000); a decimal comma is read in files separated by "
                         f"';' or tabs, or write 2.85")
    cleaned = cleaned.replace(",", "").replace("_", "")
    if cleaned.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return float(cleaned)  # a number, but not finite: the caller says so
    match = _NUMBER.match(cleaned)
    if not match:
        raise ValueError(f"cannot read {text!r} as a number (write e.g. 70M, 1.4B, 5.76e23)")
    return float(match.group(1)) * _SUFFIXES.get(match.group(2).upper(), 1.0)


def parse_points(text, tokens=True):
    """The points of an ``--at`` flag: comma-separated, each ``PARAMS:TOKENS``; returns (N, D).

    The one grammar of every command's ``--at``. With ``tokens=False`` (scales only, as for
    emergence thresholds) each point is ``PARAMS`` and D is None.

    >>> parse_points("70B:1.4T, 7B:140B")
    ([70000000000.0, 7000000000.0], [1400000000000.0, 140000000000.0])
    >>> parse_points("70B,400B", tokens=False)
    ([70000000000.0, 400000000000.0], None)
    """
    form, example = ("PARAMS:TOKENS", "70B:1.4T") if tokens else ("PARAMS", "70B")
    n_values, d_values = [], []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        pieces = part.split(":")
        if len(pieces) != (2 if tokens else 1):
            raise ValueError(f"--at: write each point as {form}, e.g. {example}; got {part!r}")
        try:
            values = [parse_number(p.strip()) for p in pieces]
        except ValueError as err:
            raise ValueError(f"--at: {err}") from None
        n_values.append(values[0])
        d_values.extend(values[1:])
    if not n_values:
        raise ValueError(f"--at: no points in {text!r}; write e.g. {example}")
    return n_values, (d_values if tokens else None)


def _normalise(name):
    return re.sub(r"[\s_\-.]", "", str(name)).lower()


def _words(name):
    """``"openLM_loss"`` -> ``{"open", "lm", "loss"}``; ``"test_cross_entropy"`` also gives
    ``"crossentropy"`` (adjacent words joined, so two-word terms match)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(name))
    words = re.findall(r"[a-z0-9]+", spaced.lower())
    return set(words) | {a + b for a, b in zip(words, words[1:])}


def column_unit(name):
    """A column name without the unit it carries, and that unit (a key of `units.UNITS`, or
    None when the name carries none).

    >>> column_unit("Model Size (B)"), column_unit("params_m"), column_unit("log10_flops")
    (('Model Size', 'B'), ('params', 'M'), ('flops', 'log10'))
    >>> column_unit("tokens_per_epoch")
    ('tokens_per_epoch', None)
    """
    name = str(name).strip()
    match = _UNIT_AT_START.match(name)
    if match:
        return match.group(2).strip(), "log10"
    match = _UNIT_AT_END.match(name)
    unit = match and _NAME_UNITS.get((match.group(2) or match.group(3) or "").lower())
    return (match.group(1).strip(), unit) if unit else (name, None)


def match_columns(frame, explicit, aliases, flags, source, error, words=None, sized=(),
                  numeric=()):
    """Canonical name -> column: the ``explicit`` ones (checked to exist; `NO_COLUMN` says
    there is none), then for each remaining canonical name the one unclaimed column whose name
    is one of its ``aliases``; failing that (for the names in ``sized``) whose name without a
    unit (`column_unit`) is; failing that, whose ``words`` match (see `COLUMN_WORDS`).
    For the names in ``numeric``, a column none of whose cells is a number drops out when
    there are several candidates (Porian et al.'s ``param_count`` holds how parameters were
    counted, "kaplan" or "standard", beside their ``n_params``); a single candidate stays, so
    that its first bad cell is named. Several columns in one of these steps: ``error``
    naming them and the ``flags`` option that picks one."""
    mapping, absent = {}, set()
    for canonical, column in explicit.items():
        if column is None:
            continue
        if column not in frame.columns and str(column).lower() == NO_COLUMN:
            absent.add(canonical)
            continue
        if column not in frame.columns:
            raise error(f"{source}: column {column!r} given for {canonical} is not in the "
                        f"data; columns are {list(frame.columns)}")
        mapping[canonical] = column
    words = words or {}
    steps = (lambda canonical, c: _normalise(c) in aliases[canonical],
             lambda canonical, c: (canonical in sized and column_unit(c)[1] is not None
                                   and _normalise(column_unit(c)[0]) in aliases[canonical]),
             lambda canonical, c: (canonical in words and bool(_words(c) & words[canonical][0])
                                   and not _words(c) & words[canonical][1]))
    for matches in steps:
        for canonical in aliases:
            if canonical in mapping or canonical in absent:
                continue
            found = [c for c in frame.columns
                     if c not in mapping.values() and matches(canonical, c)]
            if len(found) > 1 and canonical in numeric:
                found = [c for c in found if _has_numbers(frame[c])] or found
            if len(found) > 1:
                raise error(f"{source}: several columns could be {canonical}: {found}; "
                            f"say which one to use with --{flags[canonical]} COLUMN")
            if found:
                mapping[canonical] = found[0]
    order = list(explicit) + [name for name in aliases if name not in explicit]
    return dict(sorted(mapping.items(), key=lambda item: order.index(item[0])))


def _has_numbers(column, look_at=100):
    """Whether any of the first ``look_at`` non-empty cells of a column is a number."""
    for cell in column.dropna().head(look_at):
        try:
            parse_number(cell)
            return True
        except (TypeError, ValueError):
            continue
    return False


def _detect_columns(frame, explicit, source, need_loss=True, how_to_map=None, need_sizes=2):
    """Map canonical names (N, D, C, loss, group) to the frame's columns."""
    how_to_map = how_to_map or "map them with --params-col/--tokens-col/--flops-col (params=, tokens=, flops=)"
    mapping = match_columns(frame, explicit, COLUMN_ALIASES, _FLAG, source, RunsError,
                            words=COLUMN_WORDS, sized=("N", "D", "C"),
                            numeric=("N", "D", "C", "loss"))
    if need_loss and "loss" not in mapping:
        perplexities = [c for c in frame.columns if _words(c) & {"ppl", "perplexity"}]
        hint = (f"; {perplexities[0]!r} looks like perplexities: --loss-col "
                f"{perplexities[0]!r} --loss-kind perplexity (loss=, loss_kind=)"
                if perplexities else "")
        raise RunsError(f"{source}: no loss column found among {list(frame.columns)}; name it "
                        f"with --loss-col COLUMN (loss=); recognised names: loss, final_loss, "
                        f"val_loss, eval_loss, test_loss, train_loss, or any with 'loss' in "
                        f"it{hint}")
    have = [k for k in ("N", "D", "C") if k in mapping]
    if len(have) < need_sizes:
        raise RunsError(f"{source}: need two of parameters (N), tokens (D) and FLOPs (C) to know "
                        f"each run's size, found only {have or 'none'} among {list(frame.columns)}; "
                        f"{how_to_map}")
    return mapping


_FLAG = {"N": "params-col", "D": "tokens-col", "C": "flops-col", "loss": "loss-col",
         "group": "group-col"}


def _parse_column(frame, column, canonical, lines, source):
    """The column's numbers (NaN where a cell cannot be used) and, by row, what is wrong with
    each such cell: the error is raised only if that row survives ``--where``."""
    values, problems = np.full(len(frame), np.nan), {}
    for i, raw in enumerate(frame[column].tolist()):
        where = f"{source}, line {lines[i]}, column {column!r} ({canonical})"
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
            problems[i] = f"{where}: value is missing"
            continue
        try:
            value = parse_number(raw)
        except ValueError as err:
            problems[i] = f"{where}: {err}"
            continue
        if not np.isfinite(value):
            problems[i] = f"{where}: {raw!r} is not finite"
        elif value <= 0:
            problems[i] = f"{where}: {raw!r} must be positive"
        else:
            values[i] = value
    return values, problems


def _raise_first_problem(problems, keep):
    """The error of the first kept row with an unusable cell (in file order), if any."""
    rows = sorted((row, message) for found in problems.values() for row, message in found.items()
                  if keep[row])
    if rows:
        raise RunsError(rows[0][1])


def apply_where(columns, frame, lines, where, source, what="runs", error=None):
    """Keep rows matching every ``name OP value`` condition of ``where`` (joined by 'and').

    ``name`` is one of ``columns`` (parsed values: N, D, C, loss; NaN where unreadable, which
    keeps the row for its own error) or any column of the data: compared as text with == and
    != (e.g. ``config_id == rw|base``; quotes optional), as numbers otherwise. A column of the
    data that is also parsed is compared as text when the value is not a number
    (``loss != n/a``: the way to drop a row whose cell cannot be read).
    ``what`` names the rows in messages; ``error`` is the exception class (`RunsError`).
    """
    error = error or RunsError
    keep = np.ones(len(lines), dtype=bool)
    for condition in re.split(r"\s+and\s+|\s*&\s*|\s*,\s*", where.strip()):
        match = _CONDITION.match(condition)
        if not match:
            raise error(f"cannot read the filter {condition!r}: write e.g. 'loss < 3.447' or "
                            f"'N >= 1e8 and D < 1T' or 'family == gpt2'")
        name, op, value = match.groups()
        # Text against a column that is also parsed (loss != n/a) compares its cells as text:
        # the way to drop a row whose number cannot be read.
        as_text = op in ("==", "!=") and name in frame.columns and not _is_number(value)
        if name in columns and not as_text:
            # A value that could not be read (NaN) does not decide: the row stays, and its
            # error is reported unless another condition drops it.
            known = ~np.isnan(columns[name])
            keep &= ~known | _OPERATORS[op](np.where(known, columns[name], 0.0),
                                            _filter_number(value, condition, columns, frame,
                                                           error))
        elif name in frame.columns:
            cells = frame[name].astype(str).str.strip().to_numpy()
            if op in ("==", "!="):
                keep &= _OPERATORS[op](cells, value.strip("'\""))  # quotes are optional
            else:
                numbers = np.array([_number_or_error(c, name, line, source)
                                    for c, line in zip(cells, lines)])
                keep &= _OPERATORS[op](numbers, _filter_number(value, condition, columns,
                                                               frame, error))
        else:
            order = sorted(columns, key=lambda c: "N D C loss".split().index(c)
                           if c in ("N", "D", "C", "loss") else 4)
            named = f"{', '.join(order)} or " if columns else ""
            raise error(f"filter {condition!r}: unknown column {name!r}; use {named}"
                        f"a column of the data: {list(frame.columns)}")
    if not keep.any():
        raise error(f"{source}: the filter {where!r} keeps none of the {len(lines)} {what}")
    dropped = lines[~keep]
    note = (f"dropped {len(dropped)} of {len(lines)} {what} not matching {where!r} "
            f"({'line' if len(dropped) == 1 else 'lines'} {_line_ranges(dropped)})"
            ) if len(dropped) else ""
    return keep, note


def _is_number(text):
    try:
        parse_number(text)
    except ValueError:
        return False
    return True


def _filter_number(value, condition, columns, frame, error):
    """The number a filter compares with, or ``error`` naming the condition (and saying that
    a filter cannot compare two columns, when the value is one)."""
    if value in columns or value in frame.columns:
        raise error(f"filter {condition!r}: {value!r} is a column; a filter compares a column "
                    f"with a number (e.g. 'D > 1e10'), or with text by == and !=, not with "
                    f"another column: to keep runs by a relation between columns, add a "
                    f"column computed from them to the data")
    try:
        return parse_number(value)
    except ValueError as err:
        raise error(f"filter {condition!r}: {err}") from None


def load_runs(data, *, params=None, tokens=None, flops=None, loss=None, group=None,
              flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN, where=None, inputs=None,
              law=None, units=None, loss_kind="loss", accept_units=False, ignore=(),
              dedupe=False, sep=None):
    """Read and validate runs from a file or a pandas DataFrame.

    Parameters
    ----------
    data : str, os.PathLike or pandas.DataFrame
        One row per trained model: a CSV (or tab-, semicolon-separated, gzip, Excel, Parquet
        file; see `reading.read_table`) or a DataFrame.
    params, tokens, flops, loss, group : str, optional
        Column names to use for N, D, C, the loss and the group; ``"none"`` for N, D or C
        means the data has no such column (e.g. a FLOPs column that counts something else).
        Unnamed ones are auto-detected from common names (``COLUMN_ALIASES``, then
        ``COLUMN_WORDS``). Two of N, D, C are needed; the third is derived from C = k·N·D.
    flops_per_param_token : float
        k in C = k·N·D (6 for dense transformers).
    where : str, optional
        Keep only runs matching e.g. ``"loss < 3.447"`` or ``"N >= 1e8 and C < 1e22"``, before
        the values are validated (a bad row can be filtered out). The rows removed are listed
        in ``Runs.dropped``.
    inputs : dict, optional
        Further input columns for laws that need them, by input name, e.g. ``{"U":
        "unique_tokens"}`` or ``{"D_1": "web", "D_2": "code"}`` (`Runs.extra`). Unique tokens U
        are also auto-detected (see ``INPUT_ALIASES``).
    law : Law or str, optional
        The law to be fitted: every input it needs must then be present (the error names the
        missing column), and a law of one of N, D, C needs only that column (the other two are
        NaN, unknown).
    units : dict, optional
        The unit of a size column that is not a plain count, by canonical name: ``{"N": "B"}``
        (billions), ``{"C": "log10"}`` (see `units.UNITS`). A unit in a column's name
        (``Model Size (B)``, ``params_m``, ``log10_flops``) is read without asking.
    loss_kind : {"loss", "perplexity", "percent"}
        What the loss column holds; perplexity is converted with log, percent divided by 100.
    accept_units : bool
        Values whose scale looks like a unit mistake (`units.check_scales`) are fitted with a
        warning instead of refused.
    ignore : sequence of str
        Columns to leave out before anything is matched (``--ignore-col``).
    dedupe : bool
        Drop rows that repeat an earlier run exactly (same N, D, loss and group; listed in
        ``Runs.dropped``) instead of refusing them.
    sep : str, optional
        The delimiter of a text file (sniffed when not given).

    Returns
    -------
    Runs

    Raises
    ------
    RunsError
        Missing or ambiguous columns, unparseable, missing, non-finite or non-positive values,
        values in a mistaken unit, inconsistent N, D and C, or duplicated runs; the message
        names the source, the line and the column. (Whether there are enough runs for a law
        is `fit`'s check.)

    Warns
    -----
    UnitsWarning
        Unusual but possible scales, and accepted ones (``accept_units=True``).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"Model Size (B)": [0.1, 1.0], "Training FLOP": [6e18, 6e20],
    ...                       "loss": [3.0, 2.5]})
    >>> runs = load_runs(frame)
    >>> runs.N.tolist(), runs.D.tolist()
    ([100000000.0, 1000000000.0], [10000000000.0, 100000000000.0])
    >>> runs.notes
    ("column 'Model Size (B)' (N) read in units of B, as its name says",)
    """
    table = read_table(data, sep=sep)
    frame, source, lines = _without(table.frame, ignore, table.source), table.source, table.lines
    k = check_flops_per_param_token(flops_per_param_token)
    needs = _law_inputs(law)
    explicit = {"N": params, "D": tokens, "C": flops, "loss": loss, "group": group}
    one_size = len(needs & {"N", "D", "C"}) == 1  # a one-variable law: its column is enough
    mapping = _detect_columns(frame, explicit, source, need_sizes=1 if one_size else 2)
    unused = sorted(set(inputs or {}) - needs) if law is not None else []
    if unused:
        raise RunsError(f"{source}: law {getattr(law, 'name', law)!r} has no input {unused[0]!r}; "
                        f"its inputs are {sorted(needs)}")
    aliases = {k: v for k, v in INPUT_ALIASES.items() if law is None or k in needs}
    extra_map = match_columns(frame, dict(inputs or {}), aliases, _INPUT_FLAG, source, RunsError)
    sources = {name: col for name, col in {**mapping, **extra_map}.items() if name != "group"}
    unit_of, notes = size_units(frame, mapping, units, source)
    if loss_kind != "loss" and "loss" in mapping:
        notes += (f"column {mapping['loss']!r} (loss) read as {loss_kind}"
                  f"{': its log is fitted' if loss_kind == 'perplexity' else ', divided by 100'}",)
    parsed, problems = {}, {}
    for name, column in sources.items():
        parsed[name], problems[name] = _parse_column(frame, column, name, lines, source)
    parsed = convert(parsed, unit_of, loss_kind)
    keep, dropped = np.ones(len(frame), dtype=bool), []
    if where:
        derived = dict(parsed)
        _derive_sizes(derived, k)
        keep, note = apply_where(derived, frame, lines, where, source)
        dropped += [note] if note else []
    _raise_first_problem(problems, keep)
    columns = {name: values[keep] for name, values in parsed.items()}
    frame, lines = frame[keep], lines[keep]
    check_scales({name: columns[name] for name in ("N", "D", "C", "loss") if name in columns},
                 sources, source, accept=accept_units, sizes=() if one_size else ("N", "D", "C"),
                 k=k)
    if all(name in columns for name in ("N", "D", "C")):
        _check_flops(columns, mapping, k, lines, source)
    _derive_sizes(columns, k)
    notes += _repeated_data_note(frame, columns, {**mapping, **extra_map}, law)
    groups = _group_labels(frame, mapping.get("group"), lines, source)
    if groups is None:
        notes += _mixed_sweeps_note(frame, columns, {**mapping, **extra_map})
    repeated = _repeated(columns, groups)
    if repeated.any() and not dedupe:
        _refuse_duplicates(columns, groups, repeated, lines, source)
    if repeated.any():
        dropped.append(f"dropped {int(repeated.sum())} exact duplicate rows (--dedupe): lines "
                       f"{_line_ranges(lines[repeated])}")
        columns = {name: values[~repeated] for name, values in columns.items()}
        lines, groups = lines[~repeated], None if groups is None else groups[~repeated]
    runs = Runs(N=columns["N"], D=columns["D"], C=columns["C"], loss=columns["loss"],
                group=groups, lines=lines, source=source, flops_per_param_token=k,
                dropped=tuple(dropped), columns={**mapping, **extra_map},
                extra={name: columns[name] for name in extra_map},
                notes=tuple(table.notes) + notes)
    for name in sorted(needs):
        runs.input(name, getattr(law, "name", law))  # a clear error for a missing column
    return runs


def _repeated_data_note(frame, columns, claimed, law):
    """A note when a column of unique tokens shows repeated data (D > U) that ``law`` (one
    without U) would count as fresh tokens: the data-constrained law is the one that uses it.
    Silent when the law uses U, none or several columns look like U, or no run repeats."""
    if law is None or "U" in _law_inputs(law):
        return ()
    rest = frame.drop(columns=[c for c in claimed.values() if c in frame.columns])
    try:
        column = match_columns(rest, {}, {"U": INPUT_ALIASES["U"]}, _INPUT_FLAG, "",
                               RunsError).get("U")
    except RunsError:  # several columns look like U: no guess
        return ()
    if column is None:
        return ()
    unique = pd.to_numeric(rest[column], errors="coerce").to_numpy(np.float64)
    repeated = columns["D"] > unique * (1 + 1e-9)  # NaN (unreadable) compares False
    if not repeated.any():
        return ()
    name = getattr(law, "name", law)
    return (f"column {column!r} looks like unique tokens (U): {int(repeated.sum())} of "
            f"{len(repeated)} runs trained on more tokens than that (repeated data), which law "
            f"{name!r} counts as fresh tokens; --law data_constrained uses U (API: "
            f"law='data_constrained')",)


def _mixed_sweeps_note(frame, columns, claimed, most_labels=50):
    """A note when runs repeat another's N and D with another loss and a column of text labels
    (at most ``most_labels`` of them) tells them apart: several sweeps (configurations,
    datasets) in one file, about to be fitted as one law. Silent for repeats no label column
    separates (repeated seeds of one sweep)."""
    sizes = pd.DataFrame({name: columns[name] for name in ("N", "D")})
    repeats = int(sizes.duplicated().sum())
    if not repeats:
        return ()
    left = {}  # label column -> repeats it leaves
    for column in frame.columns:
        values = frame[column]
        if (column in claimed.values() or _has_numbers(values)
                or not 1 < values.nunique() <= most_labels):
            continue
        left[column] = int(sizes.assign(label=values.astype(str).to_numpy()).duplicated().sum())
    if not left or min(left.values()) == repeats:
        return ()
    column = min(left, key=lambda name: (left[name], frame[name].nunique()))
    return (f"{repeats} runs repeat another run's N and D with another loss, and column "
            f"{column!r} ({frame[column].nunique()} values) tells them apart: several sweeps "
            f"fitted as one law? Fit one with --where \"{column} == {frame[column].iloc[0]}\" "
            f"(where=), or pool them with --group-col {column} --pool alpha,beta (group=, "
            f"fit_pooled)",)


def _without(frame, ignore, source):
    """The frame without the ``ignore`` columns (each must exist)."""
    for column in ignore or ():
        if column not in frame.columns:
            raise RunsError(f"{source}: --ignore-col {column!r} is not a column; columns are "
                            f"{list(frame.columns)}")
    return frame.drop(columns=list(ignore or ()))


def size_units(frame, mapping, declared, source):
    """The unit of each size column N, D, C of ``mapping`` (``declared``, else from its name
    when its cells are plain numbers: ``70M`` in a column ``size_m`` says its own unit), and
    notes saying which came from a name.

    >>> import pandas as pd
    >>> size_units(pd.DataFrame({"Model Size (B)": ["0.41"]}), {"N": "Model Size (B)"}, {}, "f")
    ({'N': 'B'}, ("column 'Model Size (B)' (N) read in units of B, as its name says",))
    """
    declared = dict(declared or {})
    unknown = sorted(set(declared) - {"N", "D", "C"})
    if unknown:
        raise RunsError(f"{source}: units are for N, D or C, not {unknown[0]!r}")
    found, notes = {}, ()
    for name in ("N", "D", "C"):
        column = mapping.get(name)
        if column is None or name in declared:
            continue
        unit = column_unit(column)[1]
        plain = frame[column].astype(str).str.strip().str.fullmatch(_PLAIN_NUMBER).all()
        if unit is not None and plain and _normalise(column) not in COLUMN_ALIASES[name]:
            found[name] = unit
            notes += (f"column {column!r} ({name}) read in units of {unit}, as its name says",)
    declared = {n: u for n, u in declared.items() if u not in (None, "1")}
    notes += tuple(f"column {mapping[n]!r} ({n}) read in units of {u}, as declared"
                   for n, u in declared.items() if n in mapping)
    return {**found, **declared}, notes


_INPUT_FLAG = {name: f"input {name}" for name in INPUT_ALIASES}  # inputs={name: COLUMN}


def _group_labels(frame, column, lines, source):
    """The group label of each run (strings), or None without a group column; a blank is an
    error, since it would silently become a group of its own."""
    if column is None:
        return None
    blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
    if blank.any():
        where = _line_ranges(np.asarray(lines)[blank.to_numpy()])
        raise RunsError(f"{source}: line(s) {where}: column {column!r} (group) is empty; give "
                        f"every run a group or drop those runs with --where")
    return frame[column].astype(str).to_numpy()


def _law_inputs(law):
    """The set of inputs ``law`` (a Law, a registry name or None) needs."""
    if law is None:
        return set()
    return set(law_inputs(law))


def check_flops_per_param_token(flops_per_param_token):
    k = float(flops_per_param_token)
    if not np.isfinite(k) or k <= 0:
        raise RunsError(f"flops per parameter and token must be positive, got {flops_per_param_token}")
    return k


def load_points(data, *, params=None, tokens=None, flops=None,
                flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN, check_sizes=True):
    """Read points to forecast (two of N, D, C per row) from a CSV path or DataFrame.

    With ``check_sizes`` (the default; False for the scale-free input of a one-variable law), a
    point smaller than any trained model is refused (`units.check_point_sizes`): a size in
    billions or a log10 value, not a model of 7 parameters.

    Returns
    -------
    tuple of numpy.ndarray
        ``(N, D, C)``, the missing one derived from C = k·N·D.

    Examples
    --------
    >>> import pandas as pd
    >>> load_points(pd.DataFrame({"params": ["70B"], "tokens": ["1.4T"]}))[2]
    array([5.88e+23])
    """
    frame, source, lines, _ = read_table(data)
    k = check_flops_per_param_token(flops_per_param_token)
    mapping = _detect_columns(frame, {"N": params, "D": tokens, "C": flops}, source,
                              need_loss=False, how_to_map="name two columns params, tokens or "
                              "flops (or N, D, C)")
    columns, problems = {}, {}
    for name, column in mapping.items():
        if name in ("N", "D", "C"):
            columns[name], problems[name] = _parse_column(frame, column, name, lines, source)
    _raise_first_problem(problems, np.ones(len(frame), dtype=bool))
    if check_sizes:
        check_point_sizes(columns, mapping, lines, source)
    if len(columns) == 3:
        _check_flops(columns, mapping, k, lines, source)
    _derive_sizes(columns, k)
    return columns["N"], columns["D"], columns["C"]


def _line_ranges(lines, most=20):
    """``[2, 3, 4, 7]`` -> ``"2-4, 7"`` (labels that are not integers are listed as they are);
    past ``most`` ranges the rest are counted, not listed."""
    try:
        numbers = [int(line) for line in lines]
    except ValueError:
        parts = list(map(str, lines))
    else:
        parts, start = [], numbers[0]
        for previous, current in zip(numbers, numbers[1:] + [None]):
            if current is None or current != previous + 1:
                parts.append(str(start) if start == previous else f"{start}-{previous}")
                start = current
    if len(parts) > most:
        return ", ".join(parts[:most]) + f", and {len(parts) - most} more ranges"
    return ", ".join(parts)


def _number_or_error(cell, name, line, source):
    try:
        return parse_number(cell)
    except ValueError as err:
        raise RunsError(f"{source}, line {line}, column {name!r}: {err} (needed by the filter)") from None


def _derive_sizes(columns, k):
    """Derive the missing one of N, D, C from C = k·N·D, in place. With only one of them (a
    one-variable law) the other two are NaN: unknown."""
    if sum(name in columns for name in ("N", "D", "C")) == 1:
        size = next(columns[name] for name in ("N", "D", "C") if name in columns)
        for name in ("N", "D", "C"):
            columns.setdefault(name, np.full_like(size, np.nan))
    elif "C" not in columns:
        columns["C"] = k * columns["N"] * columns["D"]
    elif "D" not in columns:
        columns["D"] = columns["C"] / (k * columns["N"])
    elif "N" not in columns:
        columns["N"] = columns["C"] / (k * columns["D"])


def _check_flops(columns, mapping, k, lines, source):
    """All three of N, D, C given: they must agree with C = k·N·D within 1.5x."""
    ratio = columns["C"] / (k * columns["N"] * columns["D"])
    bad = np.flatnonzero(np.abs(np.log(ratio)) > np.log(1.5))
    if not len(bad):
        return
    i, steady = bad[0], np.median(ratio)
    # One k for every run (a model family that is not a dense transformer): say which.
    hint = (f"; the ratio is steady at {steady:.3g}, so --flops-per-param-token "
            f"{k * steady:.3g} would make them agree"
            if np.all(np.abs(np.log(ratio / steady)) < np.log(1.2)) else "")
    raise RunsError(
        f"{source}, line {lines[i]}: FLOPs {columns['C'][i]:.3g} (column {mapping['C']!r}) "
        f"disagree with {k:g}·N·D = {k * columns['N'][i] * columns['D'][i]:.3g}; "
        f"{len(bad)} rows disagree by more than 1.5x{hint}. Give only two of N, D, C (leave "
        f"the FLOPs out with --flops-col none, flops='none'), or set the flops per parameter "
        f"and token (--flops-per-param-token, flops_per_param_token=)")


def _run_keys(columns, groups):
    """What makes a run the same run: N, D, loss (and group)."""
    key = pd.DataFrame({name: columns[name] for name in ("N", "D", "loss")})
    if groups is not None:
        key["group"] = groups
    return key


def _repeated(columns, groups):
    """True for each row that repeats an earlier one (same N, D, loss and group)."""
    return _run_keys(columns, groups).duplicated(keep="first").to_numpy()


def _refuse_duplicates(columns, groups, repeated, lines, source):
    key = _run_keys(columns, groups)
    i = int(np.flatnonzero(repeated)[0])
    first = int(np.flatnonzero((key == key.iloc[i]).all(axis=1).to_numpy())[0])
    raise RunsError(f"{source}, line {lines[i]}: duplicate of line {lines[first]} "
                    f"(same N, D and loss); {int(repeated.sum())} duplicated rows in all. "
                    f"Drop the repeats with --dedupe (dedupe=True), or remove them")
