"""The ``bayes-scaling`` command line; the only part of the package that prints.

Subcommands: ``demo``, ``fit``, ``forecast``, ``optimal``, ``plan``, ``summary``, ``backtest``,
``sbc``, ``compare``, ``emergence``, ``plot`` and ``report``. Every command that prints results
takes ``--json``; tabular ones also ``--csv``; ``plot`` and ``report`` write files. Input errors
exit with status 2 and a message naming the file, line and column; a fit that fails the
diagnostics gate is announced on stderr wherever it is used (and ``fit`` exits with status 3).
Ctrl-C ends any command at once with status 130.

One module per group of commands, plus the shared flags and the output:

- `main`: the parser of every command and `main`, the console script's entry point.
- `fitting`: ``fit``, ``demo``, ``summary``.
- `planning`: ``forecast``, ``optimal``, ``plan``, ``plot``, ``report``.
- `checking`: ``backtest``, ``sbc``, ``compare``.
- `emergence`: ``emergence``.
- `options`: flags shared by commands and how their values are read.
- `output`: tables as text, CSV or JSON; the diagnostics gate; notes on stderr.
- `interrupt`: Ctrl-C and SIGTERM at any stage (compiling, sampling, writing).

The commands import the library inside their functions, on purpose: ``bayes-scaling --help`` and
argument errors then answer at once instead of after importing JAX. The command line only parses,
calls the library and prints; policy (defaults, checks) lives in the library.
"""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
