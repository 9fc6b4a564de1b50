"""The short path of small calls (dispatch.FastPath): same results and errors
as the general path, and it never compiles for arrays it must not take."""

import threading

import numpy as np
import pytest

import fastrelu
from fastrelu import dispatch, registry
from fastrelu.api import make_activation
from fastrelu.definitions import BUILTIN

relu_reference = BUILTIN["relu"].reference


def _entry_signatures(activation, direction="forward"):
    function = activation if direction == "forward" else activation.backward
    fast = function.fast_path
    return [signature for entries in (fast.entries, fast._bit_entries)
            for entry in entries.values() if hasattr(entry, "_dispatcher")
            for signature in entry._dispatcher.signatures]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_calls_match_the_reference(dtype):
    x = np.array([-2.0, -0.0, 0.0, 1.5, np.nan, np.inf, -np.inf], dtype)
    expected = relu_reference(x)
    np.testing.assert_array_equal(fastrelu.relu(x), expected)
    out = np.full_like(x, 7)
    assert fastrelu.relu(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    inplace = x.copy()
    assert fastrelu.relu(inplace, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, expected)
    grad = np.arange(x.size, dtype=dtype)
    np.testing.assert_array_equal(fastrelu.relu_backward(grad, x), np.where(x <= 0, 0, grad))
    np.testing.assert_array_equal(np.signbit(fastrelu.relu(x)), np.signbit(expected))


@pytest.mark.parametrize("backend", ["numba", "numba-parallel"])
def test_float16_relu_takes_the_short_path_on_its_bits(backend):
    base = np.array([-2.0, -0.0, 0.0, 1.5, np.nan, -np.nan, np.inf, -np.inf, 6e-8, -6e-8])
    x = np.tile(base, 7).astype(np.float16).reshape(7, 10)
    grad = np.arange(x.size, dtype=np.float16).reshape(x.shape)
    expected = fastrelu.relu(x.T.copy().T, backend=backend)  # Fortran order: the general path
    expected_grad = fastrelu.relu_backward(grad.T.copy().T, x, backend=backend)
    got = fastrelu.relu(x, backend=backend)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.view(np.uint16), expected.view(np.uint16))
    inplace = x.copy()
    assert fastrelu.relu(inplace, out=inplace, backend=backend) is inplace
    np.testing.assert_array_equal(inplace.view(np.uint16), expected.view(np.uint16))
    np.testing.assert_array_equal(fastrelu.relu_backward(grad, x, backend=backend), expected_grad)
    for direction in ("forward", "backward"):
        signatures = _entry_signatures(fastrelu.relu, direction)
        assert any(str(t.dtype) == "int16" for signature in signatures for t in signature)
    # A float16 input with a float32 out is not the short path's: the general path casts.
    out32 = np.empty(x.shape, np.float32)
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu(x, out=out32, backend=backend)


def test_the_entry_is_compiled_only_for_arrays_it_takes():
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    fastrelu.relu(x, out=np.empty_like(x))
    read_only = np.empty_like(x)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastrelu.relu(x, out=read_only)
    strided_out = np.empty((3, 8), np.float32)[:, ::2]
    fastrelu.relu(x, out=strided_out)
    np.testing.assert_array_equal(strided_out, relu_reference(x))
    fortran = np.asfortranarray(x)
    np.testing.assert_array_equal(fastrelu.relu(fortran), relu_reference(x))
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu(x, out=np.empty((3, 4), np.float64))
    assert _entry_signatures(fastrelu.relu)
    for signature in _entry_signatures(fastrelu.relu):
        for array_type in signature:
            assert array_type.layout == "C" and array_type.aligned
        assert signature[-1].mutable
        assert len({t.dtype for t in signature}) == 1


def test_shape_mismatch_and_partial_overlap_go_the_general_way():
    x = np.linspace(-1, 1, 8)
    with pytest.raises(ValueError, match="shape"):
        fastrelu.relu(x, out=np.empty(7))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.relu_backward(np.ones(7), x)
    buffer = np.linspace(-1, 1, 9)
    expected = relu_reference(buffer[:-1])
    fastrelu.relu(buffer[:-1], out=buffer[1:])  # out starts one element later
    np.testing.assert_array_equal(buffer[1:], expected)


def test_an_explicit_or_block_backend_is_honoured():
    calls = []

    class Spy(fastrelu.Backend):
        name = "spy-fast"

        def run(self, activation, direction, inputs, out, params):
            calls.append(direction)
            out[...] = 42

    fastrelu.register_backend(Spy())
    try:
        x = np.ones(4)
        with fastrelu.use_backend("spy-fast"):
            assert fastrelu.relu(x)[0] == 42
            assert fastrelu.relu_backward(x, x)[0] == 42
        assert fastrelu.relu(x)[0] == 1
        with fastrelu.use_backend("numba-parallel"):
            assert fastrelu.relu(x, backend="spy-fast")[0] == 42
            np.testing.assert_array_equal(fastrelu.relu(-x, backend="numba"), 0)
    finally:
        registry._registry.pop("spy-fast")
    assert calls == ["forward", "backward", "forward"]


def test_a_replaced_serial_backend_is_used():
    original = registry.lookup("numba")

    class Replacement(fastrelu.Backend):
        name = "numba"

        def run(self, activation, direction, inputs, out, params):
            out[...] = -1

    x = np.ones(4, np.float32)
    fastrelu.relu(x)  # the fast path holds the original entry
    fastrelu.register_backend(Replacement(), replace=True)
    try:
        assert fastrelu.relu(x)[0] == -1
    finally:
        fastrelu.register_backend(original, replace=True)
    assert fastrelu.relu(x)[0] == 1


def test_public_activations_are_plain_functions_that_pickle_by_reference():
    import pickle
    import types

    functions = [getattr(fastrelu, name) for name in fastrelu.activations()]
    functions += [f.backward for f in functions] + [fastrelu.sigmoid_backward_from_output]
    for function in functions:
        assert isinstance(function, types.FunctionType), function
        assert pickle.loads(pickle.dumps(function)) is function
    assert isinstance(fastrelu.relu, fastrelu.Activation)
    assert not isinstance(np.maximum, fastrelu.Activation)


@pytest.mark.parametrize("out", [[0.0, 0.0, 0.0], np.zeros((3,), np.float32).tolist, "y"])
def test_an_out_that_is_not_an_array_gets_the_general_paths_error(out):
    x = np.array([-1.0, 0.0, 2.0], np.float32)
    with pytest.raises(TypeError, match="out"):
        fastrelu.relu(x, out=out)
    with pytest.raises(TypeError, match="out"):
        fastrelu.relu_backward(x, x, out=out)
    with pytest.raises(TypeError, match="out"):
        fastrelu.leaky_relu(x, out=out)


@pytest.mark.parametrize("function", ["relu", "relu_backward", "leaky_relu", "elu_backward"])
def test_bad_backend_names_get_the_registrys_errors(function):
    f = getattr(fastrelu, function)
    arrays = (np.ones(3, np.float32),) * (2 if function.endswith("backward") else 1)
    with pytest.raises(TypeError, match="backend name must be a str"):
        f(*arrays, backend=["numba"])
    with pytest.raises(TypeError, match="backend name must be a str"):
        f(*arrays, backend=5)
    for name in ("", "nope"):
        with pytest.raises(ValueError, match="unknown backend.*available backends: auto"):
            f(*arrays, backend=name)


def test_parameters_use_the_general_path_and_defaults_the_fast_one():
    x = np.array([-2.0, 3.0], np.float32)
    np.testing.assert_allclose(fastrelu.leaky_relu(x), [-0.02, 3.0], rtol=1e-6)
    np.testing.assert_allclose(fastrelu.leaky_relu(x, 0.5), [-1.0, 3.0])
    assert fastrelu.leaky_relu(x).dtype == np.float32
    assert _entry_signatures(fastrelu.leaky_relu)


def test_first_calls_from_many_threads_agree():
    x = np.linspace(-1, 1, 64, dtype=np.float64).reshape(8, 8)
    act = make_activation(fastrelu.relu.definition)  # a fresh, uncompiled fast path
    results, errors = [], []

    def work():
        try:
            for _ in range(50):
                results.append(act(x))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r, relu_reference(x))


@pytest.mark.parametrize("backend", ["numba", "numba-parallel", "auto"])
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "relu6", "elu", "silu", "hardswish"])
def test_in_place_loops_match_the_out_of_place_ones(name, backend):
    """The in-place loops (and relu's full-store form) give what the same
    backend writes to a separate array, bit for bit."""
    act = getattr(fastrelu, name)
    base = np.array([-7.0, -2.5, -0.0, 0.0, 0.5, 3.0, 6.5, np.nan, -np.nan, np.inf, -np.inf, 1e-40])
    for dtype in (np.float16, np.float32, np.float64):
        x = np.tile(base, 6).astype(dtype)
        layouts = {"contiguous": x.copy(), "fortran": np.asfortranarray(x.reshape(8, 9)),
                   "strided": np.repeat(x, 2)[::2]}
        for layout, data in layouts.items():
            expected = act(data, out=np.empty_like(data), backend=backend)
            result = act(data, out=data, backend=backend)
            assert result is data
            message = f"{name} {np.dtype(dtype).name} {layout}"
            np.testing.assert_array_equal(result.view(f"u{dtype(0).itemsize}"),
                                          expected.view(f"u{dtype(0).itemsize}"), err_msg=message)
    if name == "relu":  # and the contract: -0 gives +0, NaN is kept with its sign
        data = base.copy()
        fastrelu.relu(data, out=data, backend=backend)
        np.testing.assert_array_equal(data.view(np.uint64),
                                      np.where(base <= 0, 0.0, base).view(np.uint64))


def test_auto_picks_the_loop_like_the_dispatch(monkeypatch):
    monkeypatch.setattr(fastrelu._config, "POOL_WARM_SECONDS", 60.0)  # no preemption outlasts it
    act = make_activation(fastrelu.relu.definition)  # fresh fast path
    half = fastrelu._config.PARALLEL_THRESHOLD // 2
    for dtype, expected in ((np.float32, "numba"), (np.float64, "numba-parallel")):
        x = np.linspace(-1, 1, half).astype(dtype)
        dispatch.large_call_ended()  # the pool is warm: the threshold decides
        assert dispatch.resolve("auto", x).name == expected
        dispatch.large_call_ended()
        np.testing.assert_array_equal(act(x), relu_reference(x))
        assert hasattr(act.fast_path.entries.get(expected), "_dispatcher")
