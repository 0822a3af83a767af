"""benchmarks/validation_sets.py: the real-data backtest sets (skipped without the shared data)."""

import os
import sys

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.sweep_evidence import split_by_compute

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import validation_sets as vs  # noqa: E402


@pytest.fixture(scope="module")
def all_sets(datasets_dir):
    return vs.validation_sets(datasets_dir)


def test_every_set_is_built_and_can_hold_out_its_largest_runs(all_sets):
    by_name = {s.name: s for s in all_sets}
    assert len(by_name) == len(all_sets) == 1 + 1 + 15 + 2
    sizes = {"chinchilla": 240, "datablations:unique": 29, "hitchhiker:gpt3": 64,
             "hitchhiker:opt": 47, "porian:rw|tuned|short|const|standard|val": 121}
    for name, size in sizes.items():
        assert len(by_name[name].runs) == size, name
    porian = [s for s in all_sets if s.dataset == "porian_resolving"]
    assert all(88 <= len(s.runs) <= 132 and s.reference for s in porian)
    for s in all_sets:
        assert isinstance(s.runs, bs.Runs) and s.note
        assert np.all(np.isfinite(s.runs.loss)) and np.all(s.runs.loss > 0)
        info = vs.summary(s)
        assert info["held_out_ok"] and info["held_out"] >= 0.2 * info["runs"], info
        assert info["distinct_N"] >= 5 and info["distinct_D"] >= 5, info


def test_choices_documented_in_the_data(all_sets):
    by_name = {s.name: s for s in all_sets}
    # datablations: unique data only, so D (tokens seen) is also the unique-token count.
    assert "single-epoch" in by_name["datablations:unique"].note
    # Checkpoint families: thinned, grouped by model, largest model entirely held out.
    for name in ("hitchhiker:gpt3", "hitchhiker:opt"):
        runs = by_name[name].runs
        assert max(np.bincount(pd.factorize(runs.group)[0])) <= vs.CHECKPOINTS_PER_RUN
        largest = runs.N == runs.N.max()
        held = split_by_compute(runs, holdout_top=0.2)[1]
        assert set(runs.N[largest]) <= set(held.N) and held.N.max() == runs.N.max()
        assert (runs.C[largest] >= held.C.min()).all()


def test_include_selects_by_folder_prefix_or_name(datasets_dir):
    assert [s.dataset for s in vs.validation_sets(datasets_dir, include="chinchilla")] == \
        ["chinchilla"]
    porian = vs.validation_sets(datasets_dir, include=["porian"])
    assert len(porian) == 15
    one = vs.validation_sets(datasets_dir, include=["hitchhiker:opt", porian[0].name])
    assert [s.name for s in one] == [porian[0].name, "hitchhiker:opt"]
    with pytest.raises(ValueError, match="no validation set matches"):
        vs.validation_sets(datasets_dir, include=["hitchhiker:t5"])


def test_missing_file_is_a_clear_error(tmp_path):
    (tmp_path / "datablations").mkdir()
    with pytest.raises(FileNotFoundError, match="DERIVED_parametric_fit_182_points.csv"):
        vs.validation_sets(tmp_path, include=["datablations"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vs.validation_sets(tmp_path / "nowhere")
