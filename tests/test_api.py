"""The curated public surface of the package."""

import importlib
import pkgutil

import pytest

import bayes_scaling as bs


def test_public_api_names():
    assert 20 <= len(bs.__all__) <= 25, bs.__all__  # the everyday names; the rest in packages
    assert all(hasattr(bs, name) for name in bs.__all__)
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        bs.fitt


def test_no_module_shadows_a_public_name():
    """Importing every submodule leaves each public name what it was (no module of the same
    name rebinds the package attribute, as ``bayes_scaling.forecast`` once did)."""
    for module in pkgutil.walk_packages(bs.__path__, "bayes_scaling."):
        if not module.name.endswith(".__main__"):  # `python -m` entry points run on import
            importlib.import_module(module.name)
    submodules = {m.name for m in pkgutil.iter_modules(bs.__path__)}
    assert not submodules & set(bs.__all__)
    assert callable(bs.forecast) and bs.forecast.__module__ == "bayes_scaling.prediction"


def test_packages_are_attributes():
    assert bs.plots.plot_frontier is importlib.import_module(
        "bayes_scaling.plots.planning").plot_frontier
    assert bs.validation.backtest.rolling_backtest is importlib.import_module(
        "bayes_scaling.validation.backtest").rolling_backtest


def test_names_moved_in_0_2_still_work_and_say_where_they_went():
    from bayes_scaling.laws.priors import default_priors

    with pytest.warns(DeprecationWarning, match=r"bayes_scaling.laws.priors.default_priors"):
        assert bs.default_priors is default_priors
