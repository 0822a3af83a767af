"""The engine's own exceptions and warnings, in one place that every layer may import.

Why a module of their own: the modules that raise them sit at different layers (data reading,
priors, laws, the sampler, the posterior), and an exception class living in one of them made
the layers import each other in a circle (laws needed `PriorError` from priors, priors needed
the laws). Each is still importable from the module that raises it.

>>> issubclass(PriorError, ValueError), issubclass(ConvergenceWarning, UserWarning)
(True, True)
"""

__all__ = ["RunsError", "PriorError", "ConvergenceWarning", "PrecisionWarning", "UnitsWarning"]


class RunsError(ValueError):
    """Invalid run data; the message names the source, the line and the column."""


class PriorError(ValueError):
    """A prior that cannot be read or does not fit the law."""


class ConvergenceWarning(UserWarning):
    """The fit failed the diagnostics gate; its numbers may not be trustworthy."""


class PrecisionWarning(UserWarning):
    """The fit runs in a floating precision too coarse for its data."""


class UnitsWarning(UserWarning):
    """Run data whose scale is unusual for its unit (or accepted as intended); see `units`."""
