"""Progress of a running fit or batch of fits: one bar, in a terminal or in Jupyter.

The compiled sampler reports each chain's iteration through a host callback (`report`, about
100 times a chain); `tracking` opens the bar around the call and shows the stage (compiling,
warmup, sampling), how many chains (or fits) are done and tqdm's estimate of the time left.
Chains are numbered across the fits of a batch, so one bar covers a whole `fit_many` or SBC
run, whatever the layout (sequential, vectorised or split over devices); `steps` adds a bar over
the fits of a longer job (the cutoffs of a rolling backtest).

Where the bar goes: a Jupyter widget when running in a notebook kernel with ipywidgets
installed, else text on stderr (which Jupyter also shows, redrawn in place). ``progress_bar=None``
in `SamplerConfig` means "when someone is watching": stderr is a terminal or the code runs in a
Jupyter kernel.

Example
-------
>>> with tracking(total_chains=2, iterations=10, warmup=5, label="NUTS", enabled=True) as bar:
...     report(0, 9)  # the compiled sampler calls this: chain 0 finished its 10 iterations
...     report(1, 4)  # chain 1 is still warming up
...     print(bar.n, bar.desc)
15 NUTS: warmup, 1/2 chains done
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys

import numpy as np
from tqdm import notebook as tqdm_notebook
from tqdm import std as tqdm_std

__all__ = ["tracking", "report", "steps", "watching", "in_notebook"]


class _Bar:
    """The bar of the fit running now (one at a time per process) and each chain's progress."""

    bar = None
    done = {}
    iterations = warmup = 1
    chains_per_fit = 1
    total_chains = 1


def in_notebook():
    """True inside a Jupyter (IPython kernel) session."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def watching():
    """Whether someone is watching this process: stderr is a terminal or this is Jupyter."""
    return in_notebook() or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def _new_bar(total, desc, unit="it", disable=False):
    # A widget needs ipywidgets: without it tqdm.notebook's bar fails when drawn (and again,
    # noisily, when garbage-collected), so look before creating one.
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        return tqdm_notebook.tqdm(total=total, desc=desc, unit=unit, leave=False,
                                  disable=disable)
    # Follow the terminal's size, except where it reports none (a pseudo-terminal nobody
    # sized, as under `script` or in some CI runners): tqdm would then draw nothing at all.
    try:
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):  # not a terminal (a file, Jupyter's stream)
        sized = False
    return tqdm_std.tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr,
                         dynamic_ncols=sized, ncols=None if sized else 100,
                         nrows=None if sized else 20, disable=disable)


def steps(total, label, enabled):
    """A bar over the steps of a longer job (e.g. the cutoffs of a rolling backtest), shown
    above the bar of the fit running in each step; use as ``with steps(...) as bar:`` and call
    ``bar.update()`` after each step (a no-op when not enabled).

    >>> with steps(3, "backtest cutoffs", enabled=False) as bar:
    ...     bar.update()
    """
    return _new_bar(total, label, unit="step", disable=not enabled)


@contextlib.contextmanager
def tracking(*, total_chains, iterations, warmup, label, enabled, chains_per_fit=None):
    """Show one bar while the block runs (nothing when ``enabled`` is False).

    Parameters
    ----------
    total_chains : int
        Chains that will report (all fits of a batch together).
    iterations, warmup : int
        Iterations per chain (warmup included) and how many of them are warmup.
    label : str
        What runs, e.g. "NUTS 4 chains" or "fit_many 8 fits".
    enabled : bool
    chains_per_fit : int, optional
        For a batch: chains per fit, so that the bar counts finished fits.

    Yields
    ------
    tqdm or None
        The bar (None when not enabled).
    """
    if not enabled:
        yield None
        return
    _Bar.bar = _new_bar(total_chains * iterations, f"{label}: compiling")
    _Bar.done, _Bar.iterations, _Bar.warmup = {}, iterations, warmup
    _Bar.chains_per_fit, _Bar.total_chains = chains_per_fit, total_chains
    try:
        yield _Bar.bar
    finally:
        _Bar.bar.refresh()  # the last state (updates between redraws are not drawn)
        _Bar.bar.close()
        _Bar.bar = None


def report(chain, iteration):
    """Host callback: ``chain`` (numbered across a batch) finished ``iteration`` (0-based).

    Called from inside the compiled sampler with scalars or, under ``vmap``, arrays."""
    bar = _Bar.bar
    if bar is None:
        return
    for c, i in zip(np.atleast_1d(chain).ravel(), np.atleast_1d(iteration).ravel()):
        if c < _Bar.total_chains:  # not a copy that pads a batch to the devices
            _Bar.done[int(c)] = int(i) + 1
    finished = sum(n == _Bar.iterations for n in _Bar.done.values())
    warming = any(n <= _Bar.warmup for n in _Bar.done.values() if n < _Bar.iterations)
    stage = "warmup" if warming else "sampling"
    if _Bar.chains_per_fit:
        done = f"{finished // _Bar.chains_per_fit}/{_Bar.total_chains // _Bar.chains_per_fit} " \
               f"fits done"
    else:
        done = f"{finished}/{_Bar.total_chains} chains done"
    label = bar.desc.rsplit(":", 1)[0]
    bar.set_description_str(f"{label}: {stage}, {done}", refresh=False)
    bar.update(sum(_Bar.done.values()) - bar.n)
