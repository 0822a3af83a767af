"""The curated public surface of the package."""

import pytest


def test_public_api_names():
    import importlib

    import bayes_scaling as bs

    importlib.import_module("bayes_scaling.forecast")  # the submodule must not shadow the function
    assert callable(bs.forecast) and bs.forecast.__module__ == "bayes_scaling.forecast"
    assert all(hasattr(bs, name) for name in bs.__all__)
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        bs.fitt
