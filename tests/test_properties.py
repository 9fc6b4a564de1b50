"""Property tests (hypothesis) over shapes, strides, dtypes and special values."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastrelu

BACKENDS = st.sampled_from(["numpy", "numba", "numba-parallel", "numba-ufunc", "auto"])
DTYPES = st.sampled_from([np.float16, np.float32, np.float64])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def arrays(draw, dtype=None):
    """Arrays of any small shape with NaN, infinities, signed zeros and
    subnormals among their values, as C, Fortran or strided (also reversed) views."""
    dtype = dtype or draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    base = draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(
        np.dtype(dtype), allow_nan=True, allow_infinity=True, allow_subnormal=True)))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        return np.asfortranarray(base)
    if layout == "strided" and base.ndim:
        big = np.repeat(base, 2, axis=-1)
        view = big[..., ::2]
        return view[..., ::-1] if draw(st.booleans()) else view
    return base


def bits(a):
    return a.view({2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize])


@SETTINGS
@given(x=arrays(), backend=BACKENDS)
def test_relu_is_the_select_form_bit_for_bit(x, backend):
    before = x.copy()
    y = fastrelu.relu(x, backend=backend)
    with np.errstate(invalid="ignore"):
        expected = np.where(x <= 0, x.dtype.type(0), x)
    assert y.shape == x.shape and y.dtype == x.dtype
    nan = np.isnan(x)
    assert np.isnan(y[nan]).all()
    np.testing.assert_array_equal(bits(y)[~nan], bits(expected)[~nan])  # +0, never -0
    np.testing.assert_array_equal(bits(x), bits(before))  # input untouched


@SETTINGS
@given(x=arrays(), backend=BACKENDS)
def test_relu_minus_relu_of_negation_is_identity(x, backend):
    x = x[np.isfinite(x)]
    with np.errstate(over="ignore"):
        d = fastrelu.relu(x, backend=backend) - fastrelu.relu(-x, backend=backend)
    np.testing.assert_array_equal(d, x)


@SETTINGS
@given(x=arrays(), backend=BACKENDS)
def test_relu_is_idempotent_and_monotone(x, backend):
    y = fastrelu.relu(x, backend=backend)
    np.testing.assert_array_equal(fastrelu.relu(y, backend=backend), y)
    flat = np.sort(x[~np.isnan(x)].ravel())
    ys = fastrelu.relu(flat, backend=backend)
    assert (ys[1:] >= ys[:-1]).all()


@SETTINGS
@given(x=arrays(), backend=BACKENDS, slope=st.floats(0, 1))
def test_leaky_relu_backward_is_grad_times_slope(x, backend, slope):
    g = np.ones_like(x)
    dx = fastrelu.leaky_relu_backward(g, x, slope, backend=backend)
    compute = np.float32 if x.dtype == np.float16 else x.dtype.type
    with np.errstate(invalid="ignore"):
        expected = np.where(x > 0, 1, compute(slope)).astype(x.dtype)
    np.testing.assert_array_equal(dx, expected)


@SETTINGS
@given(x=arrays(np.float64), backend=BACKENDS,
       name=st.sampled_from(["elu", "selu", "celu", "silu", "mish", "softplus", "sigmoid",
                             "tanh", "hardswish", "hardsigmoid", "relu6", "gelu"]))
def test_every_backend_agrees_with_numpy(x, backend, name):
    fn = getattr(fastrelu, name)
    with np.errstate(all="ignore"):
        ours, ref = fn(x, backend=backend), fn(x, backend="numpy")
        g = np.ones_like(x)
        dours, dref = fn.backward(g, x, backend=backend), fn.backward(g, x, backend="numpy")
    for a, b in [(ours, ref), (dours, dref)]:
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        # atol: fused multiply-adds may differ from NumPy's rounding by an ulp
        # of the terms where the result cancels to ~0 (values are O(1)).
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-13, atol=1e-15)


@SETTINGS
@given(x=arrays(np.float32), backend=BACKENDS)
def test_out_in_place_equals_allocating(x, backend):
    expected = fastrelu.gelu(x, backend=backend)
    fastrelu.gelu(x, out=x, backend=backend)
    np.testing.assert_array_equal(x, expected)
