"""Every notebook (jupytext percent-format .py) runs top to bottom with quick settings."""

import glob
import os
import runpy

import pytest

from conftest import REPO

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.py")))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, monkeypatch, tmp_path, datasets_dir):
    monkeypatch.setenv("BAYES_SCALING_QUICK", "1")
    monkeypatch.setenv("BAYES_SCALING_DATA", datasets_dir)  # notebooks load real data from here
    monkeypatch.chdir(tmp_path)
    namespace = runpy.run_path(path)
    if "truth" in namespace:  # quickstart: the true value lies in the forecast's 90% interval
        row = namespace["expected"]
        assert row.lo_90 <= namespace["truth"] <= row.hi_90
