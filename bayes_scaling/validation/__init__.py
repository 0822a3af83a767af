"""Validation: is a fit, a method or the engine itself to be trusted?

- `scoring`: scores of probabilistic forecasts (coverage, CRPS, log density, error).
- `checks`: posterior predictive checks, LOO-PIT, ECDF bands.
- `baseline`: the Huber + bootstrap reference method.
- `backtest`: backtests (hold out the largest compute) and `estimate_discrepancy`.
- `compare`: laws side by side (PSIS-LOO and a backtest).
- `sbc`: simulation-based calibration.

Import from the module that defines a name (``from bayes_scaling.validation.backtest import
backtest``); the most used names are also at the top level (``bayes_scaling.backtest``).
"""
