"""fastrelu.jit: the formulas inside users' own Numba code."""

import math

import numba
import numpy as np
import pytest

import fastrelu
from fastrelu import jit as frj


def test_inside_njit_matches_the_public_functions():
    @numba.njit
    def fused(x, b, out):
        for i in range(x.size):
            out[i] = frj.gelu(x[i] + b) + frj.leaky_relu(x[i], 0.1) + frj.softplus_backward(
                1.0, x[i], 1.0, 20.0)

    x = np.linspace(-5, 5, 101)
    out = np.empty_like(x)
    fused(x, 0.5, out)
    expected = (fastrelu.gelu(x + 0.5) + fastrelu.leaky_relu(x, 0.1)
                + fastrelu.softplus_backward(np.ones_like(x), x))
    np.testing.assert_allclose(out, expected, rtol=1e-14)


def test_inside_parallel_njit_and_vectorize():
    @numba.njit(parallel=True)
    def apply(x):
        out = np.empty_like(x)
        for i in numba.prange(x.size):
            out[i] = frj.relu(x[i])
        return out

    @numba.vectorize(["float64(float64)"])
    def silu_u(v):
        return frj.silu(v)

    x = np.array([-2.0, -0.0, 0.0, 1.5, np.nan])
    np.testing.assert_array_equal(apply(x), fastrelu.relu(x))
    np.testing.assert_allclose(silu_u(x), fastrelu.silu(x), rtol=1e-15)


def test_plain_python_and_names():
    assert frj.relu(-3.0) == 0 and frj.relu(2.5) == 2.5
    assert math.isclose(frj.elu(-1.0, 1.0), math.expm1(-1.0))
    for name in [*fastrelu.definitions.BUILTIN, "prelu"]:
        assert name in frj.__all__ and name + "_backward" in frj.__all__


cuda = None  # numba.cuda, bound by the test below: a module global, as the simulator needs


def test_inside_cuda_kernels():
    global cuda
    backend = fastrelu.registry._registry["cuda"]
    if backend.unavailable_reason() is not None:
        pytest.skip(backend.unavailable_reason())
    cuda = fastrelu.cuda.backend.numba_cuda()

    @cuda.jit
    def kernel(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = frj.mish(x[i])

    x = np.linspace(-4, 4, 40)
    d_out = cuda.device_array_like(x)
    kernel[2, 32](cuda.to_device(x), d_out)
    np.testing.assert_allclose(d_out.copy_to_host(), fastrelu.mish(x), rtol=1e-13)
