"""Every array NumPy users hold: any byte order, alignment, layout, ndarray
subclass, 0-d to 32-d, read-only, zero-stride broadcasts.  Each call gives
the values it gives on a native C-contiguous copy, or a clear error."""

import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastrelu
from conftest import assert_within_stated_error, random_gradient

BACKENDS = ["numpy", "numba", "numba-parallel", "numba-ufunc"]
pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
X = np.linspace(-2.5, 2.5, 24)


def _unaligned(values):
    buffer = bytearray(b"\0" + values.tobytes())
    return np.ndarray(shape=values.shape, dtype=values.dtype, buffer=buffer, offset=1)


def _memmap(values):
    m = np.memmap(tempfile.TemporaryFile(), dtype=values.dtype, mode="w+", shape=values.shape)
    m[...] = values
    return m


def _read_only(values):
    values = values.copy()
    values.flags.writeable = False
    return values


KINDS = {
    "big-endian float32": lambda: X.astype(">f4"),
    "big-endian float64": lambda: X.astype(">f8"),
    "big-endian float16": lambda: X.astype(">f2"),
    "unaligned float64": lambda: _unaligned(X),
    "matrix": lambda: np.matrix(X.reshape(4, 6)),
    "memmap": lambda: _memmap(X.astype(np.float32)),
    "read-only": lambda: _read_only(X.astype(np.float32)),
    "0-d": lambda: np.array(-1.5),
    "32-d": lambda: X[:2].reshape((2,) + (1,) * 31),
    "zero-stride broadcast": lambda: np.broadcast_to(X[:6], (4, 6)),
    "negative strides, Fortran order": lambda: np.asfortranarray(X.reshape(4, 6))[::-1, ::-2],
}

OPERATIONS = {
    "relu": lambda a, b: fastrelu.relu(a, backend=b),
    "gelu": lambda a, b: fastrelu.gelu(a, backend=b),
    "silu_backward": lambda a, b: fastrelu.silu_backward(a, a, backend=b),
    "relu_mask": lambda a, b: fastrelu.relu_mask(a, backend=b)[0],
    "bias_relu": lambda a, b: fastrelu.bias_relu(a, np.full(a.shape[-1:] or 1, 0.5, a.dtype), backend=b),
    "prelu": lambda a, b: fastrelu.prelu(a, [0.25], backend=b),
    "swiglu": lambda a, b: fastrelu.swiglu(a, a, backend=b),
}


def native_copy(a):
    plain = np.asarray(a)
    return np.array(plain, dtype=plain.dtype.newbyteorder("="), order="C")


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_array_kind_gives_the_native_copys_values(kind, operation, backend):
    x = KINDS[kind]()
    if operation == "relu_mask" and backend == "numba-ufunc":
        pytest.skip("numba-ufunc has no masks (NotImplementedError, tested elsewhere)")
    if operation == "bias_relu" and x.ndim == 0:
        with pytest.raises(ValueError, match="bias"):
            OPERATIONS[operation](x, backend)
        return
    before = native_copy(x)
    result = OPERATIONS[operation](x, backend)
    expected = OPERATIONS[operation](native_copy(x), backend)
    assert type(result) is np.ndarray  # subclasses are computed, and returned, as plain arrays
    assert result.dtype == expected.dtype and result.dtype.isnative
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(native_copy(x), before)  # the input is never modified


def test_non_native_and_subclass_out():
    x = X.astype(np.float32)
    out = np.empty(24, ">f4")
    assert fastrelu.gelu(x, out=out) is out
    np.testing.assert_array_equal(out, fastrelu.gelu(x))
    mm = _memmap(np.zeros(24, np.float32))
    assert fastrelu.relu(x, out=mm) is mm
    np.testing.assert_array_equal(mm, fastrelu.relu(x))
    with pytest.raises(TypeError, match="out has dtype"):
        fastrelu.relu(x, out=np.empty(24, ">f8"))


def test_masked_arrays_keep_their_masks_or_are_refused():
    x = np.ma.masked_array([-1.0, 2.0, 3.0], mask=[False, True, False])
    g = np.ma.masked_array([1.0, 1.0, 1.0], mask=[False, False, True])
    y = fastrelu.gelu(x)
    assert isinstance(y, np.ma.MaskedArray) and y.mask.tolist() == [False, True, False]
    np.testing.assert_array_equal(np.ma.getdata(y), fastrelu.gelu(np.ma.getdata(x)))
    assert fastrelu.relu_backward(g, x).mask.tolist() == [False, True, True]  # either input's mask
    fastrelu.relu(np.ones(3), out=np.empty(3))  # its short path compiled: a masked out= still refused
    for call in (lambda: fastrelu.relu(x, out=np.empty(3)), lambda: fastrelu.relu_mask(x),
                 lambda: fastrelu.prelu(x, [0.1]), lambda: fastrelu.swiglu(x, x),
                 lambda: fastrelu.relu(np.ones(3), out=np.ma.masked_array(np.ones(3)))):
        with pytest.raises(TypeError, match="masked"):
            call()


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=4), data=st.data())
def test_random_layouts_byte_orders_and_dtypes(shape, data):
    dtype = data.draw(st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2", ">f2"]))
    name = data.draw(st.sampled_from(["relu", "leaky_relu", "elu", "gelu", "silu", "tanh"]))
    backend = data.draw(st.sampled_from(BACKENDS))
    seed = data.draw(st.integers(0, 2**16))
    base = (np.random.default_rng(seed).standard_normal([2 * n + 1 for n in shape]) * 3).astype(dtype)
    steps = tuple(slice(None, None, data.draw(st.sampled_from([1, 2, -1]))) for _ in shape)
    x = base[steps] if shape else base
    if data.draw(st.booleans()) and x.ndim > 1:
        x = x.T
    function = getattr(fastrelu, name)
    y = function(x, backend=backend)
    np.testing.assert_array_equal(y, function(native_copy(x), backend=backend))
    g = random_gradient(x.shape, seed + 1, dtype)
    dx = function.backward(g, x, backend=backend)
    np.testing.assert_array_equal(dx, function.backward(native_copy(g), native_copy(x),
                                                        backend=backend))
    # and the values themselves: mpmath's, within the error docs/accuracy.md states
    assert y.dtype == dx.dtype == np.dtype(dtype).newbyteorder("=")
    assert y.shape == dx.shape == x.shape
    assert_within_stated_error(name, backend, x, g, y, dx)
