"""The one XLA option the engine sets before JAX starts: compile small while loops whole on CPU.

Why: since JAX 0.7, XLA:CPU runs every operation of a while loop's body as a separate task
("thunk"), so a loop whose body is many small operations pays a dispatch for each of them on
every iteration. A NUTS trajectory on a five-parameter law is exactly such a loop: its gradient
over 245 runs is a few microseconds of arithmetic. XLA can instead compile a loop whose state is
small into one function, but only below a size limit of 1 kB by default, less than a NUTS state.
With the limit raised to 1 MB (and no LAPACK call left in the sampler's loop, see `nuts`), a
leapfrog step on 245 runs costs 3.2 µs instead of 12.1 on a 2-core CPU (the floor section of
benchmarks/results/bench_scale_cpu.md). Loops over more data than that (about 80,000 runs)
keep the default treatment. GPU and TPU backends ignore the option.

XLA reads ``XLA_FLAGS`` once, when JAX's backend starts, so ``import bayes_scaling`` adds the
option to the environment, and it takes effect if no JAX computation ran before. A limit the user
set themselves is left alone (``...small_while_loop_byte_threshold=1024`` restores the default).
"""

import re

SMALL_LOOP_OPTION = "xla_cpu_small_while_loop_byte_threshold"
SMALL_LOOP_BYTES = 1_000_000
_EXTRA_OPTIONS = re.compile(r"--xla_backend_extra_options=(\S*)")


def with_small_loop_option(flags):
    """``flags`` (an ``XLA_FLAGS`` value) with the small-loop limit raised, unless it is set.

    XLA keeps only one ``--xla_backend_extra_options``, so the option joins one the user gave.

    >>> with_small_loop_option("--xla_force_host_platform_device_count=2")
    '--xla_force_host_platform_device_count=2 --xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000'
    >>> with_small_loop_option("--xla_backend_extra_options=a=1")
    '--xla_backend_extra_options=a=1,xla_cpu_small_while_loop_byte_threshold=1000000'
    >>> with_small_loop_option("--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1024")
    '--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1024'
    """
    if SMALL_LOOP_OPTION in flags:
        return flags
    option = f"{SMALL_LOOP_OPTION}={SMALL_LOOP_BYTES}"
    match = _EXTRA_OPTIONS.search(flags)
    if match and match.group(1):
        return flags[:match.end()] + "," + option + flags[match.end():]
    if match:  # given empty
        return flags[:match.end()] + option + flags[match.end():]
    return f"{flags} --xla_backend_extra_options={option}".strip()
