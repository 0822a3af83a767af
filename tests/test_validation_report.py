"""benchmarks/validation.py: the targets table and the cut-by-cut comparison with the baseline."""

import os
import sys

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import validation  # noqa: E402


def per_run_frame():
    """Two cuts of one dataset: 'default' wins the first cut on both scores, loses the second."""
    rows = []
    for cut, lpd, crps in ((1.0, (2.0, 3.0), (0.01, 0.03)), (2.0, (1.0, 0.0), (0.05, 0.07))):
        for run in range(2):
            rows.append({"dataset": "a", "set": "a", "cut": cut, "method": "default",
                         "lpd": lpd[run], "crps": crps[run]})
            rows.append({"dataset": "a", "set": "a", "cut": cut, "method": "huber-bootstrap",
                         "lpd": 2.0 if cut == 1.0 else 1.0, "crps": 0.03 if cut == 1.0 else 0.02})
    return pd.DataFrame(rows)


def test_paired_by_cut_against_hand_computation():
    table = validation.paired_by_cut(per_run_frame())
    assert len(table) == 1
    row = table.iloc[0]
    # Cut 1: mean lpd 2.5 vs 2.0 (+0.5), median CRPS 0.02 vs 0.03 (-0.01).
    # Cut 2: mean lpd 0.5 vs 1.0 (-0.5), median CRPS 0.06 vs 0.02 (+0.04).
    assert row["cuts"] == 2
    assert row["lpd_diff"] == pytest.approx(0.0)
    assert row["lpd_diff_se"] == pytest.approx(np.std([0.5, -0.5], ddof=1) / np.sqrt(2))
    assert row["crps_diff"] == pytest.approx(0.015)
    assert row["crps_diff_se"] == pytest.approx(np.std([-0.01, 0.04], ddof=1) / np.sqrt(2))
    assert row["lpd_better_cuts"] == 1 and row["crps_better_cuts"] == 1


def test_target_check_states_each_target_from_the_numbers():
    def summary(method, coverage_90, coverage_50, width_over_error, lpd, crps):
        return {"method": method, "coverage_90": coverage_90, "coverage_50": coverage_50,
                "width_over_error": width_over_error, "mean_lpd": lpd, "median_crps": crps}

    overall = pd.DataFrame([summary("default", 0.9, 0.5, 6.5, 1.0, 0.1),
                            summary("huber-bootstrap", 0.7, 0.3, 3.0, 0.5, 0.1)])
    by_dataset = pd.DataFrame([dict(summary("default", 0.95, 0.5, 5, 2.0, 0.02), dataset="a"),
                               dict(summary("huber-bootstrap", 0.8, 0.3, 3, 1.0, 0.01),
                                    dataset="a"),
                               dict(summary("default", 0.65, 0.5, 5, 1.0, 0.1), dataset="b"),
                               dict(summary("huber-bootstrap", 0.5, 0.3, 3, 0.0, 0.2),
                                    dataset="b")])
    table = validation.target_check(overall, by_dataset).set_index("target")["met"]
    assert table["pooled 90% coverage in [0.85, 0.95]"]
    assert table["pooled 50% coverage in [0.40, 0.60]"]
    assert not table["no dataset below 0.70 at 90%"]            # b: 0.65
    assert not table["median 90% width at most 6x the median |error| (pooled)"]   # 6.5
    assert table["a: mean log density above huber-bootstrap's"]
    assert not table["a: median CRPS below huber-bootstrap's"]   # 0.02 against 0.01
    assert table["b: mean log density above huber-bootstrap's"]
    assert table["b: median CRPS below huber-bootstrap's"]
    assert len(table) == 4 + 2 * 2
