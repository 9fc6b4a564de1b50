"""Property tests (hypothesis) over shapes, strides, dtypes and special values."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastrelu
from conftest import assert_within_stated_error, random_gradient

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
@given(x=arrays(), backend=BACKENDS, slope=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_leaky_relu_backward_is_grad_times_slope(x, backend, slope, seed):
    g = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    dx = fastrelu.leaky_relu_backward(g, x, slope, backend=backend)
    compute = np.float32 if x.dtype == np.float16 else x.dtype.type
    with np.errstate(invalid="ignore"):
        # one rounding of g * slope in the compute dtype, then to x's dtype
        expected = np.where(x > 0, g, g.astype(compute) * compute(slope)).astype(x.dtype)
    np.testing.assert_array_equal(dx, expected)


# f(-inf), f(+inf), f'(-inf), f'(+inf) at the default parameters.
LIMITS_AT_INFINITY = {
    "elu": (-1.0, np.inf, 0.0, 1.0), "celu": (-1.0, np.inf, 0.0, 1.0),
    "selu": (-1.0507009873554805 * 1.6732632423543772, np.inf, 0.0, 1.0507009873554805),
    "silu": (0.0, np.inf, 0.0, 1.0), "mish": (0.0, np.inf, 0.0, 1.0),
    "softplus": (0.0, np.inf, 0.0, 1.0), "gelu": (0.0, np.inf, 0.0, 1.0),
    "hardswish": (0.0, np.inf, 0.0, 1.0), "sigmoid": (0.0, 1.0, 0.0, 0.0),
    "tanh": (-1.0, 1.0, 0.0, 0.0), "hardsigmoid": (0.0, 1.0, 0.0, 0.0),
    "relu6": (0.0, 6.0, 0.0, 0.0),
}
# Their gradient is g times a mask (-3 < x < 3, 0 < x < 6) that NaN fails: 0, as
# PyTorch's vectorised loops give (its scalar loop gives g for relu6 on a few elements).
ZERO_GRADIENT_AT_NAN = {"hardsigmoid", "relu6"}


@SETTINGS
@given(x=arrays(np.float64), backend=BACKENDS, seed=st.integers(0, 2**32 - 1),
       name=st.sampled_from(sorted(LIMITS_AT_INFINITY)))
def test_every_backend_is_within_its_stated_error_of_the_true_values(x, backend, seed, name):
    """Forward and backward on any layout and special value, against mpmath
    (perf/accuracy.py's true values at 160 bits, random gradients of either
    sign and magnitude 1/2 to 2), within twice the worst error that
    docs/accuracy.md states for the backend; limits at the infinities and
    NaN where NaN."""
    g = random_gradient(x.shape, seed)
    fn = getattr(fastrelu, name)
    with np.errstate(all="ignore"):
        y, dx = fn(x, backend=backend), fn.backward(g, x, backend=backend)
    assert y.shape == dx.shape == x.shape and y.dtype == dx.dtype == np.float64
    nan = np.isnan(x)
    assert np.isnan(y[nan]).all()
    if name in ZERO_GRADIENT_AT_NAN:
        assert (dx[nan] == 0).all()
    else:
        assert np.isnan(dx[nan]).all()
    low, high, dlow, dhigh = LIMITS_AT_INFINITY[name]
    for where, f, d in ((x == -np.inf, low, dlow), (x == np.inf, high, dhigh)):
        np.testing.assert_array_equal(y[where], f)
        np.testing.assert_array_equal(dx[where], g[where] * d)
    finite = np.isfinite(x)
    assert_within_stated_error(name, backend, x[finite], g[finite], y[finite], dx[finite])


@SETTINGS
@given(x=arrays(np.float32), backend=BACKENDS)
def test_out_in_place_equals_allocating(x, backend):
    expected = fastrelu.gelu(x, backend=backend)
    fastrelu.gelu(x, out=x, backend=backend)
    np.testing.assert_array_equal(x, expected)
