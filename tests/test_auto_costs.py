"""auto's cost model: each activation goes parallel where the serial time
saved on the pool's threads passes the parallel loop's own cost, both
measured (fastrelu/_costs.py)."""

import math
import subprocess
import sys

import numpy as np
import pytest

import fastrelu
from fastrelu import _config, _costs, dispatch
from fastrelu.api import make_activation
from fastrelu.definitions import BUILTIN

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
RELU = (_config.PARALLEL_THRESHOLD_BYTES, _config.COLD_PARALLEL_THRESHOLD_BYTES)


def test_every_builtin_activation_has_a_measured_cost():
    for name in BUILTIN:
        if name in ("prelu", "rrelu"):
            continue
        for direction in ("forward", "backward"):
            for dtype in ("float32", "float64"):
                ns = _costs.SERIAL_NS_PER_ELEMENT[(name, direction, dtype)]
                assert 0 < ns < 1000, (name, direction, dtype, ns)
    assert 0 <= _costs.PARALLEL_AWAKE_SECONDS <= _costs.PARALLEL_ASLEEP_SECONDS < 0.01


def _limits(monkeypatch, name, dtype, threads=2, ns=None, awake=None, asleep=None):
    monkeypatch.setattr(_config, "THREADS", threads)
    if ns is not None:
        costs = {**_costs.SERIAL_NS_PER_ELEMENT, (name, "forward", dtype.name): ns}
        monkeypatch.setattr(_costs, "SERIAL_NS_PER_ELEMENT", costs)
    if awake is not None:
        monkeypatch.setattr(_costs, "PARALLEL_AWAKE_SECONDS", awake)
    if asleep is not None:
        monkeypatch.setattr(_costs, "PARALLEL_ASLEEP_SECONDS", asleep)
    dispatch.parallel_limits.cache_clear()
    try:
        return dispatch.parallel_limits(name, "forward", dtype)
    finally:
        dispatch.parallel_limits.cache_clear()


def test_the_break_even_follows_the_measured_costs(monkeypatch):
    # 4 ns an element, 2 threads: 2 ns saved an element; a loop costing 40 us
    # awake and 200 us asleep pays from 20000 and 100000 elements.
    warm, cold = _limits(monkeypatch, "gelu", F32, ns=4.0, awake=40e-6, asleep=200e-6)
    assert (warm, cold) == (80000, 400000)
    # float64: the same elements are twice the bytes.
    warm64, cold64 = _limits(monkeypatch, "gelu", F64, ns=4.0, awake=40e-6, asleep=200e-6)
    assert (warm64, cold64) == (160000, 800000)
    # More threads save more of the serial time: earlier.
    warm16, _ = _limits(monkeypatch, "gelu", F32, threads=16, ns=4.0, awake=40e-6)
    assert warm16 == int(40e-6 / (4e-9 * (1 - 1 / 16) / 4))
    # One thread: nothing to gain, relu's limits (measured for memory-bound loops).
    assert _limits(monkeypatch, "gelu", F32, threads=1, ns=4.0) == RELU


def test_never_later_than_relu_nor_below_the_floor(monkeypatch):
    # Memory-bound loops (under twice relu's time) keep relu's limits,
    # measured in whole programs: relu itself, and a cheap activation.
    assert _limits(monkeypatch, "relu", F32) == RELU
    relu_ns = _costs.SERIAL_NS_PER_ELEMENT[("relu", "forward", "float32")]
    assert _limits(monkeypatch, "hardswish", F32, ns=1.9 * relu_ns, awake=1e-9) == RELU
    assert _limits(monkeypatch, "hardswish", F32, ns=2.1 * relu_ns, awake=1e-9)[0] < RELU[0]
    # A very costly one still needs SMALLEST_PARALLEL_BYTES.
    assert _limits(monkeypatch, "gelu", F32, ns=1e4) == (_config.SMALLEST_PARALLEL_BYTES,) * 2
    # An activation without a measured cost (a user's) keeps relu's.
    assert _limits(monkeypatch, "no_such_activation", F32) == RELU


def test_a_costly_activation_goes_parallel_where_relu_stays_serial(monkeypatch):
    monkeypatch.setattr(_config, "POOL_WARM_SECONDS", 60.0)  # no preemption outlasts it
    monkeypatch.setattr(_config, "THREADS", 2)
    costs = {**_costs.SERIAL_NS_PER_ELEMENT, ("gelu", "forward", "float32"): 8.0}
    monkeypatch.setattr(_costs, "SERIAL_NS_PER_ELEMENT", costs)
    monkeypatch.setattr(_costs, "PARALLEL_AWAKE_SECONDS", 20e-6)
    monkeypatch.setattr(_costs, "PARALLEL_ASLEEP_SECONDS", 100e-6)
    dispatch.parallel_limits.cache_clear()
    try:
        gelu = make_activation(BUILTIN["gelu"])  # a fresh fast path, with these limits
        # 100000 float32 elements: gelu saves 400 us, more than waking costs.
        x = np.linspace(-3, 3, 100000).astype(np.float32)
        limits = dispatch.parallel_limits("gelu", "forward", F32)
        monkeypatch.setattr(dispatch, "_last_large_call", -math.inf)  # workers asleep
        assert dispatch.auto_cpu(x.nbytes, limits) == "numba-parallel"
        assert dispatch.auto_cpu(x.nbytes) == "numba"  # relu's rule: serial below 4 MiB
        y = gelu(x)
        assert gelu.fast_path.entries.get("numba-parallel") is not None
        assert "numba" not in gelu.fast_path.entries
        np.testing.assert_array_equal(y, fastrelu.gelu(x, backend="numba"))
        # and the general path (a strided view) decides the same
        assert dispatch.resolve("auto", x[::2], limits).name == "numba-parallel"
    finally:
        dispatch.parallel_limits.cache_clear()


def test_info_shows_the_rule():
    done = subprocess.run([sys.executable, "-m", "fastrelu", "info"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "auto: several threads where the serial time they save" in done.stdout
    for name in ("relu", "gelu", "silu"):
        assert any(line.split()[:1] == [name] and "KiB" in line
                   for line in done.stdout.splitlines()), done.stdout


@pytest.mark.parametrize("threads", ["1", "2", "16"])
def test_the_rule_holds_on_any_thread_count(threads):
    code = ("import numpy as np; from fastrelu import dispatch, _config; "
            "print(_config.THREADS, *dispatch.parallel_limits('gelu', 'forward', "
            "np.dtype(np.float32)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ,
                                            "NUMBA_NUM_THREADS": threads})
    assert done.returncode == 0, done.stderr
    count, warm, cold = map(int, done.stdout.split())
    assert count == int(threads)
    assert _config.SMALLEST_PARALLEL_BYTES <= warm <= cold <= RELU[1]
    if threads == "1":
        assert (warm, cold) == RELU


def test_gated_activations_take_their_gate_activations_limits(monkeypatch):
    from fastrelu import gated

    asked = []
    real = dispatch.parallel_limits
    monkeypatch.setattr(dispatch, "parallel_limits",
                        lambda *args: asked.append(args[:2]) or real(*args))
    x = np.ones((4, 8), np.float32)
    for name, activation in (("swiglu", "silu"), ("geglu", "gelu"), ("reglu", "relu")):
        asked.clear()
        getattr(gated, name)(x, x)
        getattr(gated, name + "_backward")(x, x, x)
        assert asked == [(activation, "forward"), (activation, "backward")], name


def test_non_float_dtypes_keep_relus_limits():
    assert dispatch.parallel_limits("relu", "forward", np.dtype(np.int32)) == RELU
    assert dispatch.parallel_limits("gelu", "forward", np.dtype(np.int64)) == RELU
