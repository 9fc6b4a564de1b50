"""relu_mask and relu_backward_mask: one bit per element saved for backward."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastrelu
from conftest import CPU_BACKENDS, random_normal, special_values

HALF_AND_FLOATS = [np.float16, np.float32, np.float64]
# The backends that implement the masks (numba-ufunc does not: no ufunc
# packs bits across elements).
MASK_BACKENDS = [b for b in CPU_BACKENDS
                 if b == "auto" or "relu_mask" in fastrelu.registry.lookup(b).operations]


@pytest.fixture(params=MASK_BACKENDS)
def backend(request):
    return request.param


def test_a_backend_without_masks_says_so():
    x = np.ones(8, np.float32)
    with pytest.raises(NotImplementedError, match="relu_mask: backend 'numba-ufunc' does not "
                       "implement relu_mask"):
        fastrelu.relu_mask(x, backend="numba-ufunc")
    mask = fastrelu.relu_mask(x)[1]
    with fastrelu.use_backend("numba-ufunc"), pytest.raises(
            NotImplementedError, match="relu_backward_mask: backend 'numba-ufunc' does not"):
        fastrelu.relu_backward_mask(x, mask)


def expected(x, grad=None):
    y = np.where(x <= 0, x.dtype.type(0), x)
    mask = np.packbits(x.ravel() > 0, bitorder="little")
    if grad is None:
        return y, mask
    return np.where(x > 0, grad, grad.dtype.type(0))


def assert_bits_equal(actual, wanted):
    """Equal bit for bit: keeps NaN payloads and the sign of zero honest."""
    assert actual.dtype == wanted.dtype and actual.shape == wanted.shape
    bits = np.dtype(f"u{actual.dtype.itemsize}")
    np.testing.assert_array_equal(actual.view(bits), wanted.view(bits))


@pytest.mark.parametrize("dtype", HALF_AND_FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 63, 16384 * 2 + 13])
def test_matches_packbits_and_relu_backward(backend, dtype, n):
    x = random_normal(n, dtype)
    x[:min(n, 24)] = special_values(dtype)[:min(n, 24)]
    grad = random_normal(n, dtype, seed=1)
    y, mask = fastrelu.relu_mask(x, backend=backend)
    want_y, want_mask = expected(x)
    assert_bits_equal(y, want_y)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, want_mask)
    assert_bits_equal(fastrelu.relu_backward_mask(grad, mask, backend=backend),
                      expected(x, grad))


def test_agrees_with_relu_backward_except_at_nan(backend):
    x = random_normal((33, 17), np.float32)
    x[0, :3] = [np.nan, -0.0, 0.0]
    grad = random_normal(x.shape, np.float32, seed=2)
    _, mask = fastrelu.relu_mask(x, backend=backend)
    from_mask = fastrelu.relu_backward_mask(grad, mask, backend=backend)
    from_x = fastrelu.relu_backward(grad, x, backend=backend)
    # At NaN relu_backward passes grad on (PyTorch's rule); the mask holds x > 0, i.e. 0.
    assert from_mask[0, 0] == 0 and from_x[0, 0] == grad[0, 0]
    np.testing.assert_array_equal(from_mask.ravel()[1:], from_x.ravel()[1:])


def test_grad_nan_and_negative_zero_pass_where_the_bit_is_set(backend):
    x = np.array([1.0, 1.0, -1.0, -1.0], np.float32)
    grad = np.array([np.nan, -0.0, np.nan, -5.0], np.float32)
    _, mask = fastrelu.relu_mask(x, backend=backend)
    result = fastrelu.relu_backward_mask(grad, mask, backend=backend)
    assert np.isnan(result[0]) and np.signbit(result[1])
    assert_bits_equal(result[2:], np.zeros(2, np.float32))


def test_integers(backend):
    for dtype in (np.int8, np.int32, np.int64, np.uint8, np.uint16):
        x = np.array([-3, 0, 5, 7, -1, 2, 0, 1, 9], dtype) if np.dtype(dtype).kind == "i" \
            else np.array([0, 3, 250, 1, 0, 0, 7, 1, 9], dtype)
        y, mask = fastrelu.relu_mask(x, backend=backend)
        want_y, want_mask = expected(x)
        np.testing.assert_array_equal(y, want_y)
        assert y.dtype == dtype
        np.testing.assert_array_equal(mask, want_mask)


def test_layouts_out_and_in_place(backend):
    base = random_normal((12, 10), np.float64)
    for x in (base.T, base[::2, ::-3], base[3]):
        want_y, want_mask = expected(x)
        y, mask = fastrelu.relu_mask(x, backend=backend)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(mask, want_mask)  # C order of x, whatever its layout
        out = np.empty(x.shape[::-1]).T  # Fortran-ordered out
        result, _ = fastrelu.relu_mask(x, out=out, backend=backend)
        assert result is out
        np.testing.assert_array_equal(out, want_y)
        grad = random_normal(x.shape, np.float64, seed=3)
        np.testing.assert_array_equal(fastrelu.relu_backward_mask(grad, mask, backend=backend),
                                      expected(x, grad))
    x = random_normal(100, np.float32)
    want_y, want_mask = expected(x)
    y, mask = fastrelu.relu_mask(x, out=x, backend=backend)
    assert y is x
    np.testing.assert_array_equal(x, want_y)
    np.testing.assert_array_equal(mask, want_mask)
    grad = random_normal(100, np.float32, seed=4)
    copy = grad.copy()
    assert fastrelu.relu_backward_mask(grad, mask, out=grad, backend=backend) is grad
    np.testing.assert_array_equal(grad, np.where(want_y > 0, copy, 0))


def test_partial_overlap_gives_numpys_answer(backend):
    buffer = random_normal(40, np.float32)
    x, out = buffer[:30], buffer[5:35]
    want_y, want_mask = expected(x.copy())
    _, mask = fastrelu.relu_mask(x, out=out, backend=backend)
    np.testing.assert_array_equal(out, want_y)
    np.testing.assert_array_equal(mask, want_mask)


def test_out_over_the_masks_own_bytes(backend):
    # A result written over the mask it is computed from, here its first
    # 16 bytes: the mask is read as it was.
    x = random_normal(64, np.float32)
    grad = random_normal(64, np.float32, seed=2)
    _, mask = fastrelu.relu_mask(x, backend=backend)
    buffer = np.zeros(64 * 4, np.uint8)
    buffer[:8] = mask
    out = buffer.view(np.float32)
    result = fastrelu.relu_backward_mask(grad, buffer[:8], out=out, backend=backend)
    assert result is out
    assert_bits_equal(out, expected(x, grad))


@pytest.mark.parametrize("name", ["numba", "numba-parallel"])
def test_common_calls_take_the_short_path(monkeypatch, name):
    # C-contiguous float32/float64 arrays on a loop backend never reach the
    # general path (a short path that always declined would only be slower).
    from fastrelu import dispatch

    def general_path(*args):
        raise AssertionError("took the general path")
    monkeypatch.setattr(dispatch, "backend_for", general_path)
    for dtype in (np.float32, np.float64):
        x = random_normal((30, 7), dtype)
        grad = random_normal((30, 7), dtype, seed=5)
        y, mask = fastrelu.relu_mask(x, backend=name)
        assert_bits_equal(y, expected(x)[0])
        assert_bits_equal(fastrelu.relu_backward_mask(grad, mask, backend=name), expected(x, grad))
        out = np.empty_like(x)
        assert fastrelu.relu_mask(x, out=out, backend=name)[0] is out
        assert fastrelu.relu_backward_mask(grad, mask, out=grad, backend=name) is grad


def test_input_is_not_modified(backend):
    x = random_normal(50, np.float32)
    grad = random_normal(50, np.float32, seed=1)
    x0, grad0 = x.copy(), grad.copy()
    _, mask = fastrelu.relu_mask(x, backend=backend)
    mask0 = mask.copy()
    fastrelu.relu_backward_mask(grad, mask, backend=backend)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(grad, grad0)
    np.testing.assert_array_equal(mask, mask0)


def test_memory_saved():
    x = np.ones(1000, np.float32)
    _, mask = fastrelu.relu_mask(x)
    assert x.nbytes / mask.nbytes == 32


def test_errors():
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu_mask(np.ones(3, np.complex64))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.relu_mask(np.ones(3), out=np.empty(4))
    mask = np.zeros(1, np.uint8)
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        fastrelu.relu_backward_mask(np.ones(9), mask)
    with pytest.raises(TypeError, match="uint8"):
        fastrelu.relu_backward_mask(np.ones(8), np.zeros(1, np.int8))
    with pytest.raises(TypeError, match="mask must be"):
        fastrelu.relu_backward_mask(np.ones(8), [255])
    with pytest.raises(TypeError, match="integer"):
        fastrelu.relu_backward_mask(np.ones(8, np.int32), mask)
    with pytest.raises(ValueError, match="unknown backend"):
        fastrelu.relu_mask(np.ones(3), backend="nope")


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(st.sampled_from([np.float16, np.float32, np.float64]),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=20),
                    elements=st.floats(allow_nan=True, allow_infinity=True, width=16)),
       backend=st.sampled_from(["numpy", "numba", "numba-parallel"]))
def test_property_any_shape_and_value(x, backend):
    y, mask = fastrelu.relu_mask(x, backend=backend)
    want_y, want_mask = expected(x)
    assert_bits_equal(y, want_y)
    np.testing.assert_array_equal(mask, want_mask)
    grad = np.arange(x.size, dtype=x.dtype).reshape(x.shape)
    assert_bits_equal(fastrelu.relu_backward_mask(grad, mask, backend=backend), expected(x, grad))
