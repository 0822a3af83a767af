"""Test-wide JAX set-up, before anything imports jax: two CPU host devices, as on a 2-core machine,
so that the sharded chain layout is what the tests (and the executed docstring examples) run.

The CLI's persistent compile cache is off for the tests: an in-process ``cli.main`` call would
otherwise point the whole worker's JAX at the user's cache folder, and every later compile in that
worker would be written there. The tests of the cache itself turn it on in their subprocesses.
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_force_host_platform_device_count=2").strip()

os.environ["BAYES_SCALING_NO_CACHE"] = "1"
