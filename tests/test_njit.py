"""The public functions inside users' @numba.njit code (fastrelu/_numba_extension.py)."""

import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

import fastrelu
from conftest import random_normal
from test_family import CASES


@pytest.mark.parametrize("name", sorted(set(CASES) - {"gelu_tanh"}))
def test_every_activation_forward_and_backward_inside_njit(name):
    params = CASES[name][0]
    forward, backward = getattr(fastrelu, name), getattr(fastrelu, name + "_backward")

    @numba.njit
    def step(g, x, *params):
        return forward(x, *params), backward(g, x, *params)

    x = random_normal((7, 9), np.float32, scale=4)
    g = random_normal((7, 9), np.float32, seed=2)
    y, dx = step(g, x, *params)
    # The same formula in the same precision as the numba backend's loop.
    np.testing.assert_allclose(y, forward(x, *params, backend="numba"), rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(dx, backward(g, x, *params, backend="numba"), rtol=2e-6, atol=1e-30)
    assert y.dtype == dx.dtype == np.float32


def test_out_keywords_layouts_and_scalars():
    @numba.njit
    def layer(x, out):
        fastrelu.leaky_relu(x, negative_slope=0.2, out=out)
        a = fastrelu.gelu(x, "tanh")
        b = fastrelu.gelu_backward(np.ones_like(x), x, approximate="none")
        return a, b, fastrelu.silu(0.5), fastrelu.softplus(x.T, 2.0)

    x = random_normal((5, 6), np.float64)
    out = np.empty_like(x)
    a, b, s, sp = layer(x, out)
    np.testing.assert_allclose(out, fastrelu.leaky_relu(x, 0.2))
    np.testing.assert_allclose(a, fastrelu.gelu(x, "tanh"))
    np.testing.assert_allclose(b, fastrelu.gelu_backward(np.ones_like(x), x))
    np.testing.assert_allclose(s, fastrelu.silu(np.array(0.5)))
    np.testing.assert_allclose(sp, fastrelu.softplus(x.T, 2.0))  # a Fortran-order view


def test_inside_a_parallel_njit_function():
    @numba.njit(parallel=True)
    def rows(x):
        out = np.empty_like(x)
        for i in numba.prange(x.shape[0]):
            fastrelu.mish(x[i], out=out[i])
        return out

    x = random_normal((64, 100), np.float32)
    np.testing.assert_allclose(rows(x), fastrelu.mish(x), rtol=2e-6)


def test_clear_typing_errors():
    @numba.njit
    def ints(x):
        return fastrelu.relu(x)

    with pytest.raises(TypingError, match="fastrelu.relu in @njit code takes float32 or float64"):
        ints(np.arange(3))

    @numba.njit
    def with_backend(x):
        return fastrelu.relu(x, backend="numba")

    with pytest.raises(TypingError, match="backend= has no meaning"):
        with_backend(np.ones(3))

    @numba.njit
    def unknown_approximation(x):
        return fastrelu.gelu(x, "sigmoid")

    with pytest.raises(TypingError, match="approximate must be the constant"):
        unknown_approximation(np.ones(3))

    @numba.njit
    def wrong_out(x, out):
        return fastrelu.relu(x, out=out)

    with pytest.raises(ValueError, match="out and x differ in shape"):
        wrong_out(np.ones(3), np.ones(4))
