"""Fused kernels: ``bias_relu(x, bias) = relu(x + bias)`` in one pass.

The bias broadcasts over the last axis of ``x`` (the layout after a dense
layer, ``x @ W``).  One read of ``x`` and one write of the result, instead of
NumPy's ``np.maximum(x + b, 0)`` which writes and reads a temporary.
"""

from __future__ import annotations

from typing import Any


from . import _docs, dispatch
from ._types import Array, BackendName


class _BiasRelu(dispatch.Operation):
    """relu(x + bias) and its gradient: ``others`` is the bias, one value per
    column of x (its last axis), in x's dtype and the backend's kind."""

    def __init__(self, operation, labels):
        self.operation, self.labels = operation, labels

    def others(self, name, kind, arrays, others, compute):
        x = arrays[-1]
        bias = dispatch.values_like(name, "bias", kind, x, others[0], compute)
        columns = tuple(x.shape)[-1:]  # (the simulator's shapes take no negative index)
        if not columns or tuple(bias.shape) != columns:
            raise ValueError(f"{name}: bias must have shape ({columns[0] if columns else '...'},), "
                             f"one value per column of x (last axis), got {tuple(bias.shape)}")
        return (bias,)

    def run(self, backend, sources, targets, others):
        return getattr(backend, self.operation)(*sources, *others, *targets)


class _BiasReluBackward(_BiasRelu):
    """grad_x in one pass (the backend's method), grad_bias its sum over rows."""

    def results(self, name, kind, arrays, out):
        like = arrays[-1]
        return [kind.new(like.shape, like.dtype)]

    def returned(self, kind, results, value, others):
        grad_x, (bias,) = results[0], others
        return kind.returned(grad_x), kind.returned(kind.column_sums(grad_x, bias))


_FORWARD = _BiasRelu("bias_relu", ("x",))
_BACKWARD = _BiasReluBackward("bias_relu_backward", ("grad", "x"))


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
    return dispatch.call(_FORWARD, "bias_relu", (x,), out, backend, stream, (bias,))


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
    return dispatch.call(_BACKWARD, "bias_relu_backward", (grad, x), None, backend, stream,
                         (bias,))
