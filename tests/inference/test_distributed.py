"""bayes_scaling.inference.distributed: block splitting, single-process behaviour, and a real two-process
job on localhost (CPU, Gloo collectives) launched with subprocess."""

import importlib.util
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from bayes_scaling.inference import distributed
from conftest import REPO

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_distributed_worker.py")
TIMEOUT_S = 600  # two fit_many compiles per process on a shared 2-core machine


def _load_worker():
    spec = importlib.util.spec_from_file_location("_distributed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("num_items", [0, 1, 2, 5, 7, 64, 1001])
@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_process_slice_covers_items_once_balanced(num_items, count):
    blocks = [distributed.process_slice(num_items, p, count) for p in range(count)]
    assert blocks[0].start == 0 and blocks[-1].stop == num_items
    for left, right in zip(blocks, blocks[1:]):
        assert left.stop == right.start                      # contiguous, in process order
    sizes = [b.stop - b.start for b in blocks]
    assert min(sizes) >= 0 and max(sizes) - min(sizes) <= 1  # balanced
    assert sizes == sorted(sizes, reverse=True)              # the longer blocks first
    covered = np.concatenate([np.arange(num_items)[b] for b in blocks])
    np.testing.assert_array_equal(covered, np.arange(num_items))


def test_process_slice_defaults_to_this_process_and_checks_arguments():
    assert distributed.process_slice(5) == slice(0, 5)
    assert distributed.process_slice(np.int64(3), 1, 2) == slice(2, 3)
    with pytest.raises(ValueError, match="non-negative"):
        distributed.process_slice(-1)
    with pytest.raises(ValueError, match="process_index"):
        distributed.process_slice(4, 2, 2)
    with pytest.raises(TypeError):
        distributed.process_slice(2.5)


def test_single_process_map_items_and_gather():
    worker = _load_worker()
    items = {"index": np.arange(5, dtype=np.int32)}
    out = distributed.map_items(worker.fit_block, items)
    assert all(isinstance(v, np.ndarray) for v in out.values())
    np.testing.assert_array_equal(out["index"], np.arange(5))
    assert out["host64"].dtype == np.float64 and out["small"].dtype == np.bool_
    keys = jax.random.split(jax.random.key(0), 3)           # key arrays can be items
    shapes = distributed.map_items(lambda b: {"n": np.full(len(b["k"]), 1)}, {"k": keys})
    np.testing.assert_array_equal(shapes["n"], [1, 1, 1])
    with pytest.raises(ValueError, match="num_items"):
        distributed.map_items(lambda b: b, {"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="leading item axis of length 2"):
        distributed.gather({"x": np.zeros(3)}, 2)
    with pytest.raises(TypeError, match="object"):
        distributed.gather([np.array([None, 1])], 2)


def test_initialize_single_process_and_errors(monkeypatch):
    distributed.initialize(num_processes=1)
    monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "1")
    distributed.initialize()
    with pytest.raises(ValueError, match="process_id must be 0"):
        distributed.initialize(num_processes=1, process_id=1)
    monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "two")
    with pytest.raises(ValueError, match="BAYES_SCALING_NUM_PROCESSES"):
        distributed.initialize()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_env(port, process_id, devices):
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if "xla_force_host_platform_device_count" not in f]
    env.update({
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": " ".join(flags + [f"--xla_force_host_platform_device_count={devices}"]),
        "PYTHONPATH": os.pathsep.join([REPO] + [p for p in [env.get("PYTHONPATH")] if p]),
        distributed.ENV_COORDINATOR: f"127.0.0.1:{port}",
        distributed.ENV_NUM_PROCESSES: "2",
        distributed.ENV_PROCESS_ID: str(process_id),
    })
    return env


@pytest.mark.slow
def test_two_processes_gather_the_whole_sweep_in_order(tmp_path):
    # Process 0 has one CPU device and process 1 two: the gather must not assume equal counts.
    devices = (1, 2)
    paths = [tmp_path / f"process{p}.npz" for p in range(2)]
    port = _free_port()
    logs = [(tmp_path / f"process{p}.out", tmp_path / f"process{p}.err") for p in range(2)]
    procs = []
    try:
        for p in range(2):
            with open(logs[p][0], "w") as out, open(logs[p][1], "w") as err:
                procs.append(subprocess.Popen([sys.executable, WORKER, str(paths[p])], cwd=REPO,
                                              env=_child_env(port, p, devices[p]),
                                              stdout=out, stderr=err))
        # Wait for both; once one fails, the other would only wait for it: stop it at once.
        deadline = time.monotonic() + TIMEOUT_S
        while any(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
            if any(proc.poll() not in (None, 0) for proc in procs):
                break
            time.sleep(0.1)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    report = "\n".join(
        f"--- process {p} (exit {proc.returncode}) ---\n{logs[p][0].read_text()}\n"
        f"{logs[p][1].read_text()[-6000:]}" for p, proc in enumerate(procs))
    assert all(proc.returncode == 0 for proc in procs), report

    results = [dict(np.load(path)) for path in paths]
    for p, res in enumerate(results):
        assert int(res["process_index"]) == p
        assert int(res["local_devices"]) == devices[p]
    np.testing.assert_array_equal(results[0]["slice"], [0, 4])
    np.testing.assert_array_equal(results[1]["slice"], [4, 7])

    # fit_many over both processes: the whole batch on each, the same posteriors as one process.
    np.testing.assert_array_equal(results[0]["fit/num_runs"], [30, 40, 50])
    assert results[0]["fit/spread"].shape == (3, 3, 800)
    assert _same_posterior(results[0]["fit/spread"], results[0]["alone_fit"])

    # Both processes hold the same full results, bit for bit, in item order.
    gathered = [k for k in results[0] if "/" in k]
    for key in gathered:
        np.testing.assert_array_equal(results[0][key], results[1][key], err_msg=key)
    np.testing.assert_array_equal(results[0]["sweep/index"], np.arange(7))
    np.testing.assert_array_equal(results[0]["again/i"], 2 * np.arange(7))
    assert results[0]["empty/i"].shape == (0,) and results[0]["empty/none"].shape == (0, 0)

    # ... equal to computing every item in this one process, on CPU like the workers (a GPU
    # would multiply float32 in TF32).
    worker = _load_worker()
    with jax.default_device(jax.devices("cpu")[0]):
        reference = jax.tree_util.tree_map(
            np.asarray, worker.fit_block({"index": np.arange(worker.NUM_ITEMS, dtype=np.int32)}))
    for name, expected in reference.items():
        got = results[0][f"sweep/{name}"]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(results[0]["one/coef"], reference["coef"][5:6], rtol=1e-5)

    # The failing fn raised on both processes: its own error on 1, a RuntimeError on 0.
    assert str(results[1]["error"]) == "ZeroDivisionError: process 1 fails on purpose"
    assert str(results[0]["error"]).startswith("RuntimeError: gather: process 1 failed")


def _same_posterior(a, b):
    """Means per (parameter, fit) within 4 standard errors, ESS taken as a quarter of draws."""
    error = np.hypot(a.std(axis=2), b.std(axis=2)) / np.sqrt(a.shape[2] / 4)
    return np.all(np.abs(a.mean(axis=2) - b.mean(axis=2)) <= 4 * error)
