"""Every notebook (jupytext percent-format .py) runs top to bottom with quick settings, and the
claims a notebook states in its text hold in what it computed."""

import glob
import os
import runpy

import numpy as np
import pytest

from conftest import REPO

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.py")))


def check_quickstart(ns):
    """The true expected loss at 70B/1.4T lies in the forecast's 90% interval."""
    row = ns["expected"]
    assert row.lo_90 <= ns["truth"] <= row.hi_90


def check_compute_optimal(ns):
    """Epoch AI's 18.3 tokens per parameter lies in the 90% interval of D*/N*; of the candidate
    runs at 1e23 FLOP, the chosen one's mean regret is below that of the runs 4x off N*."""
    ours = ns["ours"]
    assert ours.lo_90 <= ns["ratios"]["Epoch AI (2024)"] <= ours.hi_90
    regret, names = ns["regret"].mean(axis=0), ns["names"]
    chosen = regret[names.index(ns["choice"])]
    assert chosen < regret[names.index("N* x 0.25")] and chosen < regret[names.index("N* x 4")]
    assert np.all(ns["regret"] >= -1e-12)  # no candidate beats a draw's own optimum
    assert ns["decision"]["P(best of these)"].sum() == pytest.approx(1.0)


def check_epoch_replication(ns):
    """Epoch's five point estimates lie in our 95% intervals; Hoffmann's a = 0.46 lies outside
    our 80% interval of a, Epoch's 0.513 inside it."""
    assert all(ns["epoch_inside"].values()) and len(ns["epoch_inside"]) == 5
    assert not ns["hoffmann_a_inside"] and ns["a_lo"] <= 0.513 <= ns["a_hi"]


def check_compare_laws(ns):
    """4-digit addition: the broken law beats the power law by LOO and on the 3 held-out points,
    which only its 90% intervals cover."""
    table = ns["bnsl"]
    broken, power = table.loc["broken_D"], table.loc["power_D"]
    assert broken["elpd_loo"] > power["elpd_loo"]
    assert broken["held-out rel. error (median)"] < power["held-out rel. error (median)"]
    assert broken["held-out in 90% interval"] == "3 of 3"
    assert power["held-out in 90% interval"] == "0 of 3"


def check_plan_next_runs(ns):
    """The proposals fit the budget; after training them the large run's 90% interval is
    narrower, and the real loss lies inside it before and after."""
    assert 0 < ns["design"].proposals["cumulative_C"].iloc[-1] <= ns["BUDGET"]
    assert ns["width_after"] < ns["width_before"]
    truth = ns["every"].loss[ns["big"]]
    for row in (ns["before"], ns["after"]):
        assert row["lo_90"] <= truth <= row["hi_90"]


CHECKS = {"quickstart.py": check_quickstart, "compute_optimal.py": check_compute_optimal,
          "epoch_replication.py": check_epoch_replication,
          "compare_laws.py": check_compare_laws, "plan_next_runs.py": check_plan_next_runs}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, monkeypatch, tmp_path, datasets_dir):
    monkeypatch.setenv("BAYES_SCALING_QUICK", "1")
    monkeypatch.setenv("BAYES_SCALING_DATA", datasets_dir)  # notebooks load real data from here
    monkeypatch.delenv("BAYES_SCALING_FIGURES", raising=False)
    monkeypatch.chdir(tmp_path)
    namespace = runpy.run_path(path)
    check = CHECKS.get(os.path.basename(path))
    if check is not None:
        check(namespace)
