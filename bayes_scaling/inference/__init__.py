"""Inference: the sampler and the programs built on it.

- `nuts`: the hand-written NUTS kernel and Stan's windowed warmup (one chain, flat vector).
- `sampler`: the one place that jits and picks devices: `SamplerConfig`, the cached compiled
  sampler, chain layout, `run_nuts`, `run_batch`.
- `distributed`: sweeps of independent fits over several processes.
- `batch`: `fit_many` and `FitBatch`, many fits in one compiled program.
- `pooled`: the hierarchical model of groups of runs and `fit_pooled`.

Import from the module that defines a name (``from bayes_scaling.inference.sampler import
SamplerConfig``); the most used names are also at the top level (``bayes_scaling.SamplerConfig``).
"""
