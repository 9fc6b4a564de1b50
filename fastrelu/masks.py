"""ReLU with a 1-bit mask: what backward needs, in 1/32 of a float32 input.

``relu_mask(x)`` returns ``(y, mask)``: ``y = relu(x)`` and ``mask`` the bits
``x > 0`` in C order, packed eight to a byte, lowest bit first (equal to
``np.packbits(x.ravel() > 0, bitorder='little')``).  ``relu_backward_mask(grad,
mask)`` gives ``relu_backward(grad, x)`` from the mask alone, so a training
step can free ``x`` (or overwrite it in place) after the forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _docs, definitions, dispatch, registry
from ._types import Array, BackendName
from .definitions import BUILTIN

_F32, _F64, _U8 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8)


def mask_size(size: int) -> int:
    """Bytes in the mask of an array of ``size`` elements: one bit each, rounded up."""
    return definitions.mask_size(size)


@_docs.filled
def relu_mask(x: Array, *, out: Array = None,
              backend: BackendName = None, stream: Any = None) -> tuple[Array, Array]:
    """``(relu(x), mask)`` in one pass; ``mask`` holds the bits ``x > 0``.

    ``mask`` is a uint8 array of ``ceil(x.size / 8)`` bytes equal to
    ``np.packbits(x.ravel() > 0, bitorder='little')``: NaN and -0 give 0
    bits, so at a NaN input :func:`relu_backward_mask` gives 0 where
    ``relu_backward`` passes ``grad`` on.  Backward needs only the mask (1/32
    of a float32 input), so ``x`` may be overwritten: ``out=x``.

    Args:
        x: The input (floats of any width, or integers).
        {keywords}

    Returns:
        ``(y, mask)``; on GPU arrays the mask is a GPU array of the same kind.

    Raises:
        TypeError: A dtype relu does not take, or a Dask array (the bits run
            across chunk boundaries).
        ValueError: An ``out`` of another shape or read-only.
        NotImplementedError: A backend without masks (numba-ufunc).

    Examples:
        >>> import numpy as np, fastrelu
        >>> y, mask = fastrelu.relu_mask(np.array([-2.0, 0.0, 1.5, 3.0, -1.0, 0.5, 2.0, -0.5, 4.0]))
        >>> mask.tolist()
        [108, 1]
    """
    if (type(x) is np.ndarray and (x.dtype is _F32 or x.dtype is _F64)
            and (out is None or type(out) is np.ndarray)):
        chosen, entry = dispatch.loop_entry(backend, x, "forward_float_checked")
        if entry is not None:
            result = np.empty(x.shape, x.dtype) if out is None else out
            mask = np.empty(mask_size(x.size), np.uint8)
            streams = chosen.streams("forward_float_checked", result)
            if dispatch.run_entry(entry, (x, result), (mask, streams)):
                return result, mask
            out = result  # declined: the general path writes into it
    return dispatch.call(_RELU_MASK, "relu_mask", (x,), out, backend, stream)


@_docs.filled
def relu_backward_mask(grad: Array, mask: Array, *, out: Array = None,
                       backend: BackendName = None, stream: Any = None) -> Array:
    """``relu_backward(grad, x)`` from the mask :func:`relu_mask` gave for ``x``.

    Args:
        grad: The gradient of the loss with respect to relu's output.
        mask: The uint8 mask ``relu_mask`` returned for an ``x`` of ``grad``'s size.
        {keywords}

    Returns:
        ``grad`` where the bit is set, +0 elsewhere, of ``grad``'s shape and dtype.

    Raises:
        TypeError: A mask that is not a uint8 ndarray; a dtype relu_backward
            does not take.
        ValueError: A mask of the wrong length for ``grad``.

    Examples:
        >>> import numpy as np, fastrelu
        >>> y, mask = fastrelu.relu_mask(np.array([-2.0, 0.0, 1.5]))
        >>> fastrelu.relu_backward_mask(np.array([5.0, 5.0, 5.0]), mask).tolist()
        [0.0, 0.0, 5.0]
    """
    if (type(grad) is np.ndarray and (grad.dtype is _F32 or grad.dtype is _F64)
            and (out is None or type(out) is np.ndarray)
            and type(mask) is np.ndarray and mask.dtype is _U8 and mask.ndim == 1
            and mask.flags.c_contiguous):  # the loop reads the mask's bytes in a row
        chosen, entry = dispatch.loop_entry(backend, grad, "backward_checked")
        if entry is not None:
            result = np.empty(grad.shape, grad.dtype) if out is None else out
            streams = result is not grad and chosen.streams("backward_checked", result)
            if dispatch.run_entry(entry, (grad, result), (mask, streams)):
                return result
            out = result  # declined: the general path writes into it
    return dispatch.call(_RELU_BACKWARD_MASK, "relu_backward_mask", (grad,), out, backend, stream,
                         (mask,))


class _ReluMask(dispatch.Operation):
    """relu and its mask: the mask is a new array of the backend's kind."""

    operation = "relu_mask"
    rule = BUILTIN["relu"]

    def others(self, name, kind, arrays, others, compute):
        mask = kind.new((mask_size(arrays[0].size),), _U8)
        return mask, kind.writable(mask, _U8, "c")

    def run(self, backend, sources, targets, others):
        backend.relu_mask(sources[0], targets[0], others[1])

    def returned(self, kind, results, value, others):
        return kind.returned(results[0]), kind.returned(others[0])


class _ReluBackwardMask(dispatch.Operation):
    operation = "relu_backward_mask"
    labels = ("grad",)
    rule = BUILTIN["relu"]
    direction = "backward"

    def others(self, name, kind, arrays, others, compute):
        mask = check_mask(name, others[0], arrays[0].size)
        return (kind.arrange(kind.take(mask), _U8, "c"),)

    def run(self, backend, sources, targets, others):
        (mask,) = others
        if type(mask) is np.ndarray and np.may_share_memory(mask, targets[0]):
            mask = mask.copy()  # out would overwrite mask bytes before they are read
        backend.relu_backward_mask(sources[0], mask, targets[0])


_RELU_MASK, _RELU_BACKWARD_MASK = _ReluMask(), _ReluBackwardMask()


# --- the calls training loops make, in few steps ------------------------------


def check_mask(name, mask, size):
    """The mask (a host or GPU array), checked: 1-D uint8 of the right length."""
    if not (isinstance(mask, np.ndarray) or registry.is_device_array(mask)):
        raise TypeError(f"{name}: mask must be the uint8 array relu_mask returned, "
                        f"not {type(mask).__name__}")
    if mask.dtype != np.uint8:
        raise TypeError(f"{name}: mask must have dtype uint8, not {mask.dtype}")
    expected = mask_size(size)
    if tuple(mask.shape) != (expected,):
        raise ValueError(f"{name}: mask has shape {tuple(mask.shape)}, expected ({expected},) "
                         f"for a grad of {size} elements")
    return mask
