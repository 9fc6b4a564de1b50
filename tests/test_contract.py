"""The call contract shared by every activation, shown on relu, leaky_relu and
their gradients on every CPU backend."""

import re

import numpy as np
import pytest

import fastrelu
from conftest import assert_same, random_normal, special_values, torch_or_skip


def test_relu_matches_reference_on_special_values(backend, float_dtype):
    x = special_values(float_dtype)
    y = fastrelu.relu(x, backend=backend)
    expected = np.where(x <= 0, float_dtype(0), x)
    assert_same(y, expected)
    assert not np.signbit(y).any(), "relu(-0) must be +0"
    assert np.isnan(y[np.isnan(x)]).all()


def test_relu_backward_is_grad_where_positive(backend, float_dtype):
    x = special_values(float_dtype)
    g = random_normal(x.shape, float_dtype, seed=1)
    dx = fastrelu.relu_backward(g, x, backend=backend)
    assert_same(dx, np.where(x <= 0, float_dtype(0), g))
    assert dx[list(x).index(0.0)] == 0  # derivative at 0 is 0


def test_leaky_relu_and_backward(backend, float_dtype):
    x = special_values(float_dtype)
    y = fastrelu.leaky_relu(x, 0.2, backend=backend)
    slope = float_dtype(0.2)
    assert_same(y, np.where(x > 0, x, x * slope))
    g = random_normal(x.shape, float_dtype, seed=2)
    assert_same(fastrelu.leaky_relu_backward(g, x, negative_slope=0.2, backend=backend),
                np.where(x > 0, g, g * slope))
    assert_same(fastrelu.leaky_relu(x, backend=backend), np.where(x > 0, x, x * float_dtype(0.01)))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64])
def test_relu_on_integers(backend, dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min, -1, 0, 1, info.max], dtype=dtype) if info.min < 0 else \
        np.array([0, 1, info.max], dtype=dtype)
    assert_same(fastrelu.relu(x, backend=backend), np.maximum(x, dtype(0)))


def test_float16_relu_keeps_every_nan_and_zeroes_every_negative(backend):
    bits = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
    x = bits.view(np.float16)  # all 65536 float16 values
    y = fastrelu.relu(x, backend=backend)
    with np.errstate(invalid="ignore"):
        expected = np.where(x <= 0, np.float16(0), x)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y.view(np.int16)[~np.isnan(x)], expected.view(np.int16)[~np.isnan(x)])
    assert np.isnan(y[np.isnan(x)]).all()
    g = np.ones_like(x)
    dx = fastrelu.relu_backward(g, x, backend=backend)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(dx, np.where(x <= 0, np.float16(0), g))


def test_float16_leaky_relu(backend):
    x = random_normal(1000, np.float16)
    y = fastrelu.leaky_relu(x, 0.1, backend=backend)
    assert y.dtype == np.float16
    expected = np.where(x > 0, x, x.astype(np.float32) * np.float32(0.1)).astype(np.float16)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", [np.bool_, np.complex64, np.complex128, object, "U3", "S3",
                                   np.longdouble, "datetime64[s]"])
def test_bad_dtypes_raise_type_error_naming_the_dtype(backend, dtype):
    if np.dtype(dtype) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    x = np.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=re.escape(str(np.dtype(dtype)))):
        fastrelu.relu(x, backend=backend)
    with pytest.raises(TypeError):
        fastrelu.leaky_relu(x, backend=backend)


def test_leaky_relu_refuses_integers(backend):
    with pytest.raises(TypeError, match="integer"):
        fastrelu.leaky_relu(np.arange(3), backend=backend)


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 4), (2, 0, 3), (2, 3, 4, 5)])
def test_any_shape(backend, float_dtype, shape):
    x = random_normal(shape, float_dtype)
    y = fastrelu.relu(x, backend=backend)
    assert isinstance(y, np.ndarray) and y.shape == shape and y.dtype == float_dtype
    assert_same(y, np.where(x <= 0, float_dtype(0), x))


def _layouts(dtype):
    base = random_normal((6, 10), dtype, seed=3)
    return {
        "C": base,
        "F": np.asfortranarray(base),
        "strided": base[::2, ::3],
        "negative": base[::-1, ::-2],
        "transposed": base.T,
        "broadcast": np.broadcast_to(base[0], (4, 10)),
    }


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "transposed", "broadcast"])
def test_any_input_layout(backend, float_dtype, layout):
    x = _layouts(float_dtype)[layout]
    before = x.copy()
    y = fastrelu.leaky_relu(x, 0.3, backend=backend)
    assert_same(y, np.where(x > 0, x, x * float_dtype(0.3)))
    assert_same(x, before)  # the input is never modified


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "transposed"])
def test_any_out_layout(backend, float_dtype, layout):
    out = _layouts(float_dtype)[layout].copy(order="K")
    out = _layouts(float_dtype)[layout] * 0 + out  # fresh, same layout kind
    target = {"C": lambda a: a, "F": np.asfortranarray}.get(layout)
    if target is None:  # a strided view into a bigger buffer
        big = np.full((12, 30), -7.0, dtype=float_dtype)
        out = big[::2, ::3][: out.shape[0], : out.shape[1]] if layout == "strided" else \
            big[::-2, ::-3][: out.shape[0], : out.shape[1]] if layout == "negative" else \
            np.full((10, 6), -7.0, dtype=float_dtype).T
    else:
        out = target(np.full(out.shape, -7.0, dtype=float_dtype))
    x = random_normal(out.shape, float_dtype, seed=4)
    result = fastrelu.relu(x, out=out, backend=backend)
    assert result is out
    assert_same(out, np.where(x <= 0, float_dtype(0), x))


def test_out_in_place(backend, float_dtype):
    x = random_normal((5, 7), float_dtype)
    expected = np.where(x <= 0, float_dtype(0), x)
    assert fastrelu.relu(x, out=x, backend=backend) is x
    assert_same(x, expected)
    g = random_normal((5, 7), float_dtype, seed=9)
    expected_dx = np.where(x <= 0, float_dtype(0), g)
    fastrelu.relu_backward(g, x, out=g, backend=backend)
    assert_same(g, expected_dx)


def test_in_place_on_a_view(backend, float_dtype):
    base = random_normal((8, 8), float_dtype)
    view = base[1::2, ::3]
    expected = np.where(view <= 0, float_dtype(0), view)
    untouched = base[0].copy()
    fastrelu.relu(view, out=view, backend=backend)
    assert_same(view, expected)
    assert_same(base[0], untouched)


def test_partial_overlap_gives_the_numpy_answer(backend, float_dtype):
    base = random_normal(20, float_dtype)
    expected = np.where(base[:-1] <= 0, float_dtype(0), base[:-1])
    fastrelu.relu(base[:-1], out=base[1:], backend=backend)
    assert_same(base[1:], expected)


def test_out_errors(backend):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        fastrelu.relu(x, out=np.empty((3, 2), np.float32), backend=backend)
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu(x, out=np.empty((2, 3), np.float64), backend=backend)
    ro = np.empty((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastrelu.relu(x, out=ro, backend=backend)
    with pytest.raises(TypeError):
        fastrelu.relu(x, out=[0.0] * 6, backend=backend)


def test_backward_shape_and_dtype_mismatch(backend):
    with pytest.raises(ValueError, match="shape"):
        fastrelu.relu_backward(np.ones(3), np.ones(4), backend=backend)
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu_backward(np.ones(3, np.float32), np.ones(3), backend=backend)


def test_array_likes(backend):
    assert_same(fastrelu.relu([-1.0, 2.0], backend=backend), np.array([0.0, 2.0]))
    assert_same(fastrelu.relu(3.0, backend=backend), np.array(3.0))
    dx = fastrelu.relu_backward([1, 1, 1], np.array([-1, 0, 1], np.float32), backend=backend)
    assert_same(dx, np.array([0, 0, 1], np.float32))


def test_parameter_errors():
    x = np.ones(3)
    with pytest.raises(TypeError, match="negative_slope"):
        fastrelu.leaky_relu(x, "0.1")
    with pytest.raises(TypeError):
        fastrelu.leaky_relu(x, 0.1, 0.2)
    with pytest.raises(TypeError, match="unexpected"):
        fastrelu.leaky_relu(x, slope=0.1)


def test_results_match_torch(backend, float_dtype):
    torch = torch_or_skip()
    F = torch.nn.functional
    x = np.concatenate([special_values(float_dtype), random_normal(1000, float_dtype)])
    tx = torch.from_numpy(x)
    assert_same(fastrelu.relu(x, backend=backend), F.relu(tx).numpy())
    assert_same(fastrelu.leaky_relu(x, 0.05, backend=backend), F.leaky_relu(tx, 0.05).numpy())
    tx.requires_grad_(True)
    g = random_normal(x.shape, float_dtype, seed=5)
    for ours, theirs in [(lambda: fastrelu.relu_backward(g, x, backend=backend), F.relu),
                         (lambda: fastrelu.leaky_relu_backward(g, x, 0.05, backend=backend),
                          lambda t: F.leaky_relu(t, 0.05))]:
        tx.grad = None
        theirs(tx).backward(torch.from_numpy(g))
        assert_same(ours(), tx.grad.numpy())
