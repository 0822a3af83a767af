"""Emergence of downstream abilities: when does a task's score leave chance?

- `data`: `Scores`, reading downstream-task results (`load_scores`).
- `model`: the NumPyro model of one task's scores against scale.
- `fit`: `fit_emergence`, `EmergenceFit`, thresholds and their posteriors.
- `simulate`: simulated tasks with known truth.

Import from the module that defines a name (``from bayes_scaling.emergence.fit import
fit_emergence``); the most used names are also at the top level (``bayes_scaling.fit_emergence``).
"""
