"""Public scaling-law datasets, found locally or downloaded and checked.

The project ships no third-party data: several public files carry no redistribution license. A
dataset is looked up, in order, in the ``data_dir`` argument, in the directory named by the
environment variable ``BAYES_SCALING_DATA`` (laid out as ``<dir>/<name>/<file>``, e.g. a checkout's
``../shared/datasets``), and in the user cache (``~/.cache/bayes_scaling``); with
``download=True`` it is fetched from its canonical source into the cache and its sha256 verified.

This module imports no JAX, so a command that reads a file reports its mistakes at once.
Simulated runs with known truth are in `simulation`.

Example
-------
>>> sorted(DATASETS)
['chinchilla', 'chinchilla-epoch240']
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import urllib.request
import warnings
from typing import NamedTuple

from .data import load_runs

__all__ = ["Dataset", "DATASETS", "EPOCH_CHINCHILLA", "dataset_path", "load_dataset", "DATA_ENV"]

DATA_ENV = "BAYES_SCALING_DATA"

# Epoch AI's refit of Hoffmann et al.'s data (Besiroglu et al. 2024, Table 1).
EPOCH_CHINCHILLA = {"E": 1.817, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3659}


class Dataset(NamedTuple):
    """Where a public dataset lives and how to read it as runs."""

    name: str
    filename: str
    url: str
    sha256: str
    columns: dict
    where: str | None = None
    citation: str = ""


_CHINCHILLA = Dataset(
    name="chinchilla",
    filename="svg_extracted_data.csv",
    url="https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
        "92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv",
    sha256="193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30",
    columns={"params": "Model Size", "flops": "Training FLOP", "loss": "loss"},
    citation="Hoffmann et al. 2022 Fig. 4, digitised by Besiroglu et al. 2024 (Epoch AI); "
             "no license: do not redistribute",
)

DATASETS = {d.name: d for d in (
    _CHINCHILLA,
    # Epoch's 240-point subset: drop the 5 highest losses, as their notebook does with
    # ``loss < sorted(loss)[-5]``; the fifth highest is 3.446995, hence the threshold.
    _CHINCHILLA._replace(name="chinchilla-epoch240", where="loss < 3.4469",
                         citation="as chinchilla, minus Epoch's 5 outliers"),
)}


def _cache_dir():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "bayes_scaling", "datasets")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder(name):
    # "chinchilla-epoch240" is a view of the "chinchilla" folder.
    return name.split("-")[0]


def dataset_path(name, data_dir=None, download=False):
    """Path of a dataset's file: local directories first, then the cache, then a download.

    Raises
    ------
    FileNotFoundError
        When the file is nowhere and ``download`` is False; the message says where it looked.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    candidates = [d for d in (data_dir, os.environ.get(DATA_ENV), _cache_dir()) if d]
    for directory in candidates:
        path = os.path.join(directory, _folder(name), spec.filename)
        if os.path.isfile(path):
            return path
    if not download:
        raise FileNotFoundError(
            f"dataset {name!r} ({spec.filename}) not found in {candidates}; set {DATA_ENV} or "
            f"pass a data directory (--data-dir, data_dir=) holding "
            f"{_folder(name)}/{spec.filename}, or allow the download (--download, download=True)")
    return _download(spec, os.path.join(_cache_dir(), _folder(name), spec.filename))


def _download(spec, target):
    """Fetch ``spec.url`` to ``target`` atomically, refusing a file whose sha256 differs."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(spec.url, timeout=60) as src:
            shutil.copyfileobj(src, out)
        digest = _sha256(partial)
        if digest != spec.sha256:
            raise OSError(f"download of {spec.name!r} from {spec.url} has sha256 {digest}, "
                          f"expected {spec.sha256}; not saved")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def load_dataset(name, data_dir=None, download=False, **kwargs):
    """Load a registered dataset as `Runs` (keyword arguments go to `load_runs`).

    With ``BAYES_SCALING_DATA`` pointing at a checkout's ``../shared/datasets``,
    ``load_dataset("chinchilla-epoch240")`` gives Epoch AI's 240 runs.
    """
    spec = DATASETS.get(name)
    path = dataset_path(name, data_dir=data_dir, download=download)
    options = {**spec.columns, **kwargs}
    # The dataset's own filter (e.g. Epoch's loss cut) holds together with a caller's.
    filters = [w for w in (spec.where, kwargs.get("where")) if w]
    options["where"] = " and ".join(filters) if filters else None
    return load_runs(path, **options)


def __getattr__(name):
    # 0.1's place of `simulate`, kept for one release; importing it here would import JAX.
    if name == "simulate":
        warnings.warn("bayes_scaling.datasets.simulate moved to bayes_scaling.simulation.simulate "
                      "(also bayes_scaling.simulate); the old place goes in 0.3",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(".simulation", __package__).simulate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
