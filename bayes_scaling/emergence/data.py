"""Scores: the table of downstream-task results an emergence model is fitted to.

One row per (model, task): the model's size N (or its compute C, or N and tokens D), the task's
score in [0, 1], the task's chance level r, and optionally the number of evaluation items n and a
model family. `load_scores` reads a CSV or DataFrame, recognises common column names (as
`data.load_runs` does), takes chance levels and item counts from a column or one value for all
tasks, and validates every cell: errors name the source, the line, the column and the task.

Example
-------
>>> import pandas as pd
>>> frame = pd.DataFrame({"params": ["70M", "1B", "7B"] * 2, "task": ["mc"] * 3 + ["em"] * 3,
...                       "score": [0.25, 0.4, 0.7, 0.0, 0.1, 0.5],
...                       "chance": [0.25] * 3 + [0.0] * 3})
>>> scores = load_scores(frame, items=1000)
>>> scores.tasks, scores.chance_of("em"), float(scores.N[1])
(['mc', 'em'], 0.0, 1000000000.0)
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from ..data import (DEFAULT_FLOPS_PER_PARAM_TOKEN, RunsError, apply_where,
                   check_flops_per_param_token, match_columns, parse_number, size_units)
from ..reading import read_table
from ..units import check_scales, convert
from ..datasets import DATA_ENV

__all__ = ["Scores", "load_scores", "SCORE_ALIASES", "obsscaling_emergence_frame", "pythia_final_frame"]

SCORE_ALIASES = {
    "N": ("n", "params", "parameters", "nparams", "numparams", "paramcount", "modelsize",
          "size", "paramstotal", "totalparams"),
    "D": ("d", "tokens", "ntokens", "numtokens", "trainingtokens", "traintokens", "datasize"),
    "C": ("c", "flops", "flop", "compute", "trainingflop", "trainingflops", "trainflops"),
    "score": ("score", "accuracy", "acc", "exactmatch", "value"),
    "task": ("task", "taskname", "benchmark"),
    "chance": ("chance", "chancelevel", "chanceaccuracy", "random", "randombaseline"),
    "items": ("items", "nitems", "numitems", "numexamples", "examples", "nexamples"),
    "group": ("group", "family", "modelfamily"),
}
_FLAGS = {"N": "params-col", "D": "tokens-col", "C": "flops-col", "score": "score-col",
          "task": "task-col", "chance": "chance-col", "items": "items-col", "group": "group-col"}


class ScoresError(RunsError):
    """Invalid score data; the message names the source, the line, the column and the task."""


@dataclasses.dataclass(frozen=True)
class Scores:
    """Validated scores, one entry per (model, task); float64 arrays, C and D NaN where unknown.

    Attributes
    ----------
    task : numpy.ndarray of str
    N, D, C, score, chance, items : numpy.ndarray
        ``items`` is 0 where the number of evaluation items is unknown.
    ceiling : float
        Largest possible score (1 unless told otherwise).
    group, lines, source, flops_per_param_token, columns, notes
        As for `data.Runs`.
    """

    task: np.ndarray
    N: np.ndarray
    D: np.ndarray
    C: np.ndarray
    score: np.ndarray
    chance: np.ndarray
    items: np.ndarray
    ceiling: float = 1.0
    group: np.ndarray | None = None
    lines: np.ndarray | None = None
    source: str = "DataFrame"
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN
    columns: dict = dataclasses.field(default_factory=dict)
    dropped: tuple = ()
    notes: tuple = ()

    def __len__(self):
        return len(self.score)

    @property
    def tasks(self):
        """Task names in order of first appearance."""
        return list(dict.fromkeys(self.task.tolist()))

    def rows(self, task):
        """Boolean mask of one task's rows."""
        return self.task == task

    def chance_of(self, task):
        return float(self.chance[self.rows(task)][0])

    def subset(self, keep):
        """The rows where ``keep`` is True."""
        keep = np.asarray(keep, bool)
        pick = {f: getattr(self, f)[keep] for f in ("task", "N", "D", "C", "score", "chance",
                                                    "items", "lines")}
        pick["group"] = None if self.group is None else self.group[keep]
        return dataclasses.replace(self, **pick)

    def to_frame(self):
        frame = pd.DataFrame({"task": self.task, "N": self.N, "D": self.D, "C": self.C,
                              "score": self.score, "chance": self.chance, "items": self.items})
        if self.group is not None:
            frame["group"] = self.group
        return frame


def _detect(frame, explicit, source):
    mapping = match_columns(frame, explicit, SCORE_ALIASES, _FLAGS, source, ScoresError,
                            sized=("N", "D", "C"))
    if "score" not in mapping:
        raise ScoresError(f"{source}: no score column found among {list(frame.columns)}; name "
                          f"it with --score-col COLUMN (score=)")
    if "N" not in mapping and "C" not in mapping:
        raise ScoresError(f"{source}: need the model size (params, N) or its compute (flops, C), "
                          f"found neither among {list(frame.columns)}; map them with --params-col "
                          f"or --flops-col")
    return mapping


def _cells(frame, column, canonical, lines, source, tasks, *, optional=False):
    """Parse a column of numbers; missing cells are an error unless ``optional`` (then NaN)."""
    values = np.full(len(frame), np.nan)
    for i, raw in enumerate(frame[column].tolist()):
        where = f"{source}, line {lines[i]}, column {column!r} ({canonical}), task {tasks[i]!r}"
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
            if optional:
                continue
            raise ScoresError(f"{where}: value is missing")
        try:
            value = parse_number(raw)
        except ValueError as err:
            raise ScoresError(f"{where}: {err}") from None
        if not np.isfinite(value):
            raise ScoresError(f"{where}: {raw!r} is not finite")
        values[i] = value
    return values


def load_scores(data, *, params=None, tokens=None, flops=None, score=None, task=None,
                chance=None, items=None, group=None, ceiling=1.0,
                flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN, where=None, units=None,
                accept_units=False):
    """Read and validate task scores from a CSV path or a DataFrame.

    Parameters
    ----------
    data : str, os.PathLike or pandas.DataFrame
    params, tokens, flops, score, task, group : str, optional
        Column names; unnamed ones are auto-detected (`SCORE_ALIASES`). Without a task column
        all rows are one task named after the score column.
    chance, items : str or float, optional
        A column name, or one value for every task. Chance levels are required (from a column
        or a value); ``items`` (evaluation items per score) is optional, 0 meaning unknown.
    ceiling : float
        The largest possible score (default 1); every chance level must lie below it.
    flops_per_param_token : float
        k in C = k·N·D, to derive C from N and D.
    where : str, optional
        Keep only rows matching conditions on the data's own columns, e.g. ``"metric == acc
        and step == 143000"``, applied before anything is read (so rows of other metrics are
        never validated as scores). The rows removed are listed in ``Scores.dropped``.
    units : dict, optional
        The unit of N, D or C when not a plain count, e.g. ``{"N": "B"}`` (see `units.UNITS`);
        a unit in a column's name (``Model Size (B)``) is read without asking.
    accept_units : bool
        Sizes whose scale looks like a unit mistake are kept with a warning, not refused.

    Returns
    -------
    Scores

    Raises
    ------
    ScoresError
        Naming source, line, column and task: unknown or missing columns, unparseable cells,
        scores outside [0, 1], a missing chance level, chance ≥ ceiling, non-positive sizes.
    """
    frame, source, lines, read_notes = read_table(data)
    dropped = ()
    if where:
        keep, note = apply_where({}, frame, lines, where, source, "rows", ScoresError)
        frame, lines = frame[keep].reset_index(drop=True), np.asarray(lines)[keep]
        dropped = (note,) if note else ()
    k = check_flops_per_param_token(flops_per_param_token)
    if not 0 < ceiling <= 1:
        raise ScoresError(f"ceiling must be in (0, 1], got {ceiling}")
    explicit = {"N": params, "D": tokens, "C": flops, "score": score, "task": task,
                "group": group}
    for name, value in (("chance", chance), ("items", items)):
        if isinstance(value, str) and not _is_number(value):
            explicit[name] = value
    mapping = _detect(frame, explicit, source)
    tasks = (frame[mapping["task"]].astype(str).str.strip().to_numpy() if "task" in mapping
             else np.full(len(frame), str(mapping["score"]), dtype=object))
    col = {name: _cells(frame, mapping[name], name, lines, source, tasks,
                        optional=name in ("D", "C"))
           for name in ("N", "D", "C", "score") if name in mapping}
    unit_of, unit_notes = size_units(frame, mapping, units, source)
    col = convert(col, unit_of, "loss")
    # Sizes in billions (obsscaling's "Model Size (B)" given as --params-col) or log10 would
    # put every threshold at a meaningless scale.
    check_scales({name: col[name] for name in ("N", "D", "C") if name in col},
                 mapping, source, accept=accept_units, k=k, error=ScoresError)
    n = len(frame)
    N, D, C = (col.get(name, np.full(n, np.nan)) for name in ("N", "D", "C"))
    for name, values in (("N", N), ("D", D), ("C", C)):
        bad = np.flatnonzero(values <= 0)
        if len(bad):
            i = bad[0]
            raise ScoresError(f"{source}, line {lines[i]}, column {mapping[name]!r} ({name}), "
                              f"task {tasks[i]!r}: {values[i]:g} must be positive")
    C = np.where(np.isnan(C), k * N * D, C)
    if "N" not in mapping:
        N = np.where(np.isnan(N), C / (k * D), N)
    s = col["score"]
    bad = np.flatnonzero((s < 0) | (s > 1))
    if len(bad):
        i = bad[0]
        hint = " (percentages? divide by 100)" if s.max() <= 100 and s.max() > 1 else ""
        raise ScoresError(f"{source}, line {lines[i]}, column {mapping['score']!r}, task "
                          f"{tasks[i]!r}: score {s[i]:g} is outside [0, 1]{hint}; "
                          f"{len(bad)} rows are (a table of several metrics? keep one with "
                          f"--where \"metric == acc\")")
    r = _per_row(frame, mapping, "chance", chance, lines, source, tasks)
    missing = np.flatnonzero(np.isnan(r))
    if len(missing):
        i = missing[0]
        raise ScoresError(f"{source}, line {lines[i]}, task {tasks[i]!r}: no chance level; give "
                          f"--chance VALUE or a chance column (--chance-col, chance=)")
    high = np.flatnonzero((r >= ceiling) | (r < 0))
    if len(high):
        i = high[0]
        raise ScoresError(f"{source}, line {lines[i]}, task {tasks[i]!r}: chance level {r[i]:g} "
                          f"must lie in [0, ceiling = {ceiling:g})")
    for t in dict.fromkeys(tasks.tolist()):
        values = np.unique(r[tasks == t])
        if len(values) > 1:
            raise ScoresError(f"{source}, task {t!r}: several chance levels {values.tolist()}")
    m = _per_row(frame, mapping, "items", items, lines, source, tasks)
    m = np.where(np.isnan(m), 0.0, m)
    bad = np.flatnonzero((m < 0) | (m != np.round(m)))
    if len(bad):
        i = bad[0]
        raise ScoresError(f"{source}, line {lines[i]}, task {tasks[i]!r}: items {m[i]:g} must be "
                          f"a whole number >= 0 (0 = unknown)")
    groups = frame[mapping["group"]].astype(str).to_numpy() if "group" in mapping else None
    bad = np.flatnonzero(np.isnan(N) & np.isnan(C))
    if len(bad):
        i = bad[0]
        raise ScoresError(f"{source}, line {lines[i]}, task {tasks[i]!r}: no model size or "
                          f"compute")
    return Scores(task=tasks.astype(str), N=N, D=D, C=C, score=s, chance=r, items=m,
                  ceiling=float(ceiling), group=groups, lines=np.asarray(lines),
                  source=source, flops_per_param_token=k, columns=dict(mapping),
                  dropped=dropped, notes=tuple(read_notes) + unit_notes)


def _is_number(text):
    try:
        parse_number(text)
        return True
    except ValueError:
        return False


def _per_row(frame, mapping, name, value, lines, source, tasks):
    """A per-row column from the data, or one value (a number) for every row, or NaN."""
    if name in mapping:
        cells = _cells(frame, mapping[name], name, lines, source, tasks, optional=True)
        if value is not None and _is_number(value):  # the value fills the column's gaps
            cells = np.where(np.isnan(cells), parse_number(value), cells)
        return cells
    if value is None:
        return np.full(len(frame), np.nan)
    return np.full(len(frame), parse_number(value))


# -- the public emergence datasets (read from a local copy, never shipped) ---------------------
OBSSCALING_CHANCE = {  # PROVENANCE.md of obsscaling_emergence (standard values per format)
    "parsinlu_qa_2_acc": 0.25, "word_unscrambling_2_exact_match": 0.0,
    "ipa_transliterate_2_exact_match": 0.0, "arithmetic_3ds_2_acc": 0.0,
    "arithmetic_3da_2_acc": 0.0, "arithmetic_2dm_2_acc": 0.0, "arithmetic_2da_2_acc": 0.0}


def _data_dir(data_dir):
    directory = data_dir or os.environ.get(DATA_ENV)
    if not directory:
        raise FileNotFoundError(f"give data_dir= or set {DATA_ENV} to the folder holding the "
                                f"public datasets (e.g. a checkout's ../shared/datasets)")
    return directory


def obsscaling_emergence_frame(data_dir=None):
    """Ruan et al.'s (2024) BIG-bench "emergent" task scores joined to model sizes and FLOPs,
    long format: model, family, N, C, task, score, chance (BLEU, not a [0, 1] score, left out).
    BTLM-3B's data size is in B, not T, in the source (see PROVENANCE.md): corrected here."""
    folder = os.path.join(_data_dir(data_dir), "obsscaling_emergence", "eval_results")
    scores = pd.read_csv(os.path.join(folder, "base_llm_emergent_capability_eval.csv"))
    meta = pd.read_csv(os.path.join(folder, "base_llm_benchmark_eval.csv"))
    meta = meta[["Model", "Model Family", "Model Size (B)", "FLOPs (1E21)"]]
    joined = scores.merge(meta, on="Model", how="left")
    flops = joined["FLOPs (1E21)"] * 1e21
    flops = flops.where(joined["Model"] != "cerebras/btlm-3b-8k-base", flops / 1000)
    long = joined.assign(N=joined["Model Size (B)"] * 1e9, C=flops).melt(
        id_vars=["Model", "Model Family", "N", "C"], value_vars=list(OBSSCALING_CHANCE),
        var_name="task", value_name="score")
    long["chance"] = long["task"].map(OBSSCALING_CHANCE)
    return long.rename(columns={"Model": "model", "Model Family": "family"}).dropna(
        subset=["score"]).reset_index(drop=True)


def pythia_final_frame(data_dir=None, tasks=("lambada_openai", "piqa", "arc_easy", "sciq",
                                             "arc_challenge", "winogrande", "mmlu_avg57")):
    """Pythia's zero-shot accuracies at the final checkpoint (both suites), long format: model,
    N (total parameters), task, score, chance, items (from lm-eval's standard error,
    n = p(1 − p)/se² + 1; 0 where there is none, e.g. the MMLU average)."""
    path = os.path.join(_data_dir(data_dir), "pythia_evals", "DERIVED_pythia_zero_shot_long.csv")
    frame = pd.read_csv(path)
    final = frame[(frame["step"] == frame["step"].max()) & (frame["metric"] == "acc")
                  & frame["task"].isin(tasks)].copy()
    p, se = final["value"], final["stderr"]
    items = np.where(se > 0, np.round(p * (1 - p) / np.square(se.where(se > 0, 1.0)) + 1), 0)
    final["items"] = items
    return final.rename(columns={"params_total": "N", "value": "score",
                                 "chance_level": "chance"})[
        ["model", "suite", "N", "task", "score", "chance", "items"]].reset_index(drop=True)
