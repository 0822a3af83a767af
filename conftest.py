"""Test-wide JAX set-up, before anything imports jax: two CPU host devices, as on a 2-core machine,
so that the sharded chain layout is what the tests (and the executed docstring examples) run.

The CLI's persistent compile cache is off for the tests: an in-process ``cli.main`` call would
otherwise point the whole worker's JAX at the user's cache folder, and every later compile in that
worker would be written there. The tests of the cache itself turn it on in their subprocesses.

Margins on other machines. XLA compiles for the host CPU, so the floating-point results, hence
the draws, differ between machines, and a fit at the edge of the diagnostics gate passes on one
and fails on another. Two options replay the statistical tests as another machine would run them:

``--xla-isa SSE4_2|AVX|AVX2|AVX512``
    compile for that instruction set (``XLA_FLAGS=--xla_cpu_max_isa=...``, also in the CLI's
    subprocesses);
``--key-offset K``
    shift every fixed key of the in-process tests (``jax.random.key(s)`` becomes
    ``jax.random.key(s + K)``): other simulated data and other draws.

For example ``pytest -m statistical --xla-isa SSE4_2 --key-offset 7``. Doctests and tests that
replicate exact numbers are not ``statistical``: their printed values belong to the fixed keys.
"""

import os

ISA_CHOICES = ("SSE4_2", "AVX", "AVX2", "AVX512")


def _add_xla_flag(flag):
    flags = os.environ.get("XLA_FLAGS", "")
    if flag.split("=")[0] not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


_add_xla_flag("--xla_force_host_platform_device_count=2")
os.environ["BAYES_SCALING_NO_CACHE"] = "1"


def pytest_addoption(parser):
    group = parser.getgroup("margins", "replay the statistical tests as another machine would")
    group.addoption("--xla-isa", choices=ISA_CHOICES,
                    help="compile XLA for this CPU instruction set (draws change with it)")
    group.addoption("--key-offset", type=int, default=0,
                    help="add this to every fixed jax.random.key seed of the in-process tests")


def pytest_configure(config):
    # XLA reads XLA_FLAGS when its backend starts, at the first computation; nothing has run
    # yet here, and xdist's workers inherit the environment.
    isa = config.getoption("xla_isa")
    if isa:
        _add_xla_flag(f"--xla_cpu_max_isa={isa}")
    offset = config.getoption("key_offset")
    if offset:
        import jax.random

        unshifted = jax.random.key

        def shifted_key(seed, *, impl=None):
            return unshifted(seed + offset, impl=impl)

        jax.random.key = shifted_key
