"""Test-wide JAX set-up, before anything imports jax: two CPU host devices, as on a 2-core machine,
so that the sharded chain layout is what the tests (and the executed docstring examples) run."""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_force_host_platform_device_count=2").strip()
