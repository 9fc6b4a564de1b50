"""The path a PyTorch module's call takes: parameters checked once, no
autograd node where nothing needs a gradient, the functional names on the
package."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastrelu  # noqa: E402
import fastrelu.torch as frt  # noqa: E402


def test_functional_is_an_attribute_of_the_package():
    # The package docstring's own example: import fastrelu.torch as frt; frt.functional.gelu(x)
    x = torch.randn(16, dtype=torch.float64)
    torch.testing.assert_close(frt.functional.gelu(x), torch.nn.functional.gelu(x))


@pytest.mark.parametrize("module, reference", [
    (frt.ReLU(), torch.nn.ReLU()), (frt.GELU(), torch.nn.GELU()),
    (frt.GELU("tanh"), torch.nn.GELU("tanh")), (frt.SiLU(), torch.nn.SiLU()),
    (frt.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (frt.Softplus(2.0, 10.0), torch.nn.Softplus(2.0, 10.0)),
])
def test_without_grad_no_autograd_node_and_the_same_values(module, reference):
    x = torch.randn(8, 33, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        y = module(x)
    assert y.grad_fn is None and not y.requires_grad
    torch.testing.assert_close(y, reference(x.detach()))
    # A tensor that does not require grad: no node either, grad mode or not.
    plain = x.detach()
    y = module(plain)
    assert y.grad_fn is None
    torch.testing.assert_close(y, reference(plain))
    # And with a gradient wanted, the node is there and the gradient right.
    y = module(x)
    assert y.grad_fn is not None
    g = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, g)
    (expected,) = torch.autograd.grad(reference(x), x, g)
    torch.testing.assert_close(dx, expected)


def test_inplace_without_grad_changes_the_tensor_and_its_version():
    x = torch.randn(100)
    expected = torch.relu(x)
    version = x._version
    with torch.no_grad():
        y = frt.ReLU(inplace=True)(x)
    assert y is x
    torch.testing.assert_close(x, expected)
    assert x._version > version


def test_inplace_without_grad_on_a_tensor_another_node_saved_is_caught():
    # PyTorch's own rule: changing in place what a graph saved fails at backward.
    w = torch.randn(10, requires_grad=True)
    x = torch.randn(10)
    y = (w * x).sum()  # saves x for w's gradient
    frt.ReLU(inplace=True)(x)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_parameters_are_checked_once_per_distinct_call(monkeypatch):
    checks = []
    original = fastrelu.api.checked_params

    def counting(activation, args):
        checks.append(args)
        return original(activation, args)

    monkeypatch.setattr(fastrelu.api, "checked_params", counting)
    module = frt.LeakyReLU(0.125)  # the drop-in checks its parameters when made
    checks.clear()
    x = torch.randn(10, requires_grad=True)
    for _ in range(5):
        module(x).sum().backward()
        with torch.no_grad():
            module(x)
    assert len(checks) <= 1
    # A module whose parameter changes after it was made gets the new value.
    module.negative_slope = 0.5
    torch.testing.assert_close(module(-torch.ones(3)), -0.5 * torch.ones(3))


def test_bad_parameters_are_refused_on_every_call():
    with pytest.raises(TypeError, match="real number"):
        frt.apply("leaky_relu", torch.randn(3), "0.1")
    with pytest.raises(TypeError, match="real number"):  # not remembered as checked
        frt.apply("leaky_relu", torch.randn(3), "0.1")
    with pytest.raises(TypeError, match="real number"):  # unhashable: checked all the same
        frt.apply("leaky_relu", torch.randn(3), [0.1])
    with pytest.raises(ValueError, match="no in-place form"):
        frt.apply("gelu", torch.randn(3), inplace=True)
    with pytest.raises(ValueError, match="supports"):
        frt.apply("no_such_activation", torch.randn(3))


def test_bfloat16_and_integer_like_inputs_without_grad():
    pytest.importorskip("ml_dtypes")
    x = torch.randn(64).to(torch.bfloat16)
    with torch.no_grad():
        y = frt.GELU()(x)
    assert y.dtype == torch.bfloat16
    np.testing.assert_allclose(y.float().numpy(), torch.nn.functional.gelu(x).float().numpy(),
                               rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dim, shape", [(-1, (3, 4, 10)), (0, (8, 5)), (1, (2, 6, 3))])
def test_packed_gated_gradient_written_into_one_tensor(dim, shape):
    packed = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    F = torch.nn.functional
    assert torch.autograd.gradcheck(lambda x: frt.swiglu(x, dim=dim), (packed,))
    up, gate = packed.chunk(2, dim)
    expected = F.gelu(gate) * up
    torch.testing.assert_close(frt.geglu(packed, dim=dim), expected)
    g = torch.randn_like(expected)
    (want,) = torch.autograd.grad(expected, packed, g)
    (got,) = torch.autograd.grad(frt.GEGLU(dim=dim)(packed), packed, g)
    torch.testing.assert_close(got, want)
    assert got.is_contiguous()
    with torch.no_grad():
        y = frt.SwiGLU(dim=dim)(packed)
    assert y.grad_fn is None
    torch.testing.assert_close(y, F.silu(gate) * up)


def test_auto_hands_relu_and_leaky_relu_to_pytorchs_identical_kernels():
    x = torch.randn(50, dtype=torch.float64, requires_grad=True)
    # auto: PyTorch's own op and autograd node (the same values and gradients).
    y = frt.ReLU()(x)
    assert type(y.grad_fn).__name__.startswith("Relu")
    assert type(frt.LeakyReLU(0.2)(x).grad_fn).__name__.startswith("LeakyRelu")
    assert type(frt.ReLU(backend="auto")(x).grad_fn).__name__.startswith("Relu")
    # A backend asked for, by the call or a block, runs fastrelu's kernels.
    assert type(frt.ReLU(backend="numba")(x).grad_fn).__name__ == "_FunctionBackward"
    with fastrelu.use_backend("numba-parallel"):
        z = frt.ReLU()(x)
    assert type(z.grad_fn).__name__ == "_FunctionBackward"
    torch.testing.assert_close(y, z)
    # Smooth activations keep fastrelu's kernels under auto (PyTorch's lose digits).
    assert type(frt.GELU()(x).grad_fn).__name__ == "_FunctionBackward"
