"""The cuda backend: every activation against the NumPy reference, forward and
backward, plus the GPU-array contract.

On CI these run under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set in
conftest when no GPU is present) on small arrays; on a machine with a GPU the
same tests run on the device unchanged.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastrelu
from conftest import random_normal, special_values
from test_family import (CASES, FROM_OUTPUT, assert_close, assert_close_to_grad, backward,
                         forward, from_output, tolerance)

cuda_backend = fastrelu.registry._registry["cuda"]
if cuda_backend.unavailable_reason() is not None:
    pytest.skip(f"cuda backend unavailable: {cuda_backend.unavailable_reason()}",
                allow_module_level=True)

import numba  # noqa: E402
cuda = fastrelu.cuda.backend.numba_cuda()

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
# The simulator runs the formulas as Python on NumPy scalars, which warn on inf/NaN.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    # Several blocks and a grid-stride tail even on small arrays.
    monkeypatch.setattr(fastrelu.cuda.backend, "THREADS_PER_BLOCK", 8 if SIMULATED else 64)
    monkeypatch.setattr(fastrelu.cuda.backend, "BLOCKS_PER_SM", 1 if SIMULATED else 2)
    monkeypatch.setattr(fastrelu.cuda.backend, "VECTOR_THREADS_PER_BLOCK", 8 if SIMULATED else 64)


def _data(dtype, n=40):
    return np.concatenate([special_values(dtype), random_normal(n, dtype, scale=4)])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_activation_matches_the_reference(name, dtype):
    params = CASES[name][0]
    x = _data(dtype)
    g = random_normal(x.shape, dtype, seed=3)
    ulps = tolerance(name, dtype)
    assert_close(forward(name, x, *params, backend="cuda"),
                 forward(name, x, *params, backend="numpy"), dtype, max(ulps, 4))
    assert_close(backward(name, g, x, *params, backend="cuda"),
                 backward(name, g, x, *params, backend="numpy"), dtype, max(ulps, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_keeps_relative_accuracy_in_the_left_tail(dtype):
    """x Phi(x) from erfc, not from 1 + erf, which cancels to 0 below about
    x = -5.5 in float32 and -8.3 in float64 (test_family checks the CPU
    loops; the absolute tolerance of the test above cannot see it).  erfc's
    condition number at -x / sqrt(2) is about x^2: the rounding of its
    argument alone costs up to x^2 / 2 ulps."""
    low = -13 if dtype == np.float32 else -37
    x = np.linspace(low, -1, 97).astype(dtype)
    x64 = x.astype(np.float64)
    exact = x64 * fastrelu.definitions._normal_cdf_ref(x64)
    y = fastrelu.gelu(x, backend="cuda")
    eps = np.finfo(dtype).eps
    assert np.all(y < 0)
    relative = np.abs(y.astype(np.float64) - exact) / np.abs(exact)
    assert np.all(relative <= (x64 * x64 + 16) * eps), (x[relative > (x64 * x64 + 16) * eps])
    # The gradient Phi(x) + x phi(x) cancels by itself in the far tail: absolute check.
    exact_d = (fastrelu.definitions._normal_cdf_ref(x64)
               + x64 * np.exp(-x64 * x64 / 2) / np.sqrt(2 * np.pi))
    d = fastrelu.gelu_backward(np.ones_like(x), x, backend="cuda")
    np.testing.assert_allclose(d, exact_d, rtol=1e-3, atol=16 * eps)


@pytest.mark.parametrize("name", sorted(FROM_OUTPUT))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_from_the_output(name, dtype):
    x = _data(dtype)
    g = random_normal(x.shape, dtype, seed=4)
    y = forward(name, x, backend="numpy")
    assert_close_to_grad(from_output(name, g, y, backend="cuda"),
                         from_output(name, g, y, backend="numpy"), g, 2)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "gelu", "silu"])
def test_float16(name):
    params = CASES[name][0]
    x = random_normal(50, np.float16)
    y = forward(name, x, *params, backend="cuda")
    assert y.dtype == np.float16
    expected = forward(name, x.astype(np.float32), *params, backend="numpy").astype(np.float16)
    np.testing.assert_allclose(y.astype(np.float32), expected.astype(np.float32), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("offset", [0, 1])
def test_vector_loads_with_tails_and_misaligned_starts(dtype, offset, monkeypatch):
    # Aligned contiguous arrays take the kernel with one load per 16 bytes
    # (its last n % lanes elements one by one); a start one element off takes
    # the scalar kernel.  Both must give the reference bit for bit.
    used = []
    vector_kernel = cuda_backend.vector_kernel
    monkeypatch.setattr(cuda_backend, "vector_kernel",
                        lambda *args: used.append(args) or vector_kernel(*args))
    lanes = 16 // np.dtype(dtype).itemsize
    for n in (1, lanes - 1, lanes, 3 * lanes + 1, 37 * lanes + lanes - 1):
        base = np.concatenate([special_values(dtype), random_normal(n + 1, dtype)])[:n + offset]
        grad = random_normal(base.size, dtype, seed=5)
        x, g = cuda.to_device(base)[offset:], cuda.to_device(grad)[offset:]
        used.clear()
        # stream=0 (the default stream) takes the general path, which
        # chooses between the two kernels (the short path takes neither)
        y = fastrelu.relu(x, stream=0)
        dx = fastrelu.relu_backward(g, x, stream=0)
        assert bool(used) == (offset == 0), (n, used)
        want_y = np.where(base[offset:] <= 0, dtype(0), base[offset:])
        want_dx = np.where(base[offset:] <= 0, dtype(0), grad[offset:])
        np.testing.assert_array_equal(y.copy_to_host(), want_y)
        np.testing.assert_array_equal(dx.copy_to_host(), want_dx)
        fastrelu.relu(x, out=x, stream=0)  # in place through the same kernel
        np.testing.assert_array_equal(x.copy_to_host(), want_y)


def test_small_arrays_launch_without_numba_occupancy_warnings():
    if SIMULATED:
        pytest.skip("the simulator does not warn about small grids")
    x = cuda.to_device(random_normal(37, np.float32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # (numba-cuda has its own warning classes)
        y = fastrelu.relu(x)  # the vector kernel
        fastrelu.relu(x[1:])  # the scalar one (misaligned)
        fastrelu.relu_mask(x)
    assert not [w for w in caught if "under-utilization" in str(w.message)]
    np.testing.assert_array_equal(y.copy_to_host(), np.maximum(x.copy_to_host(), 0))


def test_device_arrays_stay_on_the_device():
    x = random_normal(100, np.float32)
    d = cuda.to_device(x)
    y = fastrelu.relu(d)  # auto routes device arrays to cuda
    assert fastrelu.registry.is_device_array(y)
    np.testing.assert_array_equal(y.copy_to_host(), np.where(x <= 0, 0, x))
    dx = fastrelu.relu_backward(cuda.to_device(np.ones_like(x)), d)
    np.testing.assert_array_equal(dx.copy_to_host(), (x > 0).astype(np.float32))


def test_out_on_the_device_and_in_place():
    x = random_normal((10, 7), np.float32)
    d = cuda.to_device(x)
    out = cuda.device_array_like(d)
    assert fastrelu.leaky_relu(d, 0.2, out=out) is out
    np.testing.assert_array_equal(out.copy_to_host(), np.where(x > 0, x, x * np.float32(0.2)))
    assert fastrelu.relu(d, out=d) is d
    np.testing.assert_array_equal(d.copy_to_host(), np.where(x <= 0, 0, x))


def test_non_contiguous_device_arrays():
    base = random_normal((6, 8, 5), np.float64)
    d = cuda.to_device(base)
    for index in [np.s_[:, ::2, 1:], np.s_[::2, 3], np.s_[1, :, ::-1] if not SIMULATED else np.s_[1, :, ::2]]:
        view = d[index]
        y = fastrelu.elu(view, 0.5)
        np.testing.assert_allclose(y.copy_to_host(), fastrelu.elu(base[index], 0.5, backend="numpy"),
                                   rtol=1e-14)


def test_numpy_out_with_cuda_backend():
    x = random_normal(33, np.float32)
    out = np.empty_like(x)
    assert fastrelu.relu(x, out=out, backend="cuda") is out
    np.testing.assert_array_equal(out, np.where(x <= 0, 0, x))


def test_errors_on_the_device():
    d = cuda.to_device(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.relu(d, out=cuda.device_array(5, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu(d, out=cuda.device_array(4, np.float64))
    with pytest.raises(TypeError, match="complex"):
        fastrelu.relu(cuda.to_device(np.ones(4, np.complex64)))
    with pytest.raises(TypeError, match="host"):
        fastrelu.relu(d, backend="numba")


def test_user_defined_activation_on_cuda():
    import math

    @fastrelu.activation(grad=lambda x, a: 1.0 if x > 0 else a * math.exp(x))
    def my_elu(x, a):
        return x if x > 0 else a * math.expm1(x)

    x = random_normal(30, np.float64)
    np.testing.assert_allclose(my_elu(x, 0.3, backend="cuda"), my_elu(x, 0.3, backend="numpy"),
                               rtol=1e-13)
    np.testing.assert_allclose(my_elu.backward(np.ones_like(x), x, 0.3, backend="cuda"),
                               my_elu.backward(np.ones_like(x), x, 0.3, backend="numpy"), rtol=1e-13)


def test_prelu_on_cuda():
    x = random_normal((4, 3, 5), np.float32)
    w = np.array([0.1, 0.2, 0.3], np.float32)
    np.testing.assert_array_equal(fastrelu.prelu(x, w, backend="cuda"),
                                  fastrelu.prelu(x, w, backend="numpy"))


def _torch_cuda_or_skip():
    if SIMULATED:
        pytest.skip("PyTorch CUDA tensors need a real GPU")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    return torch


def test_torch_and_cupy_arrays_in_place_when_present():
    torch = _torch_cuda_or_skip()
    t = torch.randn(1000, device="cuda")
    y = fastrelu.relu(t)
    assert isinstance(y, torch.Tensor) and y.is_cuda
    assert torch.equal(y, torch.relu(t))
    before = t.data_ptr()
    fastrelu.relu(t, out=t)
    assert t.data_ptr() == before and torch.equal(t, y)
    cupy = pytest.importorskip("cupy")
    c = cupy.asarray(random_normal(1000, np.float32))
    yc = fastrelu.leaky_relu(c, 0.1)
    assert isinstance(yc, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(yc), fastrelu.leaky_relu(cupy.asnumpy(c), 0.1))


@pytest.mark.parametrize("shift", [1, 4])  # 4: both ends on a vector boundary
def test_partial_overlap_on_the_device(shift):
    x = random_normal(64, np.float32)
    d = cuda.to_device(x)
    fastrelu.relu(d[:-shift], out=d[shift:])
    expected = x.copy()
    expected[shift:] = np.where(x[:-shift] <= 0, 0, x[:-shift])
    np.testing.assert_array_equal(d.copy_to_host(), expected)
    d = cuda.to_device(x)
    fastrelu.relu(d[shift:], out=d[:-shift])
    expected = x.copy()
    expected[:-shift] = np.where(x[shift:] <= 0, 0, x[shift:])
    np.testing.assert_array_equal(d.copy_to_host(), expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_relu_mask_on_the_device(dtype):
    x = _data(dtype, n=45)  # 69 elements: a partial last mask byte
    grad = random_normal(x.size, dtype, seed=3)
    want_mask = np.packbits(x > 0, bitorder="little")
    want_y = np.where(x <= 0, dtype(0), x)
    want_grad = np.where(x > 0, grad, dtype(0))
    # Host arrays in, host arrays out.
    y, mask = fastrelu.relu_mask(x, backend="cuda")
    assert isinstance(y, np.ndarray) and isinstance(mask, np.ndarray)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(fastrelu.relu_backward_mask(grad, mask, backend="cuda"), want_grad)
    # Device arrays stay on the device, mask included; auto routes them to cuda.
    d_x, d_grad = cuda.to_device(x), cuda.to_device(grad)
    d_y, d_mask = fastrelu.relu_mask(d_x)
    assert hasattr(d_y, "copy_to_host") and hasattr(d_mask, "copy_to_host")
    np.testing.assert_array_equal(d_y.copy_to_host(), want_y)
    np.testing.assert_array_equal(d_mask.copy_to_host(), want_mask)
    d_out = cuda.device_array_like(grad)
    assert fastrelu.relu_backward_mask(d_grad, d_mask, out=d_out) is d_out
    np.testing.assert_array_equal(d_out.copy_to_host(), want_grad)
    # In place on the device.
    fastrelu.relu_mask(d_x, out=d_x)
    np.testing.assert_array_equal(d_x.copy_to_host(), want_y)


def test_relu_mask_strided_device_array_and_errors():
    x = random_normal((6, 10), np.float32)
    d_view = cuda.to_device(x)[:, ::3]  # not contiguous
    y, mask = fastrelu.relu_mask(d_view)
    view = x[:, ::3]
    np.testing.assert_array_equal(y.copy_to_host(), np.where(view <= 0, 0, view))
    np.testing.assert_array_equal(mask.copy_to_host(), np.packbits(view.ravel() > 0, bitorder="little"))
    with pytest.raises(ValueError, match="mask"):
        fastrelu.relu_backward_mask(cuda.to_device(x), cuda.to_device(np.zeros(3, np.uint8)))
    with pytest.raises(TypeError, match="float16, bfloat16, float32 or float64"):
        fastrelu.relu_mask(np.arange(5), backend="cuda")
    with pytest.raises(TypeError, match="host"):
        fastrelu.relu_mask(cuda.to_device(x), backend="numba")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_gated_activations_on_the_device(dtype):
    g, u = random_normal((6, 10), dtype), random_normal((6, 10), dtype, seed=1)
    dy = random_normal((6, 10), dtype, seed=2)
    tolerance = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-13}[dtype]
    for name in ("swiglu", "reglu", "geglu"):
        forward, backward = getattr(fastrelu, name), getattr(fastrelu, name + "_backward")
        want = forward(g, u, backend="numba")
        want_gg, want_gu = backward(dy, g, u, backend="numba")
        dg, du, ddy = (cuda.to_device(a) for a in (g, u, dy))
        y = forward(dg, du)  # auto: device arrays go to cuda
        assert hasattr(y, "copy_to_host")
        np.testing.assert_allclose(y.copy_to_host(), want, rtol=tolerance, atol=tolerance)
        grad_gate, grad_up = backward(ddy, dg, du)
        np.testing.assert_allclose(grad_gate.copy_to_host(), want_gg, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(grad_up.copy_to_host(), want_gu, rtol=tolerance, atol=tolerance)
        # In place over gate and up, and host arrays sent to the GPU.
        backward(ddy, dg, du, out=(dg, du))
        np.testing.assert_allclose(dg.copy_to_host(), want_gg, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(du.copy_to_host(), want_gu, rtol=tolerance, atol=tolerance)
        host = backward(dy, g, u, backend="cuda")
        np.testing.assert_allclose(host[0], want_gg, rtol=tolerance, atol=tolerance)
    x = np.concatenate([u, g], axis=1)
    np.testing.assert_allclose(fastrelu.glu(cuda.to_device(x)).copy_to_host(),
                               fastrelu.glu(x, backend="numba"), rtol=tolerance, atol=tolerance)
    grad_x = fastrelu.glu_backward(dy, x, backend="cuda")
    np.testing.assert_allclose(grad_x, fastrelu.glu_backward(dy, x, backend="numba"),
                               rtol=tolerance, atol=tolerance)


def test_gated_packed_halves_on_the_device():
    x = random_normal((5, 8), np.float32)
    dx = cuda.to_device(x)
    up, gate = dx[:, :4], dx[:, 4:]  # strided device views
    np.testing.assert_allclose(fastrelu.swiglu(gate, up).copy_to_host(),
                               fastrelu.swiglu(x[:, 4:], x[:, :4]), rtol=2e-6)
    dy = cuda.to_device(random_normal((5, 4), np.float32, seed=3))
    fastrelu.swiglu_backward(dy, gate, up, out=(gate, up))
    want = fastrelu.swiglu_backward(dy.copy_to_host(), x[:, 4:], x[:, :4])
    np.testing.assert_allclose(dx.copy_to_host()[:, 4:], want[0], rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(dx.copy_to_host()[:, :4], want[1], rtol=2e-6, atol=1e-7)


# --- bfloat16: int16 bits on the device, widened and rounded in the kernels ---


def _bf16_or_skip():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return np.dtype(ml_dtypes.bfloat16)


def _assert_bf16_close(actual, expected):
    """Within 1 bfloat16 ulp (the kernels' float32 math is CUDA's, not the
    CPU loops'), NaN exactly where NaN."""
    from test_bfloat16 import assert_within_ulps

    assert_within_ulps(actual, expected, ulps=1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bfloat16_every_activation_on_the_device(name):
    bf16 = _bf16_or_skip()
    params = CASES[name][0]
    x = _data(np.float32).astype(bf16)
    g = random_normal(x.shape, np.float32, seed=3).astype(bf16)
    on_host = forward(name, x, *params, backend="cuda")  # host arrays: copied there and back
    assert on_host.dtype == bf16
    _assert_bf16_close(on_host, forward(name, x, *params, backend="numba"))
    device_x, device_g = cuda.to_device(x), cuda.to_device(g)
    on_device = backward(name, device_g, device_x, *params)  # auto: device arrays go to cuda
    assert on_device.dtype == bf16
    _assert_bf16_close(on_device.copy_to_host(), backward(name, g, x, *params, backend="numba"))


def test_bfloat16_operations_on_the_device():
    bf16 = _bf16_or_skip()
    x = random_normal((4, 10), np.float32, scale=2).astype(bf16)
    g = random_normal((4, 10), np.float32, seed=5).astype(bf16)
    device_x = cuda.to_device(x)
    y, mask = fastrelu.relu_mask(device_x)
    np.testing.assert_array_equal(y.copy_to_host().view(np.int16), fastrelu.relu(x).view(np.int16))
    np.testing.assert_array_equal(mask.copy_to_host(), fastrelu.relu_mask(x)[1])
    dx = fastrelu.relu_backward_mask(cuda.to_device(g), mask)
    np.testing.assert_array_equal(dx.copy_to_host().view(np.int16),
                                  fastrelu.relu_backward(g, x).view(np.int16))
    _assert_bf16_close(fastrelu.swiglu(x, g, backend="cuda"), fastrelu.swiglu(x, g))
    on_device = fastrelu.swiglu_backward(g, x, g, backend="cuda")
    for got, want in zip(on_device, fastrelu.swiglu_backward(g, x, g)):
        _assert_bf16_close(got, want)
    weight = np.full(10, 0.25, np.float32).astype(bf16)
    _assert_bf16_close(fastrelu.prelu(x.T.copy(), weight[:4], backend="cuda"),
                       fastrelu.prelu(x.T.copy(), weight[:4]))
    strided = fastrelu.gelu(x[:, ::2], backend="cuda")  # the grid-stride kernel, through views
    _assert_bf16_close(strided, fastrelu.gelu(x[:, ::2]))
    out = cuda.to_device(np.empty_like(x))
    assert fastrelu.silu(device_x, out=out) is out
    _assert_bf16_close(out.copy_to_host(), fastrelu.silu(x))


# --- streams ------------------------------------------------------------------


class _LaunchRecorder:
    """A kernel that records the launch configurations it is given."""

    def __init__(self, kernel, configs):
        self.kernel, self.configs = kernel, configs

    def __getitem__(self, config):
        self.configs.append(config)
        return self.kernel[config]


@pytest.fixture
def launches(monkeypatch):
    """The launch configurations of every kernel the cuda backend starts."""
    configs = []
    original = type(cuda_backend)._cached

    def recording(self, key, maker, *args):
        made = original(self, key, maker, *args)
        if isinstance(made, tuple):  # the mask kernels come as a pair
            return tuple(_LaunchRecorder(k, configs) for k in made)
        return _LaunchRecorder(made, configs)

    monkeypatch.setattr(type(cuda_backend), "_cached", recording)
    return configs


def _every_operation(stream=None, **kw):
    """Each kind of device operation on Numba device arrays, checked."""
    x = random_normal((6, 5), np.float32)
    g, u = random_normal(x.shape, np.float32, seed=1), random_normal(x.shape, np.float32, seed=2)
    dx, dg, du = cuda.to_device(x), cuda.to_device(g), cuda.to_device(u)
    on = {"stream": stream} if stream is not None else {}
    out = cuda.device_array_like(dx)
    fastrelu.relu(dx, out=out, **on)
    np.testing.assert_array_equal(out.copy_to_host(), np.maximum(x, 0))
    np.testing.assert_array_equal(fastrelu.leaky_relu(dx, 0.2, **on).copy_to_host(),
                                  fastrelu.leaky_relu(x, 0.2))
    np.testing.assert_array_equal(fastrelu.relu_backward(dg.T, dx.T, **on).copy_to_host(),
                                  fastrelu.relu_backward(g.T, x.T))  # F order
    np.testing.assert_array_equal(fastrelu.relu(dx[:, ::2], **on).copy_to_host(),
                                  np.maximum(x[:, ::2], 0))  # strided: the 2-D kernel
    y, mask = fastrelu.relu_mask(dx, **on)
    np.testing.assert_array_equal(fastrelu.relu_backward_mask(dg, mask, **on).copy_to_host(),
                                  fastrelu.relu_backward(g, x))
    np.testing.assert_allclose(fastrelu.swiglu(dx, du, **on).copy_to_host(),
                               fastrelu.swiglu(x, u), rtol=1e-6)
    gate, up = fastrelu.swiglu_backward(dg, dx, du, **on)
    np.testing.assert_allclose(gate.copy_to_host(), fastrelu.swiglu_backward(g, x, u)[0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fastrelu.relu(x, backend="cuda", **on), np.maximum(x, 0))
    bias = cuda.to_device(u[0])
    np.testing.assert_array_equal(fastrelu.bias_relu(dx, bias, **on).copy_to_host(),
                                  fastrelu.bias_relu(x, u[0]))
    grad_x, grad_bias = fastrelu.bias_relu_backward(dg, dx, bias, **on)
    np.testing.assert_array_equal(grad_x.copy_to_host(), fastrelu.bias_relu_backward(g, x, u[0])[0])


def test_stream_reaches_every_launch(launches):
    stream = cuda.stream()
    _every_operation(stream)
    assert len(launches) >= 8
    assert all(len(config) == 3 and config[2] is stream for config in launches), launches


def test_use_stream_reaches_every_launch_and_stream_wins(launches):
    outer, inner = cuda.stream(), cuda.stream()
    with fastrelu.use_stream(outer):
        _every_operation()
        count = len(launches)
        assert all(config[2] is outer for config in launches)
        _every_operation(inner)
        assert all(config[2] is inner for config in launches[count:])


def test_without_a_stream_numba_arrays_use_the_default_stream(launches):
    _every_operation()
    assert launches and all(config[2] == 0 for config in launches)


class _FakeCuda:
    """What the backend asks of numba.cuda about streams, recorded."""

    def __init__(self):
        self.syncs = []

    def external_stream(self, handle):
        return type("ExternalStream", (), {"handle": handle, "auto_synchronize": None})()

    def as_cuda_array(self, obj, sync=True):
        self.syncs.append(sync)
        return obj


class _Exported:
    """An array of another framework, as CuPy and PyTorch export theirs
    (and, once seen through Numba, bound to the stream it launches on)."""

    def __init__(self, stream):
        self.__cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (0, False),
                                         "version": 3, "stream": stream}
        self.bound = None

    def bind(self, stream):
        self.bound = stream
        return self


def test_the_default_stream_is_the_one_the_array_comes_from(monkeypatch):
    monkeypatch.setattr(fastrelu.cuda.backend, "_external_streams", {})
    fake = _FakeCuda()
    backend = fastrelu.cuda.backend
    tensor = _Exported(stream=7)  # PyTorch and CuPy export their current stream
    stream = backend._stream(fake, [tensor, None])
    assert stream.handle == 7
    assert backend._stream(fake, [tensor]) is stream  # made once per handle
    backend._to_device(fake, tensor, stream)
    assert fake.syncs == [False]  # launched on its own stream: no host wait
    assert tensor.bound is None
    other = backend._as_stream(fake, 9)
    assert backend._to_device(fake, tensor, other).bound is other  # launched on the call's
    assert fake.syncs == [False, True]  # another stream: Numba waits for the array's
    assert backend._stream(fake, [_Exported(stream=None)]) == 0


def test_stream_takes_numba_torch_cupy_streams_and_handles(monkeypatch):
    monkeypatch.setattr(fastrelu.cuda.backend, "_external_streams", {})
    fake, backend = _FakeCuda(), fastrelu.cuda.backend
    numba_stream = cuda.stream()
    assert backend._as_stream(fake, numba_stream) is numba_stream
    torch_like = type("Stream", (), {"cuda_stream": 11})()
    cupy_like = type("Stream", (), {"ptr": 12})()
    assert backend._as_stream(fake, torch_like).handle == 11
    assert backend._as_stream(fake, cupy_like).handle == 12
    assert backend._as_stream(fake, 13).handle == 13
    assert backend._as_stream(fake, 0) == 0
    with fastrelu.use_stream(torch_like):
        assert backend._stream(fake, [_Exported(stream=7)]).handle == 11  # requested wins
    for wrong in ("0", 1.5, True, object()):
        with pytest.raises(TypeError, match="stream must be"):
            backend._as_stream(fake, wrong)


# --- bias_relu ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (5, 7), (2, 3, 7)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_bias_relu_on_the_device(shape, dtype):
    x = np.concatenate([special_values(dtype), random_normal(200, dtype)])[:np.prod(shape)]
    x = x.reshape(shape)
    bias = random_normal(shape[-1:], dtype, seed=4)
    g = random_normal(shape, dtype, seed=5)
    expected = fastrelu.bias_relu(x, bias, backend="numpy")
    expected_x, expected_bias = fastrelu.bias_relu_backward(g, x, bias, backend="numpy")
    # host arrays, Numba device arrays, a host bias with device x
    np.testing.assert_array_equal(fastrelu.bias_relu(x, bias, backend="cuda"), expected)
    dx, dbias = cuda.to_device(x), cuda.to_device(bias)
    np.testing.assert_array_equal(fastrelu.bias_relu(dx, dbias).copy_to_host(), expected)
    np.testing.assert_array_equal(fastrelu.bias_relu(dx, bias).copy_to_host(), expected)
    grad_x, grad_bias = fastrelu.bias_relu_backward(cuda.to_device(g), dx, dbias)
    np.testing.assert_array_equal(grad_x.copy_to_host(), expected_x)
    # the device sums in float64, the CPU in x's dtype (float32 for float16)
    np.testing.assert_allclose(grad_bias.copy_to_host(), expected_bias,
                               rtol=2e-3 if dtype == np.float16 else 1e-5, atol=1e-6)
    host_x, host_bias = fastrelu.bias_relu_backward(g, x, bias, backend="cuda")
    assert isinstance(host_x, np.ndarray) and isinstance(host_bias, np.ndarray)
    np.testing.assert_array_equal(host_x, expected_x)


def test_bias_relu_layouts_out_and_in_place():
    x = random_normal((6, 8), np.float32)
    bias = random_normal((8,), np.float32, seed=1)
    for view in (lambda a: a, lambda a: a.T, lambda a: a[:, ::2]):
        xv = np.ascontiguousarray(view(x))
        b = bias[:xv.shape[-1]].copy()
        expected = fastrelu.bias_relu(xv, b)
        np.testing.assert_array_equal(
            fastrelu.bias_relu(view(cuda.to_device(x)), cuda.to_device(b)).copy_to_host(), expected)
    dx = cuda.to_device(x)
    out = cuda.device_array_like(dx)
    assert fastrelu.bias_relu(dx, bias, out=out) is out
    host_out = np.empty_like(x)
    assert fastrelu.bias_relu(dx, bias, out=host_out) is host_out
    fastrelu.bias_relu(dx, bias, out=dx)
    expected = fastrelu.bias_relu(x, bias)
    for result in (out.copy_to_host(), host_out, dx.copy_to_host()):
        np.testing.assert_array_equal(result, expected)


def test_bias_relu_bfloat16_on_the_device():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = random_normal((4, 6), np.float32).astype(ml_dtypes.bfloat16)
    bias = random_normal((6,), np.float32, seed=2).astype(ml_dtypes.bfloat16)
    g = random_normal((4, 6), np.float32, seed=3).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(fastrelu.bias_relu(x, bias, backend="cuda"),
                                  fastrelu.bias_relu(x, bias))
    grad_x, grad_bias = fastrelu.bias_relu_backward(g, x, bias, backend="cuda")
    expected_x, expected_bias = fastrelu.bias_relu_backward(g, x, bias)
    np.testing.assert_array_equal(grad_x, expected_x)
    np.testing.assert_allclose(grad_bias.astype(np.float32), expected_bias.astype(np.float32),
                               rtol=1e-2)


def test_bias_relu_on_the_device_refuses_bad_input():
    dx = cuda.to_device(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="one value per column"):
        fastrelu.bias_relu(dx, cuda.to_device(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="one value per column"):
        fastrelu.bias_relu(cuda.to_device(np.zeros((), np.float32)), np.zeros(1, np.float32))
    with pytest.raises(TypeError, match="bias is float64 but x is float32"):
        fastrelu.bias_relu(dx, cuda.to_device(np.zeros(4, np.float64)))
    with pytest.raises(TypeError):
        fastrelu.bias_relu(cuda.to_device(np.zeros((3, 4), np.int32)), np.zeros(4, np.int32))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.bias_relu_backward(cuda.to_device(np.zeros((3, 5), np.float32)), dx,
                                    np.zeros(4, np.float32))


# --- PReLU on device arrays: a slope per channel --------------------------------


@pytest.mark.parametrize("shape", [(6,), (5, 3), (2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("per_channel", [True, False])
def test_prelu_on_device_arrays(shape, dtype, per_channel):
    x = random_normal(shape, dtype)
    channels = shape[1] if len(shape) >= 2 else shape[0]
    weight = (np.linspace(0.05, 0.5, channels) if per_channel else np.array([0.25])).astype(dtype)
    g = random_normal(shape, dtype, seed=6)
    dx, dg = cuda.to_device(x), cuda.to_device(g)
    y = fastrelu.prelu(dx, weight)
    assert not isinstance(y, np.ndarray)
    np.testing.assert_array_equal(y.copy_to_host(), fastrelu.prelu(x, weight))
    grad_x, grad_weight = fastrelu.prelu_backward(dg, dx, weight)
    expected_x, expected_weight = fastrelu.prelu_backward(g, x, weight)
    np.testing.assert_array_equal(grad_x.copy_to_host(), expected_x)
    assert grad_weight.shape == weight.shape and grad_weight.dtype == weight.dtype
    # both sum in float64; the device adds the float32 products of 16-bit values
    np.testing.assert_allclose(grad_weight, expected_weight,
                               rtol=1e-3 if dtype == np.float16 else 1e-6)
    out = cuda.device_array_like(dx)
    assert fastrelu.prelu(dx, weight, out=out) is out
    fastrelu.prelu(dx, weight, out=dx)  # in place
    np.testing.assert_array_equal(dx.copy_to_host(), out.copy_to_host())


def test_prelu_on_device_arrays_bfloat16_and_strided():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = random_normal((4, 3, 2), np.float32)
    weight = np.array([0.1, 0.2, 0.3], np.float32)
    view = cuda.to_device(x)[:, :, ::2]  # strided: copied to a contiguous array first
    np.testing.assert_array_equal(fastrelu.prelu(view, weight).copy_to_host(),
                                  fastrelu.prelu(np.ascontiguousarray(x[:, :, ::2]), weight))
    xb, wb = x.astype(ml_dtypes.bfloat16), weight.astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(fastrelu.prelu(xb, wb, backend="cuda"), fastrelu.prelu(xb, wb))
    gb = random_normal(x.shape, np.float32, seed=2).astype(ml_dtypes.bfloat16)
    grad_x, grad_weight = fastrelu.prelu_backward(gb, xb, wb, backend="cuda")
    expected_x, expected_weight = fastrelu.prelu_backward(gb, xb, wb)
    np.testing.assert_array_equal(grad_x, expected_x)
    np.testing.assert_allclose(grad_weight.astype(np.float32),
                               expected_weight.astype(np.float32), rtol=1e-2)


def test_prelu_on_device_arrays_refuses_bad_weights():
    dx = cuda.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="weight must hold 1 or 3"):
        fastrelu.prelu(dx, np.ones(2, np.float32))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.prelu_backward(cuda.to_device(np.zeros((3, 3), np.float32)), dx,
                                np.ones(3, np.float32))



def test_a_torch_side_stream_orders_fastrelus_work():
    torch = _torch_cuda_or_skip()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        x = torch.randn(1 << 24, device="cuda")
        for _ in range(50):  # queued on the side stream, still running at the call
            x = x * 1.0001 - 0.0001
        y = fastrelu.relu(x)  # launches on the side stream: after the loop
        expected = torch.relu(x)
        z = torch.empty_like(x)
    fastrelu.relu(x, out=z, stream=side)  # outside the block: stream= says where
    side.synchronize()
    assert torch.equal(y, expected) and torch.equal(z, expected)


def test_calls_are_captured_in_a_torch_cuda_graph():
    torch = _torch_cuda_or_skip()
    x = torch.randn(4096, device="cuda")
    y = torch.empty_like(x)
    fastrelu.silu(x, out=y)  # compiled before the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fastrelu.silu(x, out=y)
    x.copy_(torch.randn(4096, device="cuda"))
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(y, torch.nn.functional.silu(x))


def test_torch_modules_with_weights_randomness_or_gates_take_cuda_tensors():
    torch = _torch_cuda_or_skip()
    import fastrelu.torch as frt

    def same_as_torch(ours, theirs, *shapes):
        inputs = [torch.randn(*s, device="cuda", dtype=torch.float64, requires_grad=True)
                  for s in shapes]
        y_ours, y_theirs = ours(*inputs), theirs(*inputs)
        assert y_ours.is_cuda
        torch.testing.assert_close(y_ours, y_theirs)
        grad = torch.randn_like(y_ours)
        got = torch.autograd.grad(y_ours, inputs, grad)
        want = torch.autograd.grad(y_theirs, inputs, grad)
        for g, w in zip(got, want):
            assert g.is_cuda
            torch.testing.assert_close(g, w)

    prelu = frt.PReLU(3, device="cuda", dtype=torch.float64)
    same_as_torch(prelu, lambda x: torch.nn.functional.prelu(x, prelu.weight), (4, 3, 5))
    weight_grad = torch.autograd.grad(prelu(torch.randn(4, 3, 5, device="cuda",
                                                        dtype=torch.float64)).sum(), prelu.weight)
    assert weight_grad[0].is_cuda and weight_grad[0].shape == (3,)
    same_as_torch(frt.GLU(), torch.nn.GLU(), (6, 8))
    same_as_torch(lambda g, u: frt.swiglu(g, u),
                  lambda g, u: torch.nn.functional.silu(g) * u, (6, 8), (6, 8))
    rrelu = frt.RReLU(seed=1).eval()
    same_as_torch(rrelu, torch.nn.RReLU().eval(), (100,))
    y = frt.RReLU(seed=1).train()(torch.randn(1000, device="cuda"))
    assert y.is_cuda
    assert frt.functional.rrelu(torch.randn(10, device="cuda"), training=True).is_cuda
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.PReLU(3)).cuda()
    frt.replace_activations(model)
    assert isinstance(model[1], frt.PReLU) and model[1].weight.is_cuda

# --- the short path of Numba device arrays ----------------------------------------


@pytest.fixture
def short_path_taken(monkeypatch):
    """Whether each call the short path was asked to take, in order (True:
    taken), whether it came from an activation or a gated forward."""
    taken = []
    original = type(cuda_backend).short_call

    def spy(self, *args):
        result = original(self, *args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(type(cuda_backend), "short_call", spy)
    fastrelu.dispatch._device_short_calls.clear()  # found again: the spy
    yield taken
    fastrelu.dispatch._device_short_calls.clear()


def test_numba_arrays_take_the_short_path_with_the_general_paths_results(short_path_taken):
    taken = short_path_taken
    for shape in [(17,), (5, 7), (), (2, 3, 4)]:  # 0-d and 3-D: the 1-D kernel on flat views
        for dtype in (np.float16, np.float32, np.float64):
            x = _data(dtype, 40)[:int(np.prod(shape))].reshape(shape)
            g = random_normal(shape, dtype, seed=1)
            dx, dg = cuda.to_device(x), cuda.to_device(g)
            # stream=0 (the same default stream) takes the general path
            np.testing.assert_array_equal(fastrelu.silu(dx).copy_to_host(),
                                          fastrelu.silu(dx, stream=0).copy_to_host())
            np.testing.assert_array_equal(fastrelu.leaky_relu(dx, 0.3).copy_to_host(),
                                          fastrelu.leaky_relu(dx, 0.3, stream=0).copy_to_host())
            out = cuda.device_array_like(dx)
            assert fastrelu.gelu_backward(dg, dx, out=out) is out
            np.testing.assert_array_equal(
                out.copy_to_host(), fastrelu.gelu_backward(dg, dx, stream=0).copy_to_host())
            fastrelu.relu(dx, out=dx)  # in place
            np.testing.assert_array_equal(dx.copy_to_host(), np.maximum(x, 0))
    assert taken == [True] * 48  # stream=0 goes the general way without asking


def test_gated_forwards_on_numba_arrays_take_the_short_path(short_path_taken):
    taken = short_path_taken
    for dtype in (np.float16, np.float32, np.float64):
        g, u = random_normal((5, 6, 7), dtype), random_normal((5, 6, 7), dtype, seed=1)
        dg, du = cuda.to_device(g), cuda.to_device(u)
        for name in ("swiglu", "reglu", "geglu"):
            forward = getattr(fastrelu, name)
            out = cuda.device_array_like(dg)
            assert forward(dg, du, out=out) is out
            # stream=0 (the same default stream) takes the general path
            np.testing.assert_array_equal(out.copy_to_host(),
                                          forward(dg, du, stream=0).copy_to_host())
        x = np.concatenate([u, g], axis=-1)  # glu's halves are views apart: the general path
        np.testing.assert_array_equal(fastrelu.glu(cuda.to_device(x)).copy_to_host(),
                                      fastrelu.glu(cuda.to_device(x), stream=0).copy_to_host())
    assert taken.count(True) == 9 and taken.count(False) == 3  # glu; stream=0 is not asked


def test_bfloat16_tensors_are_refused_by_name():
    # PyTorch's bfloat16 CUDA tensors have no array interface; a stand-in
    # whose dtype prints as theirs.
    torch_bfloat16 = type("dtype", (), {"__str__": lambda self: "torch.bfloat16"})()
    tensor = type("Tensor", (), {"dtype": torch_bfloat16})()
    with pytest.raises(NotImplementedError, match="relu: .* bfloat16 CUDA tensors"):
        fastrelu.cuda.backend._refuse_bfloat16_tensors("relu", tensor)
    fastrelu.cuda.backend._refuse_bfloat16_tensors("relu", cuda.to_device(np.ones(2, np.float32)))


def test_flat_views_of_numba_arrays_start_where_the_arrays_start():
    # Numba's own device arrays (the simulator has others), over stand-in
    # memory: no driver needed, so in a process without the simulator.
    code = """
import ctypes, numpy as np
from numba.cuda.cudadrv import devicearray
from fastrelu.cuda.backend import _flat_view
memory = type("Memory", (), {"device_ctypes_pointer": ctypes.c_void_p(4096 + 48)})()
view = devicearray.DeviceNDArray((1, 3, 4), (48, 16, 4), np.float32, gpu_data=memory)
flat = _flat_view(view, 12)
print(type(flat).__name__, flat.shape, flat.strides, flat.device_ctypes_pointer.value)
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split("\n")[0] == "DeviceNDArray (12,) (4,) 4144", result.stderr


def test_the_short_path_declines_what_the_general_path_must_handle(short_path_taken):
    x = random_normal(24, np.float32)
    dx = cuda.to_device(x)
    calls = [
        lambda: fastrelu.relu(dx[:-1], out=dx[1:]),  # partly overlapping: staged
        lambda: fastrelu.relu(dx.reshape(4, 6).T),  # not C-contiguous
        lambda: fastrelu.relu(dx, stream=cuda.stream()),  # a stream of its own
        lambda: fastrelu.relu_backward(dx, cuda.to_device(x.astype(np.float64))),  # mixed
        lambda: fastrelu.relu(cuda.to_device(np.arange(4, dtype=np.int32))),  # refused there
    ]
    for call in calls:
        short_path_taken.clear()
        try:
            call()
        except TypeError:
            pass  # mixed dtypes, integers: the general path explains
        assert short_path_taken in ([False], []), call  # declined, or not asked (a stream)
    # the staged overlap is right
    expected = np.maximum(x[:-1], 0)
    dx = cuda.to_device(x)
    fastrelu.relu(dx[:-1], out=dx[1:])
    np.testing.assert_array_equal(dx.copy_to_host()[1:], expected)


def test_the_short_path_keeps_a_named_host_backend_and_auto(monkeypatch):
    dx = cuda.to_device(np.ones(4, np.float32))
    fastrelu.relu(dx)
    with pytest.raises(TypeError, match="takes host"):
        fastrelu.relu(dx, backend="numba")
    with fastrelu.use_backend("numba"):
        with pytest.raises(TypeError, match="takes host"):
            fastrelu.relu(dx)
    with fastrelu.use_backend("auto"):
        assert fastrelu.relu(dx).copy_to_host().tolist() == [1.0] * 4


def test_rrelu_on_device_arrays():
    x = random_normal((4, 5), np.float32)
    dx = cuda.to_device(x)
    np.testing.assert_array_equal(fastrelu.rrelu(dx).copy_to_host(), fastrelu.rrelu(x))
    y, slopes = fastrelu.rrelu(dx, training=True, rng=np.random.default_rng(3))
    assert not isinstance(slopes, np.ndarray)  # beside x, on the device
    host_y, host_slopes = fastrelu.rrelu(x, training=True, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(slopes.copy_to_host(), host_slopes)
    np.testing.assert_array_equal(y.copy_to_host(), host_y)
    g = random_normal(x.shape, np.float32, seed=1)
    np.testing.assert_array_equal(
        fastrelu.rrelu_backward(cuda.to_device(g), dx, training=True, slopes=slopes).copy_to_host(),
        fastrelu.rrelu_backward(g, x, training=True, slopes=host_slopes))


@pytest.mark.parametrize("weight_shape", [(), (1,), (3,)])
def test_prelu_with_the_weight_on_the_device(weight_shape):
    x = random_normal((4, 3, 5), np.float32)
    g = random_normal(x.shape, np.float32, seed=1)
    weight = np.linspace(0.1, 0.3, int(np.prod(weight_shape))).astype(np.float32)
    weight = weight.reshape(weight_shape)
    dx, dg, dw = cuda.to_device(x), cuda.to_device(g), cuda.to_device(weight)
    np.testing.assert_array_equal(fastrelu.prelu(dx, dw).copy_to_host(), fastrelu.prelu(x, weight))
    grad_x, grad_weight = fastrelu.prelu_backward(dg, dx, dw)
    expected_x, expected_weight = fastrelu.prelu_backward(g, x, weight)
    np.testing.assert_array_equal(grad_x.copy_to_host(), expected_x)
    assert not isinstance(grad_weight, np.ndarray) and grad_weight.shape == weight.shape
    np.testing.assert_allclose(grad_weight.copy_to_host(), expected_weight, rtol=1e-6)
    with pytest.raises(TypeError, match="weight is float64 but x is float32"):
        fastrelu.prelu(dx, cuda.to_device(weight.astype(np.float64)))
    with pytest.raises(TypeError, match="takes host"):
        fastrelu.prelu(x, dw)  # a host x goes to a CPU backend, which takes no GPU weight
