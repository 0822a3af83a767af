"""Dataset lookup (local directory, env var, cache), checked downloads, and simulate."""

import hashlib

import jax
import numpy as np
import pytest

import bayes_scaling.datasets as ds
from bayes_scaling.simulation import simulate


def test_lookup_through_environment_variable(datasets_dir, monkeypatch):
    monkeypatch.setenv(ds.DATA_ENV, datasets_dir)
    runs = ds.load_dataset("chinchilla-epoch240")
    assert len(runs) == 240 and runs.loss.max() < 3.4469
    assert runs.dropped[0].startswith("dropped 5 of 245 runs not matching 'loss < 3.4469'")
    assert len(ds.load_dataset("chinchilla")) == 245


def test_missing_dataset_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv(ds.DATA_ENV, str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="not found in .*set BAYES_SCALING_DATA"):
        ds.dataset_path("chinchilla")
    with pytest.raises(ValueError, match="unknown dataset 'chinchila'"):
        ds.dataset_path("chinchila")


def fake_remote(tmp_path, monkeypatch, content, sha):
    source = tmp_path / "remote.csv"
    source.write_bytes(content)
    spec = ds.DATASETS["chinchilla"]._replace(url=source.as_uri(), sha256=sha)
    monkeypatch.setitem(ds.DATASETS, "chinchilla", spec)
    monkeypatch.delenv(ds.DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_download_checks_sha256(tmp_path, monkeypatch):
    content = b"Model Size,Training FLOP,loss\n1e8,6e18,3\n1e9,6e20,2.5\n"
    fake_remote(tmp_path, monkeypatch, content, hashlib.sha256(content).hexdigest())
    path = ds.dataset_path("chinchilla", download=True)
    assert path.startswith(str(tmp_path / "cache")) and len(ds.load_dataset("chinchilla")) == 2


def test_download_with_wrong_sha256_leaves_nothing(tmp_path, monkeypatch):
    fake_remote(tmp_path, monkeypatch, b"tampered", "0" * 64)
    with pytest.raises(OSError, match="expected 0000"):
        ds.dataset_path("chinchilla", download=True)
    cache = tmp_path / "cache" / "bayes_scaling" / "datasets" / "chinchilla"
    assert list(cache.iterdir()) == []


def test_simulate_at_its_old_place_warns_and_is_the_same_function():
    with pytest.warns(DeprecationWarning, match="moved to bayes_scaling.simulation.simulate"):
        from bayes_scaling.datasets import simulate as old
    assert old is simulate
    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        ds.simulat


def test_simulate_design():
    runs = simulate(jax.random.key(0), num_runs=245)
    assert len(runs) == 245 and 5e7 <= runs.N.min() and runs.N.max() <= 1.6e10
    np.testing.assert_allclose(runs.C, 6 * runs.N * runs.D)
    ratio = runs.D / runs.N
    assert 2 <= ratio.min() and ratio.max() <= 200


def test_a_callers_filter_joins_the_datasets_own(datasets_dir):
    """Epoch's subset drops the 5 highest losses; a caller's --where must not undo that."""
    import bayes_scaling as bs

    runs = bs.load_dataset("chinchilla-epoch240", data_dir=datasets_dir, where="N > 1e8")
    assert runs.dropped[0].startswith("dropped 14 of 245 runs not matching "
                                      "'loss < 3.4469 and N > 1e8'")
    assert runs.loss.max() < 3.4469 and runs.N.min() > 1e8
