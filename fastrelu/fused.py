"""Fused kernels: ``bias_relu(x, bias) = relu(x + bias)`` in one pass.

The bias broadcasts over the last axis of ``x`` (the layout after a dense
layer, ``x @ W``).  One read of ``x`` and one write of the result, instead of
NumPy's ``np.maximum(x + b, 0)`` which writes and reads a temporary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _docs, _dtypes, _validate, dispatch
from ._types import Array, BackendName


def _prepare(name, operation, arrays, labels, bias, backend, out=None):
    """The backend, the checked arrays (C-contiguous) and the bias (1-D, x's
    dtype); a device backend checks GPU arrays itself."""
    dispatch.refuse_chunked(name, *arrays, bias)
    arrays = _validate.as_arrays(arrays, name)
    chosen = dispatch.backend_for(operation, backend, arrays[-1], name, *arrays[:-1], bias, out)
    if chosen.device:
        return chosen, arrays, bias
    _validate.check_inputs(name, _validate.FLOATS_ONLY, "forward", arrays, labels)
    x = arrays[-1]
    bias = np.ascontiguousarray(bias, dtype=x.dtype)
    if x.ndim == 0 or bias.shape != (x.shape[-1],):
        raise ValueError(f"{name}: bias must have shape ({x.shape[-1] if x.ndim else '...'},), "
                         f"one value per column of x (last axis), got {bias.shape}")
    return chosen, arrays, bias


@_docs.filled
def bias_relu(x: Array, bias: Array, *, out: Array = None,
              backend: BackendName = None, stream: Any = None) -> Array:
    """``relu(x + bias)`` in one pass, ``bias`` broadcast over the last axis.

    One read of ``x`` and one write of the result, where
    ``np.maximum(x + b, 0)`` writes and reads a temporary: the dense layer's
    bias add and its relu.

    Args:
        x: The input, at least 1-D (``x @ W``).
        bias: One value per column of ``x`` (its last axis).
        {keywords}

    Returns:
        The result, of ``x``'s shape and dtype.

    Raises:
        TypeError: A dtype other than a float; a Dask array.
        ValueError: A bias that is not one value per column.

    Examples:
        >>> import numpy as np, fastrelu
        >>> fastrelu.bias_relu(np.array([[-2.0, 0.0, 1.5]]), np.array([1.0, -1.0, 0.5])).tolist()
        [[0.0, 0.0, 2.0]]
    """
    if stream is not None:
        return dispatch.on_stream(stream, bias_relu, x, bias, out=out, backend=backend)
    chosen, (x,), bias = _prepare("bias_relu", "bias_relu", (x,), ("x",), bias, backend, out)
    if chosen.device:
        return chosen.bias_relu_device(x, bias, out, "bias_relu")
    if out is None:
        out = np.empty(x.shape, x.dtype)
    else:
        _validate.check_out("bias_relu", out, x)
    if x.size:
        dispatch.run_into(out, [x], lambda source, target: chosen.bias_relu(source, bias, target))
    return out


@_docs.filled
def bias_relu_backward(grad: Array, x: Array, bias: Array, *,
                       backend: BackendName = None, stream: Any = None) -> tuple[Array, Array]:
    """Gradients of :func:`bias_relu` from its input ``x``: ``(grad_x, grad_bias)``.

    Args:
        grad: The gradient of the loss with respect to the result.
        x: The forward's input.
        bias: The forward's bias.
        {backend}
        {stream}

    Returns:
        ``grad_x``, ``grad`` where ``x + bias > 0`` and 0 elsewhere, and
        ``grad_bias``, ``grad_x`` summed over every axis but the last (16-bit
        floats summed in float32).

    Raises:
        TypeError: A dtype other than a float; a Dask array.
        ValueError: Shapes that do not match; a bias not one value per column.

    Examples:
        >>> import numpy as np, fastrelu
        >>> x, b = np.array([[-2.0, 0.0, 1.5]]), np.array([1.0, -1.0, 0.5])
        >>> grad_x, grad_bias = fastrelu.bias_relu_backward(np.ones((1, 3)), x, b)
        >>> grad_x.tolist(), grad_bias.tolist()
        ([[0.0, 0.0, 1.0]], [0.0, 0.0, 1.0])
    """
    if stream is not None:
        return dispatch.on_stream(stream, bias_relu_backward, grad, x, bias, backend=backend)
    chosen, (grad, x), bias = _prepare("bias_relu_backward", "bias_relu_backward", (grad, x),
                                       ("grad", "x"), bias, backend)
    if chosen.device:
        return chosen.bias_relu_backward_device(grad, x, bias, "bias_relu_backward")
    grad_x = np.empty(x.shape, x.dtype)
    if not x.size:
        return grad_x, np.zeros_like(bias)
    dispatch.run_into(grad_x, [grad, x],
                      lambda g, source, target: chosen.bias_relu_backward(g, source, bias, target))
    # 16-bit floats summed in float32, as PyTorch does: not rounded at each add.
    accumulate = np.float32 if _dtypes.is_half(x.dtype) else x.dtype
    return grad_x, grad_x.reshape(-1, x.shape[-1]).sum(axis=0, dtype=accumulate).astype(x.dtype)
