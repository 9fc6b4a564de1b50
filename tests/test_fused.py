"""bias_relu: relu(x + bias) in one pass, and its gradients."""

import numpy as np
import pytest

import fastrelu
from conftest import random_normal


def reference(x, b):
    y = x + b
    return np.where(y <= 0, x.dtype.type(0), y)


@pytest.mark.parametrize("shape", [(7,), (5, 3), (2, 3, 4), (0, 4), (300, 513)])
def test_bias_relu_matches_reference(backend, float_dtype, shape):
    x = random_normal(shape, float_dtype)
    b = random_normal(shape[-1], float_dtype, seed=1)
    y = fastrelu.bias_relu(x, b, backend=backend)
    assert y.dtype == float_dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, reference(x, b))
    g = random_normal(shape, float_dtype, seed=2)
    gx, gb = fastrelu.bias_relu_backward(g, x, b, backend=backend)
    expected = np.where(x + b <= 0, float_dtype(0), g)
    np.testing.assert_array_equal(gx, expected)
    np.testing.assert_allclose(gb, expected.reshape(-1, shape[-1]).sum(axis=0), rtol=1e-5, atol=1e-5)


def test_special_values_out_and_layouts(backend):
    x = np.array([[np.nan, -0.0, 1.0], [-np.inf, np.inf, -2.0]])
    b = np.array([0.0, 0.0, 1.5])
    out = np.empty((3, 2)).T  # Fortran-ordered out
    fastrelu.bias_relu(x, b, out=out, backend=backend)
    assert np.isnan(out[0, 0]) and not np.signbit(out[0, 1])
    np.testing.assert_array_equal(out[1], [0, np.inf, 0])
    strided = random_normal((6, 8), np.float64)[::2, ::2]
    np.testing.assert_array_equal(fastrelu.bias_relu(strided, np.ones(4), backend=backend),
                                  reference(strided, np.ones(4)))
    fastrelu.bias_relu(x, b, out=x, backend=backend)  # in place
    np.testing.assert_array_equal(x[1], [0, np.inf, 0])


def test_float16(backend):
    x = random_normal((4, 5), np.float16)
    b = random_normal(5, np.float16)
    np.testing.assert_array_equal(fastrelu.bias_relu(x, b, backend=backend), reference(x, b))


def test_errors():
    with pytest.raises(ValueError, match="bias"):
        fastrelu.bias_relu(np.ones((2, 3)), np.ones(2))
    with pytest.raises(TypeError):
        fastrelu.bias_relu(np.ones((2, 3), np.complex64), np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.bias_relu_backward(np.ones((2, 2)), np.ones((2, 3)), np.ones(3))
