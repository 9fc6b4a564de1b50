"""User-defined activations through the decorator, on every backend."""

import math

import numpy as np
import pytest

import fastrelu
from conftest import random_normal


@fastrelu.activation(grad=lambda x: 1.0 if x > 0 else 0.05)
def my_leaky(x):
    return x if x > 0 else 0.05 * x


@fastrelu.activation(grad=lambda x, a, b: a * b * math.exp(b * x) if x <= 0 else 1.0)
def scaled_elu(x, a, b=2.0):
    """ELU with a scale and a rate."""
    return x if x > 0 else a * math.expm1(b * x)


@fastrelu.activation
def no_grad(x):
    return x * x


@fastrelu.activation(grad=lambda x, a, b, c, d, e: a if x > 0 else b * c + d * e)
def five_parameters(x, a, b, c, d, e=0.5):
    """A slope for each side, from five parameters."""
    return a * x if x > 0 else (b * c + d * e) * x


def test_example_from_the_readme(backend, float_dtype):
    arr = random_normal((100, 3), float_dtype)
    y = my_leaky(arr, backend=backend)
    assert y.dtype == float_dtype and y.shape == arr.shape
    # the formula's 0.05 is a Python float: computed in float64, rounded once
    expected = np.where(arr > 0, arr, 0.05 * arr.astype(np.float64)).astype(float_dtype)
    np.testing.assert_array_equal(y, expected)
    grad = random_normal(arr.shape, float_dtype, seed=1)
    dx = my_leaky.backward(grad, arr, backend=backend)
    np.testing.assert_allclose(dx, np.where(arr > 0, grad, grad * 0.05), rtol=1e-6)


def test_parameters_positional_keyword_and_default(backend):
    x = random_normal(50, np.float64)
    expected = np.where(x > 0, x, 0.5 * np.expm1(2.0 * x))
    np.testing.assert_allclose(scaled_elu(x, 0.5, backend=backend), expected, rtol=1e-14)
    np.testing.assert_allclose(scaled_elu(x, a=0.5, b=2.0, backend=backend), expected, rtol=1e-14)
    with pytest.raises(TypeError, match="missing"):
        scaled_elu(x, backend=backend)


def test_gradient_matches_finite_differences(backend):
    x = np.linspace(-3, 3, 601)
    x = x[np.abs(x) > 1e-3]
    h = 1e-6
    numeric = (scaled_elu(x + h, 0.7, 1.5, backend=backend)
               - scaled_elu(x - h, 0.7, 1.5, backend=backend)) / (2 * h)
    analytic = scaled_elu.backward(np.ones_like(x), x, 0.7, 1.5, backend=backend)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)


def test_any_number_of_parameters(backend):
    # The loops, checked entries and chain rule are generated for any count.
    x, g = random_normal(64, np.float64), random_normal(64, np.float64, seed=1)
    slope = 0.3 * 0.2 + 0.1 * 0.5
    np.testing.assert_allclose(five_parameters(x, 2.0, 0.3, 0.2, 0.1, backend=backend),
                               np.where(x > 0, 2 * x, slope * x), rtol=1e-15)
    np.testing.assert_allclose(five_parameters.backward(g, x, 2.0, 0.3, 0.2, 0.1, 0.5,
                                                        backend=backend),
                               np.where(x > 0, 2 * g, slope * g), rtol=1e-15)
    in_place = x.copy()
    five_parameters(in_place, 2.0, 0.3, 0.2, 0.1, out=in_place, backend=backend)
    np.testing.assert_allclose(in_place, np.where(x > 0, 2 * x, slope * x), rtol=1e-15)


def test_same_contract_as_builtins(backend):
    x = np.asfortranarray(random_normal((4, 5), np.float32))
    out = np.empty((5, 4), np.float32).T
    assert my_leaky(x, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0.05 * x.astype(np.float64)).astype(np.float32))
    half = my_leaky(x.astype(np.float16), backend=backend)
    assert half.dtype == np.float16
    with pytest.raises(TypeError, match="int64"):
        my_leaky(np.arange(3), backend=backend)
    assert np.isnan(my_leaky(np.array([np.nan]), backend=backend)).all()


def test_signature_and_doc():
    import inspect

    assert str(inspect.signature(scaled_elu)) == "(x, /, a, b=2.0, *, out=None, backend=None, stream=None)"
    assert "scale" in scaled_elu.__doc__


def test_a_user_activation_is_a_plain_function_that_pickles_by_reference():
    import pickle
    import types

    assert isinstance(my_leaky, types.FunctionType)
    assert isinstance(my_leaky, fastrelu.Activation)
    assert my_leaky.__module__ == __name__ and my_leaky.py_func(2.0) == 2.0
    assert pickle.loads(pickle.dumps(scaled_elu)) is scaled_elu
    assert pickle.loads(pickle.dumps(scaled_elu.backward)) is scaled_elu.backward


def test_backward_without_grad_explains_how_to_add_one(backend):
    with pytest.raises(NotImplementedError, match="grad="):
        no_grad.backward(np.ones(3), np.ones(3), backend=backend)
    np.testing.assert_array_equal(no_grad(np.array([2.0]), backend=backend), [4.0])


def test_uncompilable_function_names_itself_and_the_reason():
    @fastrelu.activation
    def uses_a_dict(x):
        return x.no_such_attribute

    for backend in ["numba", "numba-parallel", "numba-ufunc"]:
        with pytest.raises(fastrelu.CompileError, match="uses_a_dict"):
            uses_a_dict(np.ones(3), backend=backend)


def test_bad_definitions():
    with pytest.raises(TypeError):
        fastrelu.activation(lambda *a: 0)
    with pytest.raises(TypeError):
        fastrelu.activation(3)
