"""Real-data sets for backtesting the Chinchilla law L(N, D) = E + A/N^α + B/D^β.

Each set is fitted on its smaller-compute runs and asked to forecast its largest-compute runs.
Everything is read at run time from a data directory laid out as ``<data_dir>/<dataset>/<file>``
(a checkout's ``../shared/datasets``): several files carry no redistribution license, so nothing
is copied into the project.

The sets (``python benchmarks/validation_sets.py [DATA_DIR]`` prints them with a sanity check):

* ``chinchilla`` -- Epoch AI's 240 points of Hoffmann et al. (the registered
  ``chinchilla-epoch240``).
* ``datablations:unique`` -- the single-epoch (unique-data) runs of the datablations fit set.
* ``porian:<config_id>`` -- one set per configuration of Porian et al.'s IsoFLOP points (15).
* ``hitchhiker:gpt3``, ``hitchhiker:opt`` -- the two ColPret model families with a ladder of sizes
  and a pretraining loss, as thinned intermediate checkpoints.

Use from a sibling benchmark script (run from the repo root as ``python benchmarks/xyz.py``)::

    from validation_sets import validation_sets
    for vs in validation_sets("../shared/datasets", include=["porian"]):
        train, held_out = split_by_compute(vs.runs, holdout_top=0.2)
"""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.sweep_evidence import split_by_compute

__all__ = ["ValidationSet", "validation_sets", "summary", "DATASETS"]

# Drop checkpoints before this fraction of a run's final tokens (ColPret's advice: the early
# checkpoints, under warm-up and a high learning rate, hurt extrapolation), then keep at most
# CHECKPOINTS_PER_RUN of the rest, log-spaced in tokens.
MIN_TOKEN_FRACTION = 0.1
CHECKPOINTS_PER_RUN = 8


@dataclasses.dataclass(frozen=True)
class ValidationSet:
    """One real-data set: runs of a single experimental setup, to fit and forecast."""

    name: str          # e.g. "porian:rw|tuned|short|const|standard|val"
    dataset: str       # folder under the data directory, e.g. "porian_resolving"
    runs: "bs.Runs"
    note: str          # which file/rows, any filter, why
    reference: str = ""  # published numbers for a Chinchilla-law fit on (or near) these runs

    def __repr__(self):
        return f"ValidationSet({self.name!r}, {len(self.runs)} runs)"


def _file(data_dir, dataset, filename):
    """Path of ``<data_dir>/<dataset>/<filename>``; a clear error when it is not there."""
    path = os.path.join(data_dir, dataset, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"validation set {dataset!r} needs {filename} but {path} does not exist; pass the "
            f"shared datasets directory (laid out as <data_dir>/{dataset}/{filename}) or leave "
            f"{dataset!r} out with include=")
    return path


def _read_csv(path, **kwargs):
    """A CSV as a frame whose index is the file's line numbers (so `Runs.lines` point into it)."""
    frame = pd.read_csv(path, **kwargs)
    frame.index = np.arange(2, len(frame) + 2)  # line 1 is the header
    return frame


# --- chinchilla ------------------------------------------------------------------------------

def chinchilla_sets(data_dir):
    _file(data_dir, "chinchilla", "svg_extracted_data.csv")
    runs = bs.load_dataset("chinchilla-epoch240", data_dir=data_dir)
    note = ("chinchilla/svg_extracted_data.csv: Hoffmann et al. Fig. 4 digitised by Epoch AI, "
            "minus Epoch's 5 highest-loss outliers (loss < 3.4469); D = C/(6N); final training "
            "loss, nats/token (MassiveText)")
    ref = ("Epoch refit (Besiroglu et al. 2024) on these 240: E=1.817, A=482.01, alpha=0.3478, "
           "B=2085.43, beta=0.3659 (bootstrap SE 0.026, 124.5, 0.0154, 1293, 0.0206); "
           "Hoffmann et al. Approach 3: E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28")
    return [ValidationSet("chinchilla", "chinchilla", runs, note, ref)]


# --- datablations ----------------------------------------------------------------------------

def datablations_sets(data_dir):
    path = _file(data_dir, "datablations", "DERIVED_parametric_fit_182_points.csv")
    frame = _read_csv(path, dtype={"run_name": str})
    unique = frame[frame["D_tokens"] == frame["U_unique_tokens"]]
    runs = bs.load_runs(unique[["N_params", "D_tokens", "val_loss"]], params="N_params",
                        tokens="D_tokens", loss="val_loss")
    note = (f"datablations/DERIVED_parametric_fit_182_points.csv (the authors' fit set, "
            f"Muennighoff et al. 2023): the {len(runs)} single-epoch rows (D_tokens == "
            f"U_unique_tokens) of {len(frame)}, so D = tokens seen = unique tokens and the plain "
            f"law applies; the {len(frame) - len(runs)} repeated-data rows (up to 9000 epochs) "
            f"need the data-constrained law. Final C4 validation loss, nats/token. Kept as the "
            f"authors did, though odd: 3b926b26b (3.9B, 26B tokens) at 2.917 is ~0.3 above its "
            f"~6e20-FLOP neighbours")
    ref = ("authors' base Chinchilla coefficients (fitted on 54 single-epoch C4 IsoFLOP points "
           "NOT in this folder): E=1.8691, A=520.82, B=1487.72, alpha=beta=0.35266 (tied); "
           "plain law on all 182 points R^2=0.4452, data-constrained law R^2=0.7722")
    return [ValidationSet("datablations:unique", "datablations", runs, note, ref)]


# --- porian_resolving ------------------------------------------------------------------------

def porian_sets(data_dir):
    path = _file(data_dir, "porian_resolving", "DERIVED_porian_isoflop_points.csv")
    configs = pd.read_csv(path, usecols=["config_id"])["config_id"].drop_duplicates().tolist()
    references = _porian_references(data_dir)
    sets = []
    for config in configs:
        runs = bs.load_runs(path, params="n_params", tokens="tokens", flops="flops", loss="loss",
                            where=f"config_id == {config}")
        _, _, _, decay, param_count, loss_kind = config.split("|")
        note = (f"porian_resolving/DERIVED_porian_isoflop_points.csv rows with config_id == "
                f"{config}: each row is one model size at one FLOP budget (loss when the run "
                f"reaches it); N counted as {param_count!r}, {loss_kind} loss in nats; "
                f"{decay!r} LR decay, so "
                + ("each budget is a separate run" if decay == "chinchilla" else
                   "the budgets of one size are presumably checkpoints of one run "
                   "(correlated)"))
        sets.append(ValidationSet(f"porian:{config}", "porian_resolving", runs, note,
                                  references.get(config, "")))
    return sets


def _porian_references(data_dir):
    """config_id -> the stored IsoFLOP fits (optional file: no reference when it is absent)."""
    path = os.path.join(data_dir, "porian_resolving", "DERIVED_porian_fit_summary.csv")
    if not os.path.isfile(path):
        return {}
    references = {}
    for row in pd.read_csv(path).to_dict("records"):
        references[row["config_id"]] = (
            f"Porian et al. IsoFLOP fit: N* ~ C^a, a={row['a_n_exponent']:.3f} "
            f"[{row['a_boot_p2.5']:.3f}, {row['a_boot_p97.5']:.3f}] (95% bootstrap), D* ~ C^b, "
            f"b={row['b_t_exponent']:.3f}; a Chinchilla fit implies a = beta/(alpha+beta). "
            f"Optimal-loss fit L*(C) = {row['lossC_E']:.3f} + {row['lossC_A']:.4g} "
            f"C^-{row['lossC_alpha']:.4f}")
    return references


# --- hitchhiker_colpret ----------------------------------------------------------------------

# GPT-3 paper Table 2.1, nominal sizes of the `model` labels.
GPT3_PARAMS = {"small": 125e6, "medium": 350e6, "large": 760e6, "xl": 1.3e9, "2.7b": 2.7e9,
               "6.7b": 6.7e9, "13b": 13e9, "175b": 175e9}


def hitchhiker_sets(data_dir):
    return [_gpt3_set(data_dir), _opt_set(data_dir)]


def _gpt3_set(data_dir):
    path = _file(data_dir, "hitchhiker_colpret", os.path.join("raw_data", "gpt3", "extracted.csv"))
    curves = pd.read_csv(path).dropna(subset=["val_loss"])
    rows = []
    for model, curve in curves.groupby("model", sort=False):
        tokens = curve["step"].to_numpy() * 1e9  # `step` is tokens seen, in billions
        final = tokens.max()
        targets = np.geomspace(MIN_TOKEN_FRACTION * final, 0.97 * final, CHECKPOINTS_PER_RUN)
        for target in targets:
            # The curves are a cloud of digitised pixels: take the median of a +-5% window.
            near = np.abs(np.log(tokens / target)) < 0.05
            rows.append({"model": model, "N": GPT3_PARAMS[model],
                         "D": float(np.median(tokens[near])),
                         "loss": float(np.median(curve["val_loss"].to_numpy()[near])),
                         "label": f"{model}@{target / 1e9:.0f}B"})
    frame = pd.DataFrame(rows).set_index("label")
    runs = bs.load_runs(frame, params="N", tokens="D", loss="loss", group="model")
    note = (f"hitchhiker_colpret/raw_data/gpt3/extracted.csv: GPT-3 val_loss learning curves "
            f"(nats/token) digitised from Brown et al. 2020, 8 sizes all trained to 300B tokens; "
            f"per size {CHECKPOINTS_PER_RUN} points log-spaced from {MIN_TOKEN_FRACTION:.0%} to "
            f"97% of the final tokens, each the median of the digitised points within +-5% of "
            f"the target (D = tokens seen so far); group = size label. Checkpoints of one "
            f"cosine schedule, not separately tuned runs")
    return ValidationSet("hitchhiker:gpt3", "hitchhiker_colpret", runs, note, _HITCHHIKER_REF)


def _opt_set(data_dir):
    path = _file(data_dir, "hitchhiker_colpret",
                 os.path.join("aggregated_eval", "opt_trajectories.csv"))
    frame = _read_csv(path)
    frame["D"] = 10.0 ** frame["num_token"]  # num_token is log10 tokens
    frame["loss"] = np.log(frame["ppl"])     # validation perplexity -> nats/token
    keep = []
    for _, run in frame.groupby("model_size", sort=False):
        keep.extend(_thin(run, "D"))
    # Only these columns: `flops` (log10 FLOP) would otherwise be auto-detected as C.
    runs = bs.load_runs(frame.loc[keep, ["model_size", "D", "loss"]], params="model_size",
                        tokens="D", loss="loss", group="model_size")
    note = (f"hitchhiker_colpret/aggregated_eval/opt_trajectories.csv: OPT 125m-175b checkpoints "
            f"(Xia et al. 2023); D = 10**num_token (ColPret's steps x assumed batch size), loss = "
            f"ln(ppl) of validation perplexity; checkpoints before {MIN_TOKEN_FRACTION:.0%} of "
            f"each size's final tokens dropped, then at most {CHECKPOINTS_PER_RUN} per size kept "
            f"(nearest to a log-spaced grid, final included); N = nominal size; group = size")
    return ValidationSet("hitchhiker:opt", "hitchhiker_colpret", runs, note, _HITCHHIKER_REF)


def _thin(run, tokens_column):
    """Row labels of at most CHECKPOINTS_PER_RUN checkpoints of one run, log-spaced in tokens,
    from MIN_TOKEN_FRACTION of the final tokens to the final checkpoint (always kept)."""
    tokens = run[tokens_column]
    late = tokens[tokens >= MIN_TOKEN_FRACTION * tokens.max()]
    grid = np.geomspace(late.min(), late.max(), CHECKPOINTS_PER_RUN)
    picked = {(np.log(late) - np.log(target)).abs().idxmin() for target in grid}
    return sorted(picked)


_HITCHHIKER_REF = ("no published Chinchilla-law coefficients; Choshen et al. (Hitchhiker's guide) "
                   "score forecasts of a family's largest model by ARE = |L_hat - L|/L and (per "
                   "the provenance, unverified) treat ~4% ARE as the seed-noise floor")


# --- the registry ----------------------------------------------------------------------------

# dataset folder -> (short name used in set names, builder)
DATASETS = {
    "chinchilla": ("chinchilla", chinchilla_sets),
    "datablations": ("datablations", datablations_sets),
    "porian_resolving": ("porian", porian_sets),
    "hitchhiker_colpret": ("hitchhiker", hitchhiker_sets),
}


def validation_sets(data_dir, include=None):
    """The real-data validation sets found in ``data_dir`` (as `ValidationSet` objects).

    Parameters
    ----------
    data_dir : str or os.PathLike
        Directory holding ``<dataset>/<file>``, e.g. a checkout's ``../shared/datasets``.
    include : iterable of str, optional
        Which sets to build: dataset folder names (``"porian_resolving"``), short prefixes
        (``"porian"``, ``"hitchhiker"``) or full set names (``"hitchhiker:gpt3"``). Default: all.
        Only the datasets named are read.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` lacks a file one of the requested sets needs.
    ValueError
        An ``include`` entry names no dataset or set.
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    wanted = None if include is None else [include] if isinstance(include, str) else list(include)
    sets = []
    for folder, (short, build) in DATASETS.items():
        if wanted is None or any(w in (folder, short) or w.startswith(short + ":")
                                 for w in wanted):
            sets.extend(build(data_dir))
    if wanted is None:
        return sets
    unknown = [w for w in wanted if not any(_matches(w, s) for s in sets)]
    if unknown:
        known = sorted(set(DATASETS) | {short for short, _ in DATASETS.values()})
        known += [s.name for s in sets]
        raise ValueError(f"include: no validation set matches {unknown}; known: {known}")
    return [s for s in sets if any(_matches(w, s) for w in wanted)]


def _matches(wanted, vset):
    return wanted in (vset.name, vset.dataset, vset.name.split(":")[0])


def summary(vset, fraction=0.2, min_train=10):
    """Sanity numbers for one set: runs, distinct N and D, compute range, and whether holding out
    the top ``fraction`` of runs by compute (`split_by_compute`) leaves ``min_train`` to fit."""
    runs = vset.runs
    held = runs.C >= split_by_compute(runs, holdout_top=fraction)[1].C.min()
    return {"name": vset.name, "runs": len(runs), "distinct_N": len(np.unique(runs.N)),
            "distinct_D": len(np.unique(runs.D)), "C_min": float(runs.C.min()),
            "C_max": float(runs.C.max()), "held_out": int(held.sum()),
            "train": int((~held).sum()), "held_out_ok": int((~held).sum()) >= min_train,
            "held_out_C_from": float(runs.C[held].min())}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    here = os.path.dirname(os.path.abspath(__file__))
    data_dir = argv[0] if argv else os.path.join(os.path.dirname(os.path.dirname(here)),
                                                 "shared", "datasets")
    sets = validation_sets(data_dir)
    table = pd.DataFrame([summary(s) for s in sets]).set_index("name")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                           "display.float_format", "{:.3g}".format):
        print(table.to_string())
    for s in sets:
        print(f"\n{s.name}: {s.note}\n  reference: {s.reference or '-'}")
        for line in s.runs.dropped:
            print(f"  {line[:160]}")


if __name__ == "__main__":
    main()
