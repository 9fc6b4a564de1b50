"""bfloat16 (ml_dtypes.bfloat16 arrays): every activation and operation on
every CPU backend, computed in float32 and rounded once, against a float64
reference, PyTorch's bfloat16 kernels and fastrelu's own float32 results."""

import subprocess
import sys

import numba
import numpy as np
import pytest

import fastrelu
from fastrelu import _compiler, definitions
from fastrelu.cpu.backends import _make_loop
from conftest import CPU_BACKENDS, SPECIAL, random_normal, torch_or_skip
from test_family import (CASES, SMOOTH_AT_INFINITY, TORCH_OVERFLOWS, backward, forward,
                         reference)

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F32 = np.float32


def bf16(values):
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(values, np.float64).astype(F32).astype(BF16)


def inputs(seed=0):
    """The special values (as bfloat16 holds them) and random ones."""
    return np.concatenate([bf16(SPECIAL), bf16(random_normal(3000, np.float64, seed=seed, scale=4))])


def ulps_apart(a, b):
    """Distance in bfloat16 ulps between NaN-free bfloat16 arrays (-0 == +0)."""
    def ordered(v):
        bits = v.view(np.int16).astype(np.int32)
        return np.where(bits < 0, -(bits & 0x7FFF), bits)
    return np.abs(ordered(a) - ordered(b))


def assert_within_ulps(actual, expected, ulps=1):
    """bfloat16 results within ``ulps`` of ``expected``; NaN exactly where NaN."""
    assert actual.dtype == BF16 and expected.dtype == BF16 and actual.shape == expected.shape
    nan = np.isnan(expected.astype(F32))
    np.testing.assert_array_equal(np.isnan(actual.astype(F32)), nan)
    apart = ulps_apart(actual[~nan], expected[~nan])
    worst = apart.max(initial=0)
    assert worst <= ulps, (f"{(apart > ulps).sum()} values more than {ulps} ulp off, e.g. "
                           f"{actual[~nan][apart > ulps][:4]} vs {expected[~nan][apart > ulps][:4]}")


def assert_close_to_reference(actual, expected):
    """Within 1 bfloat16 ulp of the rounded float64 reference, or where the
    float32 formula itself is less accurate than that (tails that cancel,
    results far below 1), within the float32 loops' own tolerance
    (test_family: 16 float32 ulps of max(|value|, 1))."""
    nan = np.isnan(expected.astype(F32))
    np.testing.assert_array_equal(np.isnan(actual.astype(F32)), nan)
    a, e = actual[~nan], expected[~nan]
    near = ulps_apart(a, e) <= 1
    with np.errstate(invalid="ignore"):
        error = np.abs(a.astype(np.float64) - e.astype(np.float64))
    within_float32 = error <= 16 * np.finfo(F32).eps * np.maximum(np.abs(e.astype(np.float64)), 1)
    bad = ~(near | within_float32)
    assert not bad.any(), f"{bad.sum()} values off, e.g. {a[bad][:4]} vs {e[bad][:4]}"


def assert_matches_or_beats(actual, theirs, reference):
    """Within 1 ulp of PyTorch's bfloat16 result, or closer to the float64
    reference than PyTorch's (it loses accuracy where it computes from the
    rounded output, sigmoid's and tanh's backward, and in gelu's left tail)."""
    nan = np.isnan(theirs.astype(F32)) | np.isnan(reference.astype(F32))
    np.testing.assert_array_equal(np.isnan(actual.astype(F32))[~nan], False)
    a, t, r = actual[~nan], theirs[~nan], reference[~nan]
    bad = ~((ulps_apart(a, t) <= 1) | (ulps_apart(a, r) <= ulps_apart(t, r)))
    assert not bad.any(), (f"{bad.sum()} values neither within 1 ulp of PyTorch nor closer to the "
                           f"reference: {a[bad][:4]} vs PyTorch {t[bad][:4]}, reference {r[bad][:4]}")


def in_float64(name, direction, *arrays):
    """The NumPy reference in float64 on the bfloat16 values, rounded to bfloat16."""
    params = CASES[name][0]
    with np.errstate(all="ignore"):
        return bf16(reference(name, direction)(*(a.astype(np.float64) for a in arrays), *params))


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_the_float64_reference(name, backend):
    params = CASES[name][0]
    x = inputs()
    g = bf16(random_normal(x.size, np.float64, seed=1))
    y = forward(name, x, *params, backend=backend)
    assert y.dtype == BF16
    assert_close_to_reference(y, in_float64(name, "forward", x))
    assert_close_to_reference(backward(name, g, x, *params, backend=backend),
                              in_float64(name, "backward", g, x))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_is_the_float32_result_rounded_once(name, backend):
    """The loops compute what the float32 loops compute and round it to the
    nearest bfloat16: bit for bit the float32 result rounded by ml_dtypes,
    signed zeros and infinities included (NaN: as NaN)."""
    params = CASES[name][0]
    x = inputs()
    expected = forward(name, x.astype(F32), *params, backend=backend).astype(BF16)
    y = forward(name, x, *params, backend=backend)
    nan = np.isnan(expected.astype(F32))
    np.testing.assert_array_equal(np.isnan(y.astype(F32)), nan)
    np.testing.assert_array_equal(y.view(np.int16)[~nan], expected.view(np.int16)[~nan])


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_bfloat16(name, backend):
    torch = torch_or_skip()
    params, torch_fn, _ = CASES[name]
    x = inputs()
    x32 = x.astype(F32)
    if name in SMOOTH_AT_INFINITY:
        x = x[np.isfinite(x32)]  # PyTorch gives NaN at +-inf there; we give the limit
    if name in TORCH_OVERFLOWS:  # x * 6 and x ** 3 overflow float32 from there
        x = x[~(np.abs(x.astype(F32)) >= 1e37)]
    g = bf16(random_normal(x.size, np.float64, seed=2))
    t = torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16).requires_grad_(True)
    y = torch_fn(torch.nn.functional, t, *params)
    y.backward(torch.from_numpy(g.view(np.int16).copy()).view(torch.bfloat16))
    as_bf16 = lambda tensor: tensor.detach().view(torch.int16).numpy().view(BF16)  # noqa: E731
    assert_matches_or_beats(forward(name, x, *params, backend=backend), as_bf16(y),
                            in_float64(name, "forward", x))
    assert_matches_or_beats(backward(name, g, x, *params, backend=backend), as_bf16(t.grad),
                            in_float64(name, "backward", g, x))


def test_rounding_is_to_nearest_even():
    """float32 -> bfloat16 as ml_dtypes and PyTorch round: ties to even,
    overflow to infinity, NaN kept (sign too), never rounded into infinity."""
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    bits[:1000] = (bits[:1000] & 0xFFFF0000) | 0x8000  # exact ties
    bits[1000:1010] = [0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                       0x7F800001, 0xFFFFFFFF, 0x00008000, 0x80018000]
    values = bits.view(F32)
    # A loop of the identity on float32 values whose results round to bfloat16.
    loop = numba.njit(_make_loop(_compiler.jitable(definitions.same), definitions.same,
                                 definitions.float32_to_bfloat16, 1, False))
    out = np.empty(values.size, np.int16)
    loop(values, out)
    expected = values.astype(BF16)
    nan = np.isnan(values)
    np.testing.assert_array_equal(out[~nan], expected.view(np.int16)[~nan])
    result = out.view(BF16).astype(F32)
    assert np.isnan(result[nan]).all()
    np.testing.assert_array_equal(np.signbit(result[nan]), np.signbit(values[nan]))
    # The same in Python (the CUDA simulator runs it so).
    for b in bits[995:1010]:
        value = np.array(b, np.uint32).view(F32)[()]
        got = np.array(definitions.float32_to_bfloat16(value), np.int16).view(BF16).astype(F32)
        want = np.array(value).astype(BF16).astype(F32)
        assert (np.isnan(got) and np.isnan(want)) or got.view(np.uint32) == want.view(np.uint32)


def test_out_layouts_and_in_place(backend):
    x = bf16(random_normal((6, 10), np.float64, scale=3))
    expected = fastrelu.silu(x, backend="numpy")
    out = np.empty_like(x)
    assert fastrelu.silu(x, out=out, backend=backend) is out
    np.testing.assert_array_equal(out.view(np.int16), expected.view(np.int16))
    np.testing.assert_array_equal(fastrelu.silu(np.asfortranarray(x), backend=backend).view(np.int16),
                                  expected.view(np.int16))
    strided = fastrelu.silu(x[:, ::2], backend=backend)
    np.testing.assert_array_equal(strided.view(np.int16), expected[:, ::2].view(np.int16))
    y = x.copy()
    fastrelu.relu(y, out=y, backend=backend)
    np.testing.assert_array_equal(y.view(np.int16), fastrelu.relu(x, backend="numpy").view(np.int16))
    np.testing.assert_array_equal(x.view(np.int16), bf16(random_normal((6, 10), np.float64,
                                                                       scale=3)).view(np.int16))


def test_parameters_and_large_arrays_take_the_short_path():
    x = bf16(random_normal(300_000, np.float64, seed=3))  # past the parallel threshold
    for backend in ("auto", "numba", "numba-parallel"):
        np.testing.assert_array_equal(fastrelu.elu(x, 0.5, backend=backend).view(np.int16),
                                      fastrelu.elu(x.astype(F32), 0.5).astype(BF16).view(np.int16))
        np.testing.assert_array_equal(fastrelu.gelu(x, backend=backend).view(np.int16),
                                      fastrelu.gelu(x.astype(F32)).astype(BF16).view(np.int16))


def close_to_float32(actual, expected32, ulps=1):
    assert_within_ulps(actual, expected32.astype(BF16), ulps)


@pytest.mark.parametrize("backend", ["numpy", "numba", "numba-parallel", "numba-ufunc"])
def test_every_operation(backend):
    x = bf16(random_normal((8, 16), np.float64, scale=2))
    g = bf16(random_normal((8, 16), np.float64, seed=5))
    bias = bf16(random_normal(16, np.float64, seed=6))
    weight = bf16([0.25] * 16)
    x32, g32, b32, w32 = (a.astype(F32) for a in (x, g, bias, weight))
    if backend != "numba-ufunc":
        y, mask = fastrelu.relu_mask(x, backend=backend)
        np.testing.assert_array_equal(y.view(np.int16), fastrelu.relu(x).view(np.int16))
        np.testing.assert_array_equal(mask, fastrelu.relu_mask(x32)[1])
        dx = fastrelu.relu_backward_mask(g, mask, backend=backend)
        np.testing.assert_array_equal(dx.view(np.int16), fastrelu.relu_backward(g, x).view(np.int16))
    close_to_float32(fastrelu.bias_relu(x, bias, backend=backend), fastrelu.bias_relu(x32, b32))
    for got, want in zip(fastrelu.bias_relu_backward(g, x, bias, backend=backend),
                         fastrelu.bias_relu_backward(g32, x32, b32)):
        close_to_float32(got, want)
    close_to_float32(fastrelu.prelu(x, weight, backend=backend), fastrelu.prelu(x32, w32))
    for got, want in zip(fastrelu.prelu_backward(g, x, weight, backend=backend),
                         fastrelu.prelu_backward(g32, x32, w32)):
        close_to_float32(got, np.asarray(want, F32))
    for name in ("glu", "reglu", "geglu", "swiglu"):
        if name == "glu":
            close_to_float32(fastrelu.glu(x, backend=backend), fastrelu.glu(x32))
            continue
        function = getattr(fastrelu, name)
        close_to_float32(function(x, g, backend=backend), function(x32, g32))
        for got, want in zip(getattr(fastrelu, name + "_backward")(g, x, g, backend=backend),
                             getattr(fastrelu, name + "_backward")(g32, x32, g32)):
            close_to_float32(got, want)
    y, slopes = fastrelu.rrelu(x, training=True, rng=np.random.default_rng(0), backend=backend)
    assert y.dtype == slopes.dtype == BF16
    close_to_float32(y, np.where(x32 > 0, x32, x32 * slopes.astype(F32)))
    close_to_float32(fastrelu.sigmoid_backward_from_output(g, x, backend=backend),
                     fastrelu.sigmoid_backward_from_output(g32, x32))


def test_clear_errors():
    x = bf16([1.0, -1.0])
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu_backward(x, x.astype(F32))
    with pytest.raises(TypeError, match="out has dtype"):
        fastrelu.relu(x, out=np.empty(2, F32))
    with pytest.raises(TypeError, match="bfloat16"):
        fastrelu.relu(np.array([1 + 1j]))


def test_import_does_not_load_ml_dtypes():
    code = "import sys, fastrelu; print('ml_dtypes' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_dask_arrays_of_bfloat16():
    da = pytest.importorskip("dask.array")
    x = bf16(random_normal((40, 30), np.float64, seed=9))
    lazy = fastrelu.gelu(da.from_array(x, chunks=(10, 15)))
    assert lazy.dtype == BF16
    np.testing.assert_array_equal(lazy.compute().view(np.int16), fastrelu.gelu(x).view(np.int16))
