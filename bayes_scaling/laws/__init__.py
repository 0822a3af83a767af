"""Scaling laws: what a law is made of, the laws the engine knows, and their default priors.

- `base`: the records a law is made of, `Law` and `PowerTerm`.
- `family`: the laws beyond Chinchilla (power, Kaplan, broken, data-constrained, ...).
- `names`: the laws' names and inputs, without JAX (for reading runs files).
- `registry`: the Chinchilla law, the `LAWS` registry, `get_law`, `make_law`, `register_law`.
- `priors`: default priors per law (scaled to the data), parsing of ``"alpha=Beta(2,5)"``.

Import from the module that defines a name (``from bayes_scaling.laws.registry import
get_law``); the most used names are also at the top level (``bayes_scaling.LAWS``).
"""
