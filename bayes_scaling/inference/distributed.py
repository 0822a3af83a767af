"""Sweeps of many independent fits over several processes (hosts): split, compute, gather.

A multi-host job runs the same script in every process. Each process calls `initialize` once,
before any JAX computation, then `map_items` on the whole sweep: the process computes its own
contiguous block of the items (`process_slice`) and `gather` sends every block to every
process, so each ends with the full results in item order. Within a process the engine spreads
each fit's chains over the local devices itself (see `bayes_scaling.inference.sampler`); this module
only splits the sweep between processes.

With one process (no `initialize`, or ``initialize(num_processes=1)``) the same calls compute
everything locally, so a sweep script runs unchanged on a laptop. Results come back as NumPy
arrays on the host. Launching a job on SLURM or a TPU pod: ``docs/multihost.md``.

Example
-------
>>> import numpy as np
>>> initialize(num_processes=1)                     # a no-op with one process
>>> out = map_items(lambda block: {"square": block["x"] ** 2}, {"x": np.arange(5)})
>>> out["square"]
array([ 0,  1,  4,  9, 16])
"""

from __future__ import annotations

import operator
import os
import zlib

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["initialize", "process_slice", "gather", "map_items", "ENV_COORDINATOR",
           "ENV_NUM_PROCESSES", "ENV_PROCESS_ID"]

ENV_COORDINATOR = "BAYES_SCALING_COORDINATOR"
ENV_NUM_PROCESSES = "BAYES_SCALING_NUM_PROCESSES"
ENV_PROCESS_ID = "BAYES_SCALING_PROCESS_ID"

# Status codes exchanged before the data, so that a failure on one process fails all of them
# instead of leaving the others waiting in a collective.
_OK, _FN_FAILED, _BAD_RESULT = 0, 1, 2


def _env_int(name):
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name} must be an integer, got {value!r}") from None


def initialize(coordinator_address=None, num_processes=None, process_id=None, **kwargs):
    """Join this process to a multi-process JAX job (`jax.distributed.initialize`).

    Call it once per process, before any JAX computation (including ``jax.devices()``).
    Each argument left as None is read from ``$BAYES_SCALING_COORDINATOR``,
    ``$BAYES_SCALING_NUM_PROCESSES`` and ``$BAYES_SCALING_PROCESS_ID``; whatever is still
    unset is auto-detected by JAX on SLURM, Open MPI and Cloud TPU pods. With one process
    this does nothing. On the CPU backend it selects the "gloo" implementation of
    cross-process collectives (``jax_cpu_collectives_implementation``) unless one is already
    selected.

    Calling it again with the same (or no) arguments does nothing.

    Parameters
    ----------
    coordinator_address : str, optional
        ``host:port`` of process 0, where it starts JAX's coordination service; the same in
        every process.
    num_processes : int, optional
        Number of processes in the job.
    process_id : int, optional
        This process's index, 0 to ``num_processes - 1``.
    **kwargs
        Passed to `jax.distributed.initialize`, e.g. ``local_device_ids`` or
        ``initialization_timeout`` (seconds).

    Raises
    ------
    RuntimeError
        If the job is joined with other settings already, or JAX has already started its
        backends (a computation ran before this call).
    ValueError
        If the settings are invalid or cannot be found.

    Examples
    --------
    >>> initialize(num_processes=1)
    >>> import jax
    >>> jax.process_count()
    1
    """
    if coordinator_address is None:
        coordinator_address = os.environ.get(ENV_COORDINATOR, "").strip() or None
    if num_processes is None:
        num_processes = _env_int(ENV_NUM_PROCESSES)
    if process_id is None:
        process_id = _env_int(ENV_PROCESS_ID)

    if jax.distributed.is_initialized():
        current = {"num_processes": jax.process_count(), "process_id": jax.process_index()}
        asked = {"num_processes": num_processes, "process_id": process_id}
        clashes = [f"{k}={v} (joined as {current[k]})" for k, v in asked.items()
                   if v is not None and v != current[k]]
        if clashes:
            raise RuntimeError("this process already joined a multi-process job with other "
                               "settings: " + ", ".join(clashes))
        return

    if num_processes == 1:
        if process_id not in (None, 0):
            raise ValueError(f"process_id must be 0 with one process, got {process_id}")
        return
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes must be positive, got {num_processes}")

    # Gloo is the default in recent JAX; select it where a user or an older version left none.
    try:
        if jax.config.jax_cpu_collectives_implementation is None:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except AttributeError:  # pragma: no cover - a JAX version without the option
        pass

    try:
        jax.distributed.initialize(coordinator_address=coordinator_address,
                                   num_processes=num_processes, process_id=process_id,
                                   **kwargs)
    except ValueError as err:
        if None in (coordinator_address, num_processes, process_id):
            raise ValueError(
                f"{err} No SLURM, MPI or TPU-pod job was detected: give coordinator_address, "
                f"num_processes and process_id, or set ${ENV_COORDINATOR}, "
                f"${ENV_NUM_PROCESSES} and ${ENV_PROCESS_ID}. For a single process, pass "
                f"num_processes=1 or do not call initialize().") from err
        raise


def _bounds(num_items, process_count):
    """(start, stop) of every process's block: contiguous, the first ``num_items % count``
    blocks one item longer."""
    base, extra = divmod(num_items, process_count)
    starts = [p * base + min(p, extra) for p in range(process_count + 1)]
    return list(zip(starts[:-1], starts[1:]))


def process_slice(num_items, process_index=None, process_count=None):
    """The contiguous block of a sweep of ``num_items`` items that one process computes.

    Blocks are balanced (sizes differ by at most one, the larger ones first), in process
    order, and together cover every item exactly once. With more processes than items some
    blocks are empty.

    Parameters
    ----------
    num_items : int
    process_index, process_count : int, optional
        Default: this process's (``jax.process_index()``, ``jax.process_count()``); call
        `initialize` first.

    Returns
    -------
    slice
        ``slice(start, stop)``, to index the items' leading axis with.

    Examples
    --------
    >>> [process_slice(10, p, 3) for p in range(3)]
    [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    >>> process_slice(10)                               # a single process owns everything
    slice(0, 10, None)
    """
    num_items = operator.index(num_items)
    if num_items < 0:
        raise ValueError(f"num_items must be non-negative, got {num_items}")
    if process_count is None:
        process_count = jax.process_count()
    if process_index is None:
        process_index = jax.process_index()
    process_count, process_index = operator.index(process_count), operator.index(process_index)
    if process_count < 1 or not 0 <= process_index < process_count:
        raise ValueError(f"need 0 <= process_index < process_count, got process_index="
                         f"{process_index}, process_count={process_count}")
    return slice(*_bounds(num_items, process_count)[process_index])


def _identity(x):
    return x


def _allgather(buf):
    """Stack a host array of the same shape and dtype from every process: ``(processes, ...)``.

    One device per process takes part (the lowest-numbered of each process), so processes may
    have different numbers of local devices; the result is replicated to all of them by XLA's
    all-gather (Gloo on CPU, NCCL on GPU, the interconnect on TPU).
    """
    count = jax.process_count()
    if count == 1:
        return buf[None]
    first = {}
    for device in jax.devices():
        if device.process_index not in first or device.id < first[device.process_index].id:
            first[device.process_index] = device
    devices = [first[p] for p in range(count)]
    mesh = Mesh(np.array(devices), ("process",))
    local = jax.device_put(buf[None], devices[jax.process_index()])
    stacked = jax.make_array_from_single_device_arrays(
        (count,) + buf.shape, NamedSharding(mesh, PartitionSpec("process")), [local])
    replicated = jax.jit(_identity, out_shardings=NamedSharding(mesh, PartitionSpec()))(stacked)
    return np.asarray(replicated.addressable_data(0))


def _check_block(tree, size):
    """This process's leaves as NumPy arrays, its treedef and a checksum of the structure,
    trailing shapes and dtypes; or raises ValueError/TypeError."""
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
    arrays = []
    for path, leaf in with_paths:
        name = "result" + jax.tree_util.keystr(path)
        try:
            array = np.asarray(leaf)
        except TypeError as err:
            raise TypeError(f"{name}: cannot be gathered as a NumPy array ({err})") from None
        if array.dtype.hasobject:
            raise TypeError(f"{name}: object arrays cannot be gathered")
        if array.ndim == 0 or array.shape[0] != size:
            raise ValueError(f"{name}: expected a leading item axis of length {size} on process "
                             f"{jax.process_index()}, got shape {array.shape}")
        arrays.append(array)
    signature = repr(treedef) + repr([(a.dtype.str, a.shape[1:]) for a in arrays])
    return arrays, treedef, zlib.crc32(signature.encode())


def _gather(tree, num_items, failed=False):
    """`gather`, where ``failed`` says this process has no result (its error is raised by the
    caller); every process then raises."""
    num_items = operator.index(num_items)
    count, index = jax.process_count(), jax.process_index()
    bounds = _bounds(num_items, count)
    start, stop = bounds[index]
    status, checksum, error = _FN_FAILED if failed else _OK, 0, None
    if not failed:
        try:
            arrays, treedef, checksum = _check_block(tree, stop - start)
        except (TypeError, ValueError) as err:
            status, error = _BAD_RESULT, err

    if count > 1:
        meta = _allgather(np.array([status, checksum, num_items % 2**32], dtype=np.uint32))
    else:
        meta = np.array([[status, checksum, num_items % 2**32]], dtype=np.uint32)
    if error is not None:
        raise error
    if failed:
        return None
    bad = [p for p in range(count) if meta[p, 0] != _OK]
    if bad:
        what = {_FN_FAILED: "failed", _BAD_RESULT: "returned an invalid result"}
        raise RuntimeError("gather: " + "; ".join(
            f"process {p} {what.get(int(meta[p, 0]), 'failed')}" for p in bad)
            + " (its own error is in its log)")
    if len(set(meta[:, 2].tolist())) > 1:
        raise ValueError(f"gather: the processes disagree on num_items "
                         f"({sorted(set(meta[:, 2].tolist()))})")
    if len(set(meta[:, 1].tolist())) > 1:
        raise ValueError("gather: the processes' results differ in structure, trailing shapes "
                         "or dtypes")
    if count == 1:
        return jax.tree_util.tree_unflatten(treedef, arrays)

    # Every leaf travels as raw bytes (row = one item), all leaves in one buffer: dtypes come
    # back exactly (float64 even without jax_enable_x64, bool, bfloat16).
    row_bytes = [a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)) for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(row_bytes, dtype=np.int64)]).tolist()
    largest = max(b - a for a, b in bounds)
    buf = np.zeros((largest, offsets[-1]), dtype=np.uint8)
    for array, lo, hi in zip(arrays, offsets[:-1], offsets[1:]):
        if hi > lo:
            buf[:len(array), lo:hi] = np.ascontiguousarray(array).view(np.uint8).reshape(
                len(array), hi - lo)
    if buf.size:  # the same on every process, once the checksums agree
        stacked = _allgather(buf)
        rows = np.concatenate([stacked[p, :b - a] for p, (a, b) in enumerate(bounds)])
    else:
        rows = np.zeros((num_items, offsets[-1]), dtype=np.uint8)
    out = []
    for array, lo, hi in zip(arrays, offsets[:-1], offsets[1:]):
        shape = (num_items,) + array.shape[1:]
        if hi == lo:
            out.append(np.zeros(shape, array.dtype))
        else:
            out.append(np.ascontiguousarray(rows[:, lo:hi]).view(array.dtype).reshape(shape))
    return jax.tree_util.tree_unflatten(treedef, out)


def gather(tree, num_items):
    """Collect every process's block of results, in item order, on every process.

    Every process must call it (it is a collective) with the same ``num_items`` and results of
    the same structure. A process whose result is invalid raises its own error and the others
    raise RuntimeError, rather than waiting.

    Parameters
    ----------
    tree : pytree of arrays
        This process's results for its block ``process_slice(num_items)``: each leaf has a
        leading item axis of the block's length (zero for an empty block) and the same
        trailing shape and dtype on every process.
    num_items : int
        The length of the whole sweep.

    Returns
    -------
    pytree of numpy.ndarray
        The same structure, each leaf of leading length ``num_items``, item ``i`` at index ``i``;
        the same on every process. Blocks of unequal sizes are padded for the transfer and the
        padding is removed.

    Examples
    --------
    >>> import numpy as np
    >>> gather({"mean": np.array([0.5, 1.5]), "ok": np.array([True, False])}, 2)
    {'mean': array([0.5, 1.5]), 'ok': array([ True, False])}
    """
    return _gather(tree, num_items)


def _num_items(items):
    shapes = [getattr(leaf, "shape", None) or np.shape(leaf)
              for leaf in jax.tree_util.tree_leaves(items)]
    lengths = {shape[0] if len(shape) else None for shape in shapes}
    if not lengths or None in lengths or len(lengths) > 1:
        raise ValueError(f"cannot tell the number of items: give num_items, or items whose "
                         f"leaves share a leading axis (lengths found: {lengths or 'none'})")
    return lengths.pop()


def map_items(fn, items, num_items=None):
    """Apply ``fn`` to this process's block of a sweep and gather all blocks on every process.

    ``fn(block)`` gets the items of `process_slice` (every leaf of ``items`` sliced along its
    leading axis) and returns a pytree of arrays with one entry per item along a leading axis.
    It may be any function of a block: a jitted, vmapped computation, or a loop over fits.
    Its result for an item should depend only on that item, not on which other items share
    its block (derive random keys from an item index, e.g. ``jax.random.fold_in``), so that
    results do not depend on the number of processes. A process whose block is empty (more
    processes than items) calls ``fn`` on the first item and discards the result. If ``fn``
    raises on any process, every process raises.

    Parameters
    ----------
    fn : callable
        ``fn(block) -> pytree of arrays``, leading axis of the block's length.
    items : pytree of arrays
        The whole sweep, the same on every process, items along the leading axis of each leaf
        (anything sliceable: NumPy or JAX arrays, PRNG key arrays). For items that are other
        Python objects, pass their indices, ``np.arange(n)``, and look the objects up in ``fn``.
    num_items : int, optional
        Default: the leaves' common leading length.

    Returns
    -------
    pytree of numpy.ndarray
        ``fn``'s results for all items, in item order (see `gather`).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> @jax.jit
    ... def noise_sd(block):      # one small simulation per item, keyed by its index
    ...     keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(block["i"])
    ...     draws = jax.vmap(lambda k: jax.random.normal(k, (1000,)))(keys)
    ...     return {"sd": jnp.std(draws * block["scale"][:, None], axis=1)}
    >>> out = map_items(noise_sd, {"i": np.arange(3), "scale": np.array([1.0, 2.0, 3.0])})
    >>> np.round(out["sd"])
    array([1., 2., 3.], dtype=float32)
    """
    if num_items is None:
        num_items = _num_items(items)
    num_items = operator.index(num_items)
    own = process_slice(num_items)
    empty = own.start == own.stop and num_items > 0
    block = jax.tree_util.tree_map(lambda leaf: leaf[slice(0, 1) if empty else own], items)
    try:
        result = fn(block)
        if empty:
            result = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[:0], result)
    except Exception:
        if jax.process_count() > 1:
            _gather(None, num_items, failed=True)  # lets the other processes fail too
        raise
    return _gather(result, num_items)
