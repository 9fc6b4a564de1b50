"""Gated activations: reglu, geglu, swiglu, glu, forward and backward."""

import numpy as np
import pytest

import fastrelu
from conftest import CPU_BACKENDS, random_normal, special_values, stated_limits, torch_or_skip
from fastrelu.definitions import GATED

HALF_AND_FLOATS = [np.float16, np.float32, np.float64]
# name -> (forward, backward, GATED key, PyTorch's activation of the gate)
CASES = {
    "reglu": (fastrelu.reglu, fastrelu.reglu_backward, "reglu", "relu"),
    "geglu": (fastrelu.geglu, fastrelu.geglu_backward, "geglu", "gelu"),
    "geglu_tanh": (lambda g, u, **k: fastrelu.geglu(g, u, "tanh", **k),
                   lambda d, g, u, **k: fastrelu.geglu_backward(d, g, u, "tanh", **k),
                   "geglu_tanh", "gelu_tanh"),
    "swiglu": (fastrelu.swiglu, fastrelu.swiglu_backward, "swiglu", "silu"),
}


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


def exact(name, dy, g, u):
    """float64 values of forward and both gradients, rounded once to the dtype."""
    definition = GATED[name]
    as64 = [a.astype(np.float64) for a in (dy, g, u)]
    y = definition.reference(as64[1], as64[2])
    grad_gate, grad_up = definition.reference_backward(*as64)
    return [a.astype(g.dtype) for a in (y, grad_gate, grad_up)]


def assert_close(actual, expected, scale, ulps):
    """Within ``ulps`` of the dtype's eps times max(|expected|, |scale|):
    the product's rounding is relative to the factor it multiplies."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite & ~np.isnan(expected)],
                                  expected[~finite & ~np.isnan(expected)])
    a, e = actual[finite].astype(np.float64), expected[finite].astype(np.float64)
    tol = ulps * np.finfo(actual.dtype).eps * np.maximum(np.abs(e), np.abs(scale[finite]))
    bad = np.abs(a - e) > tol
    assert not bad.any(), f"{bad.sum()} values off, e.g. {a[bad][:4]} vs {e[bad][:4]}"


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_backward_match_the_exact_values(name, backend, dtype):
    """Against float64 values (float64 itself: the test after this one)."""
    forward, backward = CASES[name][:2]
    g = np.concatenate([special_values(dtype), random_normal(500, dtype)])
    u = random_normal(g.shape, dtype, seed=1)
    dy = random_normal(g.shape, dtype, seed=2)
    u[:4] = [np.inf, -np.inf, np.nan, 0.0]
    y_exact, gg_exact, gu_exact = exact(name, dy, g, u)
    with np.errstate(all="ignore"):
        y = forward(g, u, backend=backend)
        grad_gate, grad_up = backward(dy, g, u, backend=backend)
        # float16 rounds f(g) once in float32 then the product once; the
        # reference rounds once: a few ulps of the larger factor.
        ulps = 4
        assert_close(y, y_exact, np.abs(u), ulps)
        assert_close(grad_gate, gg_exact, np.abs(dy * u), ulps)
        assert_close(grad_up, gu_exact, np.abs(dy), ulps)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_matches_the_true_values(name, backend):
    """float64 forward and both gradients against mpmath: the gate's true
    f(g) and dy f'(g) (perf/accuracy.py, 160 bits) times u, exactly, then
    rounded.  Allowed: twice the worst error docs/accuracy.md states for
    the gate's activation on the backend, plus an ulp for the product."""
    import mpmath

    accuracy, normal_limits, subnormal_limits = stated_limits()
    activation = CASES[name][3]
    forward, backward = CASES[name][:2]
    special = special_values(np.float64)
    g = np.concatenate([special[np.isfinite(special)], random_normal(300, np.float64)])
    u, dy = random_normal(g.shape, np.float64, seed=1), random_normal(g.shape, np.float64, seed=2)
    f_hi, f_lo, df_hi, df_lo = accuracy.true_values(activation, g, dy)  # f(g), dy f'(g)
    with mpmath.workprec(accuracy.PRECISION_BITS):
        def times(hi, lo, factor):  # (hi + lo) * factor as float64 hi + lo
            exact = [(mpmath.mpf(a) + mpmath.mpf(b)) * mpmath.mpf(f)
                     for a, b, f in zip(hi.tolist(), lo.tolist(), factor.tolist())]
            rounded = np.array([float(v) for v in exact])
            return rounded, np.array([float(v - r) for v, r in zip(exact, rounded.tolist())])

        y_true, gate_true, up_true = times(f_hi, f_lo, u), times(df_hi, df_lo, u), times(f_hi, f_lo, dy)
    y = forward(g, u, backend=backend)
    grad_gate, grad_up = backward(dy, g, u, backend=backend)
    group = accuracy.group(backend)
    floor = None
    if activation in accuracy.DERIVATIVE_ZEROS:  # the cancellation near f'(z) = 0
        near = np.abs(g - accuracy.DERIVATIVE_ZEROS[activation]) <= accuracy.NEAR_ZERO
        floor = np.where(near, np.abs(dy * u) / 4, 0.0)
    for label, actual, (hi, lo), direction, unit_floor in (
            ("forward", y, y_true, "forward", None),
            ("grad_gate", grad_gate, gate_true, "backward", floor),
            ("grad_up", grad_up, up_true, "forward", None)):
        assert actual.dtype == np.float64 and actual.shape == g.shape
        error = accuracy.ulp_error(actual, hi, lo, np.float64, unit_floor)
        normal, subnormal = accuracy.split_subnormal(error, hi, np.float64)
        key = (activation, direction, "float64", group)
        for part, limit in ((normal, normal_limits[key]), (subnormal, subnormal_limits[key])):
            worst = int(np.argmax(part))
            assert part[worst] <= 2 * limit + 1, (
                f"{name} {label} on {backend}: {part[worst]:.3g} ulps at g = {g[worst]!r}, "
                f"u = {u[worst]!r}, dy = {dy[worst]!r} (stated for {activation}: {limit})")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_loops_compose_the_activations_own_formulas_exactly(name, backend, dtype):
    """Bit for bit what the gate's activation gives on the same backend,
    times up; and its backward at grad * up."""
    activation = {"relu": fastrelu.relu, "gelu": fastrelu.gelu, "silu": fastrelu.silu,
                  "gelu_tanh": lambda x, **k: fastrelu.gelu(x, "tanh", **k)}[CASES[name][3]]
    backward = {"gelu_tanh": lambda d, x, **k: fastrelu.gelu_backward(d, x, "tanh", **k)}.get(
        CASES[name][3], getattr(fastrelu, CASES[name][3] + "_backward", None))
    g = np.concatenate([special_values(dtype), random_normal(300, dtype)])
    u, dy = random_normal(g.shape, dtype, seed=1), random_normal(g.shape, dtype, seed=2)
    forward_gated, backward_gated = CASES[name][:2]
    with np.errstate(all="ignore"):
        f = activation(g, backend=backend)
        np.testing.assert_array_equal(forward_gated(g, u, backend=backend), f * u)
        grad_gate, grad_up = backward_gated(dy, g, u, backend=backend)
        np.testing.assert_array_equal(grad_gate, backward(dy * u, g, backend=backend))
        np.testing.assert_array_equal(grad_up, dy * f)


@pytest.mark.parametrize("dtype", HALF_AND_FLOATS, ids=lambda t: np.dtype(t).name)
def test_reglu_is_exactly_relu_times_up(backend, dtype):
    g, u = random_normal((7, 9), dtype), random_normal((7, 9), dtype, seed=3)
    dy = random_normal((7, 9), dtype, seed=4)
    relu = np.where(g <= 0, dtype(0), g)
    np.testing.assert_array_equal(fastrelu.reglu(g, u, backend=backend), relu * u)
    grad_gate, grad_up = fastrelu.reglu_backward(dy, g, u, backend=backend)
    np.testing.assert_array_equal(grad_gate, np.where(g > 0, dy * u, dtype(0)))
    np.testing.assert_array_equal(grad_up, dy * relu)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorchs_composition(name, backend, dtype):
    torch = torch_or_skip()
    F = torch.nn.functional
    activation = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu,
                  "gelu_tanh": lambda t: F.gelu(t, approximate="tanh")}[CASES[name][3]]
    g, u = random_normal(2000, dtype), random_normal(2000, dtype, seed=1)
    dy = random_normal(2000, dtype, seed=2)
    tg, tu = (torch.from_numpy(a.copy()).requires_grad_() for a in (g, u))
    ty = activation(tg) * tu
    ty.backward(torch.from_numpy(dy))
    forward, backward = CASES[name][:2]
    # PyTorch's own float32 GELU cancels in the left tail (1 + erf): the
    # family's allowance for comparisons with PyTorch, absolute near 0.
    ulps = 16 if dtype == np.float32 else 64
    one = np.ones_like(g)
    assert_close(forward(g, u, backend=backend), ty.detach().numpy(), np.maximum(np.abs(u), one), ulps)
    grad_gate, grad_up = backward(dy, g, u, backend=backend)
    assert_close(grad_gate, tg.grad.numpy(), np.maximum(np.abs(dy * u), one), ulps)
    assert_close(grad_up, tu.grad.numpy(), np.maximum(np.abs(dy), one), ulps)


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_glu_matches_pytorch(backend, dim):
    torch = torch_or_skip()
    x = random_normal((6, 8, 4), np.float64)
    out_shape = list(x.shape)
    out_shape[dim] //= 2
    dy = random_normal(out_shape, np.float64, seed=5)
    t = torch.from_numpy(x.copy()).requires_grad_()
    ty = torch.nn.functional.glu(t, dim)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(fastrelu.glu(x, dim, backend=backend), ty.detach().numpy(),
                               rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(fastrelu.glu_backward(dy, x, dim, backend=backend),
                               t.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_gradients_against_finite_differences():
    rng = np.random.default_rng(0)
    g, u = rng.uniform(-3, 3, 50), rng.uniform(-3, 3, 50)
    g = g[np.abs(g) > 1e-3]  # away from relu's kink
    u = u[:g.size]
    dy = np.ones_like(g)
    h = 1e-6
    for name, (forward, backward, *_) in CASES.items():
        grad_gate, grad_up = backward(dy, g, u)
        np.testing.assert_allclose(grad_gate, (forward(g + h, u) - forward(g - h, u)) / (2 * h),
                                   rtol=1e-6, atol=1e-8, err_msg=name)
        np.testing.assert_allclose(grad_up, (forward(g, u + h) - forward(g, u - h)) / (2 * h),
                                   rtol=1e-6, atol=1e-8, err_msg=name)


def test_the_halves_of_one_packed_array_need_no_copy(backend):
    x = random_normal((16, 24), np.float32)
    up, gate = x[:, :12], x[:, 12:]
    assert fastrelu._arrays.rows(gate) is not None and fastrelu._arrays.rows(up) is not None
    from fastrelu.cpu import gated_loops

    # Each row's loop over contiguous spans, as fast as a flat loop (the
    # rows of a 2-D view ran one element at a time, 5x slower).
    assert gated_loops._spans((gate, up, np.empty_like(gate))) is not None
    expected = fastrelu.swiglu(gate.copy(), up.copy(), backend=backend)
    np.testing.assert_array_equal(fastrelu.swiglu(gate, up, backend=backend), expected)
    dy = random_normal((16, 12), np.float32, seed=6)
    want = fastrelu.swiglu_backward(dy, gate.copy(), up.copy(), backend=backend)
    # In place over the halves: the gradient of the packed projection, one pass.
    grads = np.empty_like(x)
    result = fastrelu.swiglu_backward(dy, gate, up, out=(grads[:, 12:], grads[:, :12]),
                                      backend=backend)
    np.testing.assert_array_equal(result[0], want[0])
    np.testing.assert_array_equal(grads[:, :12], want[1])
    packed = x.copy()
    fastrelu.swiglu_backward(dy, packed[:, 12:], packed[:, :12],
                             out=(packed[:, 12:], packed[:, :12]), backend=backend)
    np.testing.assert_array_equal(packed, grads)


def _rows_apart(a, upwards=False):
    """``a``'s values in a view whose rows are contiguous and apart in memory
    (as the halves of a packed array), from the last row up if ``upwards``."""
    wide = np.zeros((a.shape[0], a.shape[1] + 5), a.dtype)
    view = wide[::-1, 2:2 + a.shape[1]][::-1] if not upwards else wide[::-1, 2:2 + a.shape[1]]
    view[...] = a
    return view


def test_layouts_and_in_place(backend):
    """Any layout, and gradients written over the inputs, give bit for bit
    what C-contiguous arrays give on the same backend."""
    g = random_normal((5, 7), np.float64)
    u = random_normal((5, 7), np.float64, seed=1)
    dy = random_normal((5, 7), np.float64, seed=2)
    want = fastrelu.geglu(g, u, backend=backend)
    want_gg, want_gu = fastrelu.geglu_backward(dy, g, u, backend=backend)
    for layout in (np.asfortranarray, lambda a: a[::-1, ::-1].copy()[::-1, ::-1],
                   lambda a: np.repeat(a, 2, axis=1)[:, ::2],
                   lambda a: _rows_apart(a, upwards=True), _rows_apart):
        gl, ul, dl = layout(g), layout(u), layout(dy)
        np.testing.assert_array_equal(fastrelu.geglu(gl, ul, backend=backend), want)
        out = layout(np.zeros_like(g))
        assert fastrelu.geglu(gl, ul, out=out, backend=backend) is out
        np.testing.assert_array_equal(out, want)
        gg, gu = fastrelu.geglu_backward(dl, gl, ul, backend=backend)
        np.testing.assert_array_equal(gg, want_gg)
        np.testing.assert_array_equal(gu, want_gu)
    gate, up = g.copy(), u.copy()
    result = fastrelu.geglu_backward(dy, gate, up, out=(gate, up), backend=backend)
    assert result[0] is gate and result[1] is up
    np.testing.assert_array_equal(gate, want_gg)
    np.testing.assert_array_equal(up, want_gu)
    x = np.concatenate([u, g], axis=1)  # glu: up first, then gate
    glu_want = fastrelu.glu_backward(dy, x, backend=backend)
    assert fastrelu.glu_backward(dy, x, out=x, backend=backend) is x
    np.testing.assert_array_equal(x, glu_want)


def test_inputs_are_not_modified_and_empty_arrays(backend):
    g, u = random_normal((3, 4), np.float32), random_normal((3, 4), np.float32, seed=1)
    g0, u0 = g.copy(), u.copy()
    fastrelu.swiglu(g, u, backend=backend)
    fastrelu.swiglu_backward(g, g, u, backend=backend)
    np.testing.assert_array_equal(g, g0)
    np.testing.assert_array_equal(u, u0)
    empty = np.empty((0, 4), np.float32)
    assert fastrelu.swiglu(empty, empty, backend=backend).shape == (0, 4)
    assert fastrelu.glu(np.empty((0, 4)), backend=backend).shape == (0, 2)


def test_clear_errors():
    g = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="swiglu: up has shape"):
        fastrelu.swiglu(g, np.ones(4, np.float32))  # no broadcasting
    with pytest.raises(TypeError, match="swiglu: up has dtype float64"):
        fastrelu.swiglu(g, np.ones((3, 4)))
    with pytest.raises(TypeError, match="integer"):
        fastrelu.reglu(np.ones(3, np.int32), np.ones(3, np.int32))
    with pytest.raises(ValueError, match="approximate"):
        fastrelu.geglu(g, g, "fast")
    with pytest.raises(ValueError, match="dimension -1 has size 5"):
        fastrelu.glu(np.ones((2, 5)))
    with pytest.raises(ValueError, match="0-d"):
        fastrelu.glu(np.float32(1))
    with pytest.raises(ValueError, match="out of range"):
        fastrelu.glu(np.ones((2, 4)), dim=2)
    with pytest.raises(TypeError, match="out must be a pair"):
        fastrelu.swiglu_backward(g, g, g, out=np.empty_like(g))
    with pytest.raises(ValueError, match="must not share memory"):
        buffer = np.empty_like(g)
        fastrelu.swiglu_backward(g, g, g, out=(buffer, buffer))


def test_every_gated_definition_pickles_by_name():
    import pickle

    for definition in GATED.values():
        assert pickle.loads(pickle.dumps(definition)) is definition


def test_make_gated_fuses_a_users_activation(backend):
    @fastrelu.activation(grad=lambda x: 2.0 * x if x > 0 else 0.0)
    def squared_relu(x):
        return x * x if x > 0 else 0.0

    squared_relu_glu = fastrelu.make_gated(squared_relu)
    g = random_normal((9, 7), np.float64)
    u, dy = random_normal((9, 7), np.float64, seed=1), random_normal((9, 7), np.float64, seed=2)
    relu_g = np.where(g > 0, g, 0.0)
    np.testing.assert_allclose(squared_relu_glu(g, u, backend=backend), relu_g ** 2 * u, rtol=1e-15)
    grad_gate, grad_up = squared_relu_glu.backward(dy, g, u, backend=backend)
    np.testing.assert_allclose(grad_gate, dy * u * 2 * relu_g, rtol=1e-15)
    np.testing.assert_allclose(grad_up, dy * relu_g ** 2, rtol=1e-15)
    # A built-in works too, and equals the built-in gated form.
    silu_glu = fastrelu.make_gated(fastrelu.silu)
    np.testing.assert_array_equal(silu_glu(g, u, backend=backend),
                                  fastrelu.swiglu(g, u, backend=backend))


def test_make_gated_refuses_what_it_cannot_take():
    with pytest.raises(TypeError, match="has parameters \\(negative_slope\\)"):
        fastrelu.make_gated(fastrelu.leaky_relu)
    with pytest.raises(TypeError, match="takes a fastrelu activation"):
        fastrelu.make_gated(np.tanh)
