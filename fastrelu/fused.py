"""Fused kernels: ``bias_relu(x, bias) = relu(x + bias)`` in one pass.

The bias broadcasts over the last axis of ``x`` (the layout after a dense
layer, ``x @ W``).  One read of ``x`` and one write of the result, instead of
NumPy's ``np.maximum(x + b, 0)`` which writes and reads a temporary.
"""

from __future__ import annotations

import numpy as np

from . import _dtypes, _validate, dispatch
from ._types import Array, BackendName
from .definitions import BUILTIN


def _prepare(name, operation, arrays, labels, bias, backend, out=None):
    """The backend, the checked arrays (C-contiguous) and the bias (1-D, x's dtype)."""
    dispatch.refuse_chunked(name, *arrays, bias)
    arrays = _validate.as_arrays(arrays)
    chosen = dispatch.backend_for(operation, backend, arrays[-1], name, *arrays[:-1], bias, out)
    _validate.check_inputs(name, BUILTIN["leaky_relu"], "forward", arrays, labels)  # floats only
    x = arrays[-1]
    bias = np.ascontiguousarray(bias, dtype=x.dtype)
    if x.ndim == 0 or bias.shape != (x.shape[-1],):
        raise ValueError(f"{name}: bias must have shape ({x.shape[-1] if x.ndim else '...'},), "
                         f"one value per column of x (last axis), got {bias.shape}")
    return chosen, arrays, bias


def bias_relu(x: Array, bias: Array, *, out: Array = None, backend: BackendName = None) -> Array:
    """``relu(x + bias)``, with ``bias`` broadcast over the last axis, in one pass."""
    chosen, (x,), bias = _prepare("bias_relu", "bias_relu", (x,), ("x",), bias, backend, out)
    if out is None:
        out = np.empty(x.shape, x.dtype)
    else:
        _validate.check_out("bias_relu", out, x)
    if x.size:
        dispatch.run_into(out, [x], lambda source, target: chosen.bias_relu(source, bias, target))
    return out


def bias_relu_backward(grad: Array, x: Array, bias: Array, *,
                       backend: BackendName = None) -> tuple[Array, Array]:
    """Gradients of :func:`bias_relu` from its input ``x``: ``(grad_x, grad_bias)``.

    ``grad_x`` is ``grad`` where ``x + bias > 0`` and 0 elsewhere;
    ``grad_bias`` sums ``grad_x`` over every axis but the last.
    """
    chosen, (grad, x), bias = _prepare("bias_relu_backward", "bias_relu_backward", (grad, x),
                                       ("grad", "x"), bias, backend)
    grad_x = np.empty(x.shape, x.dtype)
    if not x.size:
        return grad_x, np.zeros_like(bias)
    dispatch.run_into(grad_x, [grad, x],
                      lambda g, source, target: chosen.bias_relu_backward(g, source, bias, target))
    # 16-bit floats summed in float32, as PyTorch does: not rounded at each add.
    accumulate = np.float32 if _dtypes.is_half(x.dtype) else x.dtype
    return grad_x, grad_x.reshape(-1, x.shape[-1]).sum(axis=0, dtype=accumulate).astype(x.dtype)
