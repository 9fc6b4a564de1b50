"""PyTorch autograd functions and modules that run fastrelu's kernels.

    import fastrelu.torch as frt
    y = frt.apply("gelu", x)            # differentiable, like F.gelu(x)
    layer = frt.Activation("leaky_relu", negative_slope=0.1)

CPU tensors go through NumPy without a copy (contiguous or not); CUDA
tensors go to the ``cuda`` backend through ``__cuda_array_interface__``,
without a round trip through the host.  This is the minimal bridge; PReLU's
learnable weight, in-place variants and the 1-bit relu mask are still to come.
"""

import numpy as np
import torch

from . import api


def _host_or_device(t):
    return t if t.is_cuda else t.detach().numpy()


def _tensor(result, like):
    if isinstance(result, torch.Tensor):
        return result
    if like.is_cuda:
        return torch.as_tensor(result, device=like.device)
    return torch.from_numpy(np.asarray(result))


class _Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, name, params, backend):
        fn = _function(name)
        ctx.save_for_backward(x)
        ctx.fn, ctx.params, ctx.backend = fn, params, backend
        return _tensor(fn(_host_or_device(x), *params, backend=backend), x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad = grad.contiguous()
        dx = ctx.fn.backward(_host_or_device(grad), _host_or_device(x), *ctx.params,
                             backend=ctx.backend)
        return _tensor(dx, x), None, None, None


def _function(name):
    """The Activation object behind ``name`` ("gelu_tanh": GELU's tanh form)."""
    special = {"gelu": api._gelu_exact, "gelu_tanh": api._gelu_tanh}
    if name in special:
        return special[name]
    if name in ("prelu", "rrelu") or name not in api.activations():
        raise ValueError(f"fastrelu.torch supports {', '.join(supported())}, not {name!r}")
    return getattr(api, name)


def supported():
    """Activation names :func:`apply` takes ("gelu_tanh" is GELU's tanh form)."""
    return [n for n in api.activations() if n not in ("prelu", "rrelu")] + ["gelu_tanh"]


def apply(name, x, *params, backend=None):
    """``name`` applied to tensor ``x``, differentiable through fastrelu's backward."""
    return _Function.apply(x, name, tuple(float(p) for p in params), backend)


class Activation(torch.nn.Module):
    """Any supported fastrelu activation as an ``nn.Module``: ``Activation("elu", alpha=0.5)``."""

    def __init__(self, name, *, backend=None, **params):
        super().__init__()
        self.name, self.backend = name, backend
        definition = _function(name).definition
        defaults = dict(definition.params)
        unknown = set(params) - set(defaults)
        if unknown:
            raise TypeError(f"{name} has no parameter(s) {', '.join(sorted(unknown))}")
        self.params = tuple(float(params.get(p, d)) for p, d in definition.params)

    def forward(self, x):
        return apply(self.name, x, *self.params, backend=self.backend)

    def extra_repr(self):
        return repr(self.name)
