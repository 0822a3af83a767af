"""The laws' names and the inputs each needs, without JAX.

Reading a runs file needs only which columns a law uses, and an error about the file (a missing
column, a unit mistake) should appear before JAX is imported (about 1 s on a CPU). So the names
and inputs of the built-in laws are listed here, `laws.registry` checks on import that its laws
agree (and adds each law it registers), and `data.load_runs` asks `law_inputs`.

Example
-------
>>> law_inputs("data-constrained")
('N', 'D', 'U')
>>> canonical_name("Chinchila")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown law 'Chinchila' (did you mean 'chinchilla'?); known laws: chinchilla, power_N, ...
"""

from __future__ import annotations

import difflib

__all__ = ["LAW_INPUTS", "canonical_name", "law_inputs", "record_law"]

# name -> the inputs of the law, for every registered law (the built-ins first, in `LAWS` order)
LAW_INPUTS = {
    "chinchilla": ("N", "D"),
    "power_N": ("N",), "power_D": ("D",), "power_C": ("C",),
    "pure_power_N": ("N",), "pure_power_D": ("D",), "pure_power_C": ("C",),
    "kaplan": ("N", "D"),
    "broken_N": ("N",), "broken_D": ("D",), "broken_C": ("C",),
    "data_constrained": ("N", "D", "U"), "data_constrained_tied": ("N", "D", "U"),
    "effective_data": ("N", "D_1", "D_2"),
}


def _spelling(name):
    return str(name).lower().replace("-", "_")


def canonical_name(name):
    """The registered name ``name`` means (case and ``-`` for ``_`` ignored); a `ValueError`
    with a suggestion for an unknown one."""
    if name in LAW_INPUTS:
        return name
    by_spelling = {_spelling(known): known for known in LAW_INPUTS}
    if _spelling(name) in by_spelling:
        return by_spelling[_spelling(name)]
    close = difflib.get_close_matches(_spelling(name), list(by_spelling), n=1)
    hint = f" (did you mean {by_spelling[close[0]]!r}?)" if close else ""
    raise ValueError(f"unknown law {name!r}{hint}; known laws: {', '.join(LAW_INPUTS)}")


def law_inputs(law):
    """The inputs of ``law``: a `Law` (its own) or a registered name."""
    if not isinstance(law, str):
        return tuple(law.inputs)
    return LAW_INPUTS[canonical_name(law)]


def record_law(name, inputs):
    """Record (or replace) a registered law's inputs (`laws.registry.register_law` calls it)."""
    LAW_INPUTS[name] = tuple(inputs)
