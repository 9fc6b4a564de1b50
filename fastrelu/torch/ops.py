"""fastrelu's operations as PyTorch custom operators (``torch.ops.fastrelu.*``).

Registered with ``torch.library``, each with a fake implementation (the
result's shape and dtype, for tracing) and its autograd formula, so that
``torch.compile(model, fullgraph=True)`` and ``torch.export`` trace models
that use them as single operators, without graph breaks, where the
``autograd.Function`` bridge would break the graph at its NumPy calls.
The modules use these whenever they are traced; eager calls keep the
bridge's shorter path.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import api
from .. import gated as _gated
from ._bridge import (_FROM_OUTPUT, _function, _gated_options, _host_or_device,
                      _keeps_output, _tensor)


# --- the elementwise activations -------------------------------------------------


@torch.library.custom_op("fastrelu::activation", mutates_args=())
def activation(x: torch.Tensor, name: str, params: list[float], backend: str | None) -> torch.Tensor:
    """``name`` (an activation of ``fastrelu.torch.supported()``) of ``x``."""
    return _tensor(_function(name)(_host_or_device(x), *params, backend=backend), x)


@activation.register_fake
def _(x, name, params, backend):
    return torch.empty_like(x)


@torch.library.custom_op("fastrelu::activation_backward", mutates_args=())
def activation_backward(grad: torch.Tensor, saved: torch.Tensor, name: str, params: list[float],
                        backend: str | None, from_output: bool) -> torch.Tensor:
    """The gradient of :func:`activation`, from its input or (``from_output``) its output."""
    grad = grad.contiguous()
    if from_output:
        from_output_gradient: Any = _FROM_OUTPUT[name]
        return from_output_gradient(grad, saved, *params)
    return _tensor(_function(name).backward(_host_or_device(grad), _host_or_device(saved), *params,
                                            backend=backend), saved)


@activation_backward.register_fake
def _(grad, saved, name, params, backend, from_output):
    return torch.empty_like(saved)


def _activation_setup(ctx, inputs, output):
    x, name, params, backend = inputs
    ctx.name, ctx.params, ctx.backend = name, params, backend
    ctx.from_output = _keeps_output(name, x)
    ctx.save_for_backward(output if ctx.from_output else x)


def _activation_gradient(ctx, grad):
    (saved,) = ctx.saved_tensors
    dx = activation_backward(grad, saved, ctx.name, ctx.params, ctx.backend, ctx.from_output)
    return dx, None, None, None


torch.library.register_autograd("fastrelu::activation", _activation_gradient,
                                setup_context=_activation_setup)


# --- the gated activations ---------------------------------------------------------


@torch.library.custom_op("fastrelu::gated", mutates_args=())
def gated(gate: torch.Tensor, up: torch.Tensor, name: str, approximate: str,
          backend: str | None) -> torch.Tensor:
    """``act(gate) * up`` for ``name`` in reglu, geglu, swiglu."""
    forward = getattr(_gated, name)
    options = _gated_options(name, approximate)
    return _tensor(forward(_host_or_device(gate), _host_or_device(up), **options, backend=backend), gate)


@gated.register_fake
def _(gate, up, name, approximate, backend):
    return torch.empty_like(gate)


@torch.library.custom_op("fastrelu::gated_backward", mutates_args=())
def gated_backward(grad: torch.Tensor, gate: torch.Tensor, up: torch.Tensor, name: str,
                   approximate: str, backend: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Both gradients of :func:`gated`."""
    backward = getattr(_gated, name + "_backward")
    grad_gate, grad_up = backward(_host_or_device(grad.contiguous()), _host_or_device(gate),
                                  _host_or_device(up), **_gated_options(name, approximate), backend=backend)
    return _tensor(grad_gate, gate), _tensor(grad_up, up)


@gated_backward.register_fake
def _(grad, gate, up, name, approximate, backend):
    return torch.empty_like(gate), torch.empty_like(up)


def _gated_setup(ctx, inputs, output):
    gate, up, name, approximate, backend = inputs
    ctx.name, ctx.approximate, ctx.backend = name, approximate, backend
    ctx.save_for_backward(gate, up)


def _gated_gradient(ctx, grad):
    gate, up = ctx.saved_tensors
    grad_gate, grad_up = gated_backward(grad, gate, up, ctx.name, ctx.approximate, ctx.backend)
    return grad_gate, grad_up, None, None, None


torch.library.register_autograd("fastrelu::gated", _gated_gradient, setup_context=_gated_setup)


# --- PReLU ---------------------------------------------------------------------------


@torch.library.custom_op("fastrelu::prelu", mutates_args=())
def prelu(x: torch.Tensor, weight: torch.Tensor, backend: str | None) -> torch.Tensor:
    """PReLU of ``x`` with one weight or one per channel."""
    return _tensor(api.prelu(_host_or_device(x), _host_or_device(weight), backend=backend), x)


@prelu.register_fake
def _(x, weight, backend):
    return torch.empty_like(x)


@torch.library.custom_op("fastrelu::prelu_backward", mutates_args=())
def prelu_backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                   backend: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight)`` of :func:`prelu`; the weight's gradient, a
    float64 sum on every backend, in the weight's dtype as the fake says."""
    grad_x, grad_weight = api.prelu_backward(_host_or_device(grad.contiguous()), _host_or_device(x),
                                             _host_or_device(weight), backend=backend)
    return _tensor(grad_x, x), _tensor(grad_weight, weight).to(weight.dtype)


@prelu_backward.register_fake
def _(grad, x, weight, backend):
    return torch.empty_like(x), torch.empty_like(weight)


def _prelu_setup(ctx, inputs, output):
    x, weight, backend = inputs
    ctx.backend = backend
    ctx.save_for_backward(x, weight)


def _prelu_gradient(ctx, grad):
    x, weight = ctx.saved_tensors
    grad_x, grad_weight = prelu_backward(grad, x, weight, ctx.backend)
    return grad_x, grad_weight, None


torch.library.register_autograd("fastrelu::prelu", _prelu_gradient, setup_context=_prelu_setup)
