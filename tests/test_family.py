"""Every activation, forward and backward, on every CPU backend: against the
NumPy reference, PyTorch and finite differences."""

import numpy as np
import pytest

import fastrelu
from conftest import COMPILED_BACKENDS, random_normal, special_values, torch_or_skip

# name -> (parameters to call with, PyTorch function of (tensor, *params), kinks);
# an activation of the table without a case here gets the default one below.
CASES = {
    "relu": ((), lambda F, t: F.relu(t), [0]),
    "leaky_relu": ((0.1,), lambda F, t, s: F.leaky_relu(t, s), [0]),
    "relu6": ((), lambda F, t: F.relu6(t), [0, 6]),
    "elu": ((0.7,), lambda F, t, a: F.elu(t, a), [0]),
    "selu": ((), lambda F, t: F.selu(t), [0]),
    "celu": ((1.5,), lambda F, t, a: F.celu(t, a), [0]),
    "gelu": ((), lambda F, t: F.gelu(t), []),
    "gelu_tanh": ((), lambda F, t: F.gelu(t, approximate="tanh"), []),
    "silu": ((), lambda F, t: F.silu(t), []),
    "mish": ((), lambda F, t: F.mish(t), []),
    "softplus": ((2.0, 10.0), lambda F, t, b, th: F.softplus(t, b, th), [5.0]),
    "hardswish": ((), lambda F, t: F.hardswish(t), [-3, 3]),
    "hardsigmoid": ((), lambda F, t: F.hardsigmoid(t), [-3, 3]),
    "sigmoid": ((), lambda F, t: F.sigmoid(t), []),
    "tanh": ((), lambda F, t: F.tanh(t), []),
}


def default_case(name):
    """Its default parameters, F.NAME as PyTorch's twin, no kinks."""
    params = tuple(d for _, d in fastrelu.definitions.BUILTIN[name].params)
    return params, lambda F, t, *p: getattr(F, name)(t, *p), []


CASES = {name: CASES.get(name) or default_case(name) for name in fastrelu.definitions.BUILTIN}
PIECEWISE_LINEAR = {"relu", "leaky_relu", "relu6"}  # exact: no rounding anywhere
SMOOTH_AT_INFINITY = {"gelu", "gelu_tanh", "silu", "mish", "hardswish"}
# PyTorch computes these in float32 with an intermediate that overflows near
# 1e38 (x**3, x * 6), giving inf where the true value is finite.
TORCH_OVERFLOWS = {"gelu_tanh", "hardswish"}
# PyTorch's float64 hardsigmoid gradient uses 1/6 rounded to float32: off by
# 2^-25 relative (2^27 float64 ulps); its forward is float64 throughout.
TORCH_FLOAT32_CONSTANTS = {"hardsigmoid"}
# PyTorch's float32 tanh-GELU gradient computes 1 + tanh(u), which cancels in
# the left tail (it returns 0 where the true value is ~5e-6); we use the
# sigmoid form, checked against a float64 reference in test_matches_reference.
TORCH_TAIL_CANCELLATION = {"gelu_tanh"}  # return limits where PyTorch gives NaN


def forward(name, x, *params, **kw):
    if name == "gelu_tanh":
        return fastrelu.gelu(x, "tanh", **kw)
    return getattr(fastrelu, name)(x, *params, **kw)


def backward(name, g, x, *params, **kw):
    if name == "gelu_tanh":
        return fastrelu.gelu_backward(g, x, "tanh", **kw)
    return getattr(fastrelu, name + "_backward")(g, x, *params, **kw)


def reference(name, direction):
    d = fastrelu.definitions.BUILTIN[name]
    return d.reference if direction == "forward" else d.reference_backward


def tolerance(name, dtype):
    if name in PIECEWISE_LINEAR:
        return 0
    return 16 if dtype == np.float32 else 64


def assert_close(actual, expected, dtype, ulps):
    """Within ``ulps`` units of the dtype's precision (relative to the value, or
    to 1 near zero); NaN exactly where NaN, infinities exact."""
    assert actual.dtype == expected.dtype == dtype
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    inf = np.isinf(expected)
    np.testing.assert_array_equal(actual[inf], expected[inf])
    finite = ~nan & ~inf
    a, e = actual[finite].astype(np.float64), expected[finite].astype(np.float64)
    tol = ulps * np.finfo(dtype).eps * np.maximum(np.abs(e), 1.0)
    bad = np.abs(a - e) > tol
    assert not bad.any(), f"{bad.sum()} values off, e.g. {a[bad][:5]} vs {e[bad][:5]}"


def test_activations_lists_the_family():
    names = fastrelu.activations()
    public = [d.name for d in fastrelu.definitions.BUILTIN.values() if d.public]
    for name in [*public, "prelu", "rrelu"]:
        assert name in names
        assert callable(getattr(fastrelu, name)) and callable(getattr(fastrelu, name + "_backward"))


@pytest.mark.parametrize("backend", [*COMPILED_BACKENDS, "auto"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_reference(name, backend, float_dtype):
    # Non-default parameters and the special values (infinities, NaN) against
    # the NumPy reference; the numpy backend is that reference, measured
    # against mpmath in test_accuracy.py.
    params = CASES[name][0]
    x = np.concatenate([special_values(float_dtype), random_normal(2000, float_dtype, scale=4)])
    g = random_normal(x.shape, float_dtype, seed=7)
    ulps = tolerance(name, float_dtype)
    with np.errstate(all="ignore"):
        assert_close(forward(name, x, *params, backend=backend),
                     reference(name, "forward")(x, *[float_dtype(p) for p in params]).astype(float_dtype),
                     float_dtype, ulps)
        assert_close(backward(name, g, x, *params, backend=backend),
                     reference(name, "backward")(g, x, *[float_dtype(p) for p in params]).astype(float_dtype),
                     float_dtype, ulps)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name, backend, float_dtype):
    torch = torch_or_skip()
    F = torch.nn.functional
    params, torch_fn, _ = CASES[name]
    x = np.concatenate([special_values(float_dtype), random_normal(2000, float_dtype, scale=4)])
    if name in SMOOTH_AT_INFINITY:
        x = x[np.isfinite(x)]  # PyTorch gives NaN at +-inf there; we give the limit
    if name in TORCH_OVERFLOWS:
        x = x[~(np.abs(x) >= 1e38)]
    g = random_normal(x.shape, float_dtype, seed=8)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    y = torch_fn(F, t, *params)
    y.backward(torch.from_numpy(g))
    ulps = backward_ulps = tolerance(name, float_dtype)
    if name in TORCH_FLOAT32_CONSTANTS and float_dtype == np.float64:
        # The forward: min(max(x + 3, 0), 6) / 6 both sides, equal bit for bit
        # when measured; an ulp for a different order of the same operations.
        ulps, backward_ulps = 1, 2**28
    if name in TORCH_TAIL_CANCELLATION and float_dtype == np.float32:
        ulps = backward_ulps = 128
    assert_close(forward(name, x, *params, backend=backend), y.detach().numpy(), float_dtype, ulps)
    assert_close(backward(name, g, x, *params, backend=backend), t.grad.numpy(), float_dtype,
                 backward_ulps)


# The largest third derivative |f3| on [-8, 8] at CASES' parameters: tanh's
# 2 at 0 (selu 1.76 just left of 0; gelu, gelu_tanh 0.78; the rest less).
THIRD_DERIVATIVE_BOUND = 2.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_matches_finite_differences(name, backend):
    """g (f(x + h) - f(x - h)) / 2h is g f'(x) within the central difference's
    own error: truncation h^2 |f3| / 6 and the forward's rounding, up to 4
    ulps of each of f(x +- h), over 2h.  h = 2^-15 about balances the two
    (~3e-10 each at |x| = 8); x on a grid of 1/64 so that x +- h are exact.
    Allowed: twice that, about 1e-9 |g| at most (rtol = atol = 1e-6 before)."""
    params, _, kinks = CASES[name]
    x = np.arange(-8 * 64, 8 * 64 + 1) / 64.0
    for k in kinks:
        x = x[np.abs(x - k) > 1e-3]  # away from the kinks, by far more than h
    g = np.random.default_rng(11).choice([-1.0, 1.0], x.shape) * np.linspace(0.5, 2, x.size)
    h = 2.0**-15
    up, down = (forward(name, x + h, *params, backend=backend),
                forward(name, x - h, *params, backend=backend))
    numeric = g * ((up - down) / (2 * h))
    analytic = backward(name, g, x, *params, backend=backend)
    method_error = (h * h / 6 * THIRD_DERIVATIVE_BOUND
                    + 4 * np.finfo(np.float64).eps * (np.abs(up) + np.abs(down)) / (2 * h))
    error = np.abs(analytic - numeric)
    tolerance = 2 * np.abs(g) * method_error
    bad = error > tolerance
    assert not bad.any(), (f"{bad.sum()} off, e.g. at x = {x[bad][:3]}: {error[bad][:3]} "
                           f"over {tolerance[bad][:3]}")


@pytest.mark.parametrize("name", sorted(SMOOTH_AT_INFINITY))
def test_limits_at_infinity(name, backend, float_dtype):
    x = np.array([-np.inf, np.inf], float_dtype)
    np.testing.assert_array_equal(forward(name, x, backend=backend), [0, np.inf])
    np.testing.assert_array_equal(backward(name, np.ones_like(x), x, backend=backend), [0, 1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_float16_in_float16_out(name, backend):
    params = CASES[name][0]
    x = random_normal(500, np.float16)
    y = forward(name, x, *params, backend=backend)
    assert y.dtype == np.float16
    # Computed in float32 and rounded once; the float32 results themselves
    # may differ from NumPy's by an ulp or two, which can move a float16
    # rounding by one ulp.
    in_float32 = forward(name, x.astype(np.float32), *params, backend=backend)
    np.testing.assert_array_equal(y, in_float32.astype(np.float16))
    expected = forward(name, x.astype(np.float32), *params, backend="numpy").astype(np.float16)
    assert_close(y, expected, np.float16, 1)


def test_no_overflow_for_large_inputs(backend, float_dtype):
    big = np.array([-1e30, -700.0, -90.0, 90.0, 700.0, 1e30], float_dtype)
    with np.errstate(all="raise"):
        for name in ["softplus", "elu", "selu", "celu", "mish", "sigmoid", "silu", "gelu", "tanh"]:
            y = forward(name, big, *CASES[name][0], backend=backend)
            assert np.isfinite(y).all(), (name, y)


@pytest.mark.parametrize("backend", ["numba", "numba-parallel", "numba-ufunc"])
def test_gelu_keeps_relative_accuracy_in_the_left_tail(backend, float_dtype):
    """x Phi(x) from Phi's tail, not from 1 + erf, which cancels to 0 there
    (PyTorch's gelu does, from about x = -5.5 in float32 and -8.3 in float64)."""
    low = -13 if float_dtype == np.float32 else -37
    x = np.linspace(low, -1, 5000).astype(float_dtype)
    exact = x.astype(np.float64) * fastrelu.definitions._normal_cdf_ref(x.astype(np.float64))
    y = fastrelu.gelu(x, backend=backend)
    d = fastrelu.gelu_backward(np.ones_like(x), x, backend=backend)
    x64 = x.astype(np.float64)
    exact_d = (fastrelu.definitions._normal_cdf_ref(x64)
               + x64 * np.exp(-x64 * x64 / 2) / np.sqrt(2 * np.pi))
    tolerance = 16 * np.finfo(float_dtype).eps
    np.testing.assert_allclose(y, exact, rtol=tolerance if float_dtype == np.float32 else 1e-12)
    assert np.all(y < 0)
    # The gradient Phi(x) + x phi(x) cancels by itself in the far tail: absolute check.
    np.testing.assert_allclose(d, exact_d, rtol=1e-3, atol=tolerance)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="tanh"):
        fastrelu.gelu(np.ones(2), approximate="erf")


# --- prelu and rrelu ----------------------------------------------------------


@pytest.mark.parametrize("shape,wsize", [((5,), 1), ((4, 3), 3), ((2, 3, 4, 5), 3),
                                         ((2, 3, 4), 1), ((), 1)])
def test_prelu_matches_torch(backend, float_dtype, shape, wsize):
    torch = torch_or_skip()
    x = np.asarray(random_normal(shape, float_dtype))
    w = (np.random.default_rng(1).random(wsize) * 0.5).astype(float_dtype)
    g = np.asarray(random_normal(shape, float_dtype, seed=3))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tw = torch.from_numpy(w.copy()).requires_grad_(True)
    ty = torch.nn.functional.prelu(tx, tw)
    ty.backward(torch.from_numpy(g))
    y = fastrelu.prelu(x, w, backend=backend)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    gx, gw = fastrelu.prelu_backward(g, x, w, backend=backend)
    np.testing.assert_array_equal(gx, tx.grad.numpy())
    assert gw.shape == w.shape and gw.dtype == w.dtype
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_prelu_one_weight_per_element_of_a_1d_input(backend, float_dtype):
    """A 1-D x has its channels on axis 0 (docs/guide/contract.md), where
    PyTorch refuses more than one weight: against the formula instead."""
    x = random_normal(5, float_dtype)
    x[0] = -abs(x[0]) - 1  # both signs whatever the seed
    x[1] = abs(x[1]) + 1
    w = (np.random.default_rng(1).random(5) * 0.5).astype(float_dtype)
    g = random_normal(5, float_dtype, seed=3)
    np.testing.assert_array_equal(fastrelu.prelu(x, w, backend=backend), np.where(x > 0, x, w * x))
    gx, gw = fastrelu.prelu_backward(g, x, w, backend=backend)
    np.testing.assert_array_equal(gx, np.where(x > 0, g, w * g))
    # One element per channel: each weight's gradient is one product, g x
    # where x <= 0 (exact in float64 for float32 inputs), rounded once.
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    assert gw.shape == w.shape and gw.dtype == w.dtype
    np.testing.assert_array_equal(gw, np.where(x64 > 0, 0.0, g64 * x64).astype(float_dtype))


def test_prelu_weight_gradient_by_finite_differences(backend):
    x = random_normal((6, 3, 4), np.float64)
    w = np.array([0.1, 0.2, 0.3])
    g = random_normal((6, 3, 4), np.float64, seed=2)
    _, gw = fastrelu.prelu_backward(g, x, w, backend=backend)
    h = 1e-6
    for c in range(3):
        dw = np.zeros(3)
        dw[c] = h
        numeric = ((fastrelu.prelu(x, w + dw) * g).sum() - (fastrelu.prelu(x, w - dw) * g).sum()) / (2 * h)
        assert abs(gw[c] - numeric) < 1e-6


@pytest.mark.parametrize("shape", [(3, 3), (3, 3, 3), (2, 3, 3, 3)])
def test_prelu_weight_gradient_sums_over_every_axis_but_axis_1(backend, shape):
    """Where other axes are as long as the channel axis, a sum over the
    wrong ones has the right shape but not the right values."""
    x = random_normal(shape, np.float64)
    g = random_normal(shape, np.float64, seed=2)
    w = np.array([0.1, 0.2, 0.3])
    _, gw = fastrelu.prelu_backward(g, x, w, backend=backend)
    share = np.where(x > 0, 0.0, x * g)
    want = [share[:, c].sum() for c in range(3)]
    np.testing.assert_allclose(gw, want, rtol=1e-12, atol=1e-12)


def _prelu_input(shape, dtype):
    """Normal values with every special value mixed in (NaN, infinities, zeros, subnormals)."""
    x = random_normal(shape, dtype).reshape(-1)
    specials = special_values(dtype)
    x[::7][:specials.size] = specials[:x[::7].size]
    return x.reshape(shape)


# (outer, channels, inner) with rows of one, of a few and of many elements;
# the two large ones are cut into pieces for threads in the middle of rows.
@pytest.mark.parametrize("shape,wsize", [((7,), 7), ((7,), 1), ((33, 5), 5), ((4, 3, 20), 3),
                                         ((3, 2, 4, 5), 2), ((65, 4, 3), 1), ((2, 3, 0), 3),
                                         ((3, 5, 7001), 5), ((50001,), 1)])
@pytest.mark.parametrize("backend_name", ["numba", "numba-parallel", "auto"])
def test_prelu_channel_loops_match_the_reference(backend_name, float_dtype, shape, wsize):
    x = _prelu_input(shape, float_dtype)
    g = random_normal(shape, float_dtype, seed=4)
    w = np.linspace(-0.5, 0.75, wsize).astype(float_dtype)
    x_before, g_before = x.copy(), g.copy()
    with np.errstate(all="ignore"):
        want_y = fastrelu.prelu(x, w, backend="numpy")
        want_gx, want_gw = fastrelu.prelu_backward(g, x, w, backend="numpy")
    y = fastrelu.prelu(x, w, backend=backend_name)
    gx, gw = fastrelu.prelu_backward(g, x, w, backend=backend_name)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(g, g_before)
    np.testing.assert_array_equal(y, want_y)
    assert (np.signbit(y) == np.signbit(want_y)).all()
    np.testing.assert_array_equal(gx, want_gx)
    assert gw.shape == w.shape and gw.dtype == w.dtype
    np.testing.assert_allclose(gw, want_gw, rtol=1e-5)  # NaN where NaN; summed in another order


@pytest.mark.parametrize("shape", [(6, 4, 18), (33, 4)])  # walked by row, by batch
@pytest.mark.parametrize("backend_name", ["numba", "numba-parallel"])
def test_prelu_channel_loops_with_out(backend_name, shape):
    x = random_normal(shape, np.float32)
    g = random_normal(shape, np.float32, seed=5)
    w = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    want_y = fastrelu.prelu(x, w, backend="numpy")
    want_gx, want_gw = fastrelu.prelu_backward(g, x, w, backend="numpy")
    in_place = x.copy()
    assert fastrelu.prelu(in_place, w, out=in_place, backend=backend_name) is in_place
    np.testing.assert_array_equal(in_place, want_y)
    for out_is in ("grad", "x"):
        grad, xx = g.copy(), x.copy()
        out = grad if out_is == "grad" else xx
        gx, gw = fastrelu.prelu_backward(grad, xx, w, out=out, backend=backend_name)
        assert gx is out
        np.testing.assert_array_equal(gx, want_gx)
        np.testing.assert_allclose(gw, want_gw, rtol=1e-5)
    # Partly overlapping, strided and float64 outputs go the general path.
    buffer = np.concatenate([x.reshape(-1), np.zeros(1, np.float32)])
    shifted = buffer[1:].reshape(x.shape)
    fastrelu.prelu(buffer[:-1].reshape(x.shape), w, out=shifted, backend=backend_name)
    np.testing.assert_array_equal(shifted, want_y)
    strided = np.empty(shape[:-1] + (2 * shape[-1],), np.float32)[..., ::2]
    fastrelu.prelu(x, w, out=strided, backend=backend_name)
    np.testing.assert_array_equal(strided, want_y)
    with pytest.raises(TypeError):
        fastrelu.prelu(x, w, out=np.empty(x.shape, np.float64), backend=backend_name)
    with pytest.raises(ValueError):
        fastrelu.prelu_backward(g[:3], x, w, backend=backend_name)


def test_prelu_bad_weight():
    with pytest.raises(ValueError, match="channel"):
        fastrelu.prelu(np.ones((2, 3)), np.ones(2))
    with pytest.raises(TypeError):
        fastrelu.prelu(np.ones((2, 3)), np.array(["a"]))


def test_rrelu_eval_is_leaky_with_mean_slope(backend, float_dtype):
    x = random_normal(100, float_dtype)
    np.testing.assert_array_equal(fastrelu.rrelu(x, 0.1, 0.3, backend=backend),
                                  fastrelu.leaky_relu(x, 0.2, backend="numpy"))


def test_rrelu_training_slopes_and_backward(backend, float_dtype):
    x = random_normal(10000, float_dtype)
    y, slopes = fastrelu.rrelu(x, 0.1, 0.3, training=True, rng=np.random.default_rng(0),
                               backend=backend)
    assert slopes.shape == x.shape and slopes.dtype == float_dtype
    assert ((slopes >= float_dtype(0.1)) & (slopes <= float_dtype(0.3))).all()
    np.testing.assert_array_equal(y, np.where(x > 0, x, x * slopes))
    # seeded: the same generator state gives the same slopes
    _, again = fastrelu.rrelu(x, 0.1, 0.3, training=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(slopes, again)
    g = random_normal(x.shape, float_dtype, seed=4)
    dx = fastrelu.rrelu_backward(g, x, 0.1, 0.3, training=True, slopes=slopes, backend=backend)
    np.testing.assert_array_equal(dx, np.where(x > 0, g, g * slopes))
    with pytest.raises(ValueError, match="slopes"):
        fastrelu.rrelu_backward(g, x, training=True)


# --- sigmoid and tanh differentiated from their output -------------------------

FROM_OUTPUT = {"sigmoid": "sigmoid_backward", "tanh": "tanh_backward"}


def from_output(name, g, y, **kw):
    return getattr(fastrelu, name + "_backward_from_output")(g, y, **kw)


def assert_close_to_grad(actual, expected, g, ulps):
    """grad * factor with the factor within ``ulps`` of 1 in absolute terms
    (1 - y * y cancels where y is near 1, unless fused into one rounding)."""
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    finite = np.isfinite(expected)
    a, e = actual[finite].astype(np.float64), expected[finite].astype(np.float64)
    tol = ulps * np.finfo(actual.dtype).eps * np.maximum(np.abs(e), np.abs(g[finite]))
    bad = np.abs(a - e) > tol
    assert not bad.any(), f"{bad.sum()} values off, e.g. {a[bad][:5]} vs {e[bad][:5]}"


@pytest.mark.parametrize("name", sorted(FROM_OUTPUT))
def test_backward_from_output_matches_the_input_form(name, backend, float_dtype):
    x = np.concatenate([special_values(float_dtype), random_normal(2000, float_dtype, scale=4)])
    g = random_normal(x.shape, float_dtype, seed=9)
    y = forward(name, x, backend=backend)
    y_before, g_before = y.copy(), g.copy()
    result = from_output(name, g, y, backend=backend)
    exact = fastrelu.definitions.FROM_OUTPUT[name].reference_backward(
        g.astype(np.float64), y.astype(np.float64)).astype(float_dtype)
    assert_close_to_grad(result, exact, g, 2)
    # The gradient from x: the same up to the rounding of y, which costs the
    # factor its relative accuracy where y is close to +-1 (large |x|).
    with np.errstate(all="ignore"):
        from_input = backward(name, g, x, backend=backend)
    assert_close_to_grad(result, from_input, g, 4)
    assert np.array_equal(y, y_before, equal_nan=True), "y was modified"
    assert np.array_equal(g, g_before, equal_nan=True), "grad was modified"
    # In place over grad, as a training loop calls it.
    np.testing.assert_array_equal(from_output(name, g, y, out=g, backend=backend), result)


@pytest.mark.parametrize("name", sorted(FROM_OUTPUT))
def test_backward_from_output_matches_torch(name, backend, float_dtype):
    torch = torch_or_skip()
    x = random_normal(3000, float_dtype, scale=4)
    g = random_normal(x.shape, float_dtype, seed=10)
    y = forward(name, x, backend=backend)
    torch_backward = getattr(torch.ops.aten, name + "_backward")
    expected = torch_backward(torch.from_numpy(g), torch.from_numpy(y)).numpy()
    assert_close_to_grad(from_output(name, g, y, backend=backend), expected, g, 2)


def test_backward_from_output_errors():
    g = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="tanh_backward_from_output: y has shape"):
        fastrelu.tanh_backward_from_output(g, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="sigmoid_backward_from_output"):
        fastrelu.sigmoid_backward_from_output(g, np.ones(4, np.int32))
    with pytest.raises(ValueError, match="known"):
        fastrelu.sigmoid_backward_from_output(g, g, backend="nope")
    assert fastrelu.sigmoid.backward_from_output is fastrelu.sigmoid_backward_from_output
    y = fastrelu.sigmoid_backward_from_output(g.astype(np.float16), g.astype(np.float16))
    assert y.dtype == np.float16 and not y.any()  # y = 1: the derivative is 0


# elu, celu, selu: from the output, as their in-place forms differentiate.
IN_PLACE_FROM_OUTPUT = {"elu": {"alpha": 0.7}, "celu": {"alpha": 1.3}, "selu": {}}


@pytest.mark.parametrize("name", sorted(IN_PLACE_FROM_OUTPUT))
def test_in_place_gradients_from_the_output(name, backend, float_dtype):
    params = IN_PLACE_FROM_OUTPUT[name]
    x = np.concatenate([special_values(float_dtype), random_normal(2000, float_dtype, scale=4)])
    g = random_normal(x.shape, float_dtype, seed=9)
    with np.errstate(all="ignore"):
        y = getattr(fastrelu, name)(x, backend=backend, **params)
        from_input = getattr(fastrelu, name + "_backward")(g, x, backend=backend, **params)
    result = from_output(name, g, y, backend=backend, **params)
    # The same up to y's rounding, an absolute error of an ulp of grad (or
    # of grad * scale for selu) where y is close to -alpha.
    assert_close_to_grad(result, from_input, g * 1.06, 4)
    exact = fastrelu.definitions.FROM_OUTPUT[name].reference_backward(
        g.astype(np.float64), y.astype(np.float64), *params.values()).astype(float_dtype)
    assert_close_to_grad(result, exact, g, 2)


@pytest.mark.parametrize("name", sorted(IN_PLACE_FROM_OUTPUT))
def test_in_place_gradients_from_the_output_match_torch(name, backend, float_dtype):
    torch = torch_or_skip()
    alpha = IN_PLACE_FROM_OUTPUT[name].get("alpha", fastrelu.definitions.SELU_ALPHA)
    x = random_normal(3000, float_dtype, scale=4)
    g = random_normal(x.shape, float_dtype, seed=10)
    params = IN_PLACE_FROM_OUTPUT[name]
    y = getattr(fastrelu, name)(x, backend=backend, **params)
    scale, input_scale = {"elu": (1.0, 1.0), "celu": (1.0, 1.0 / alpha),
                          "selu": (fastrelu.definitions.SELU_SCALE, 1.0)}[name]
    expected = torch.ops.aten.elu_backward(torch.from_numpy(g), alpha, scale, input_scale, True,
                                           torch.from_numpy(y)).numpy()
    assert_close_to_grad(from_output(name, g, y, backend=backend, **params), expected, g * 1.06, 2)
