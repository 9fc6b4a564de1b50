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

from .cpu import streaming
from . import _docs, _validate, definitions, dispatch, registry
from .dispatch import CheckedEntry
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
    if stream is not None:
        return dispatch.on_stream(stream, relu_mask, x, out=out, backend=backend)
    if (type(x) is np.ndarray and (x.dtype is _F32 or x.dtype is _F64)
            and (out is None or type(out) is np.ndarray)):
        parallel = dispatch.loop_parallelism(backend, x)
        if parallel is not None:
            result = np.empty(x.shape, x.dtype) if out is None else out
            mask = np.empty(mask_size(x.size), np.uint8)
            streams = parallel and type(result) is np.ndarray and streaming.applies_to_mask(result)
            if _short_path(parallel, "forward_float_checked", (x, result), (mask, streams)):
                return result, mask
            out = result  # declined: the general path writes into it
    name = "relu_mask"
    dispatch.refuse_chunked(name, x, out)  # the bits run across chunk boundaries
    (x,) = _validate.as_arrays((x,), name)
    chosen = dispatch.backend_for("relu_mask", backend, x, name, out)
    if chosen.device:
        return chosen.relu_mask_device(x, out, name)
    _validate.check_inputs(name, BUILTIN["relu"], "forward", [x], ("x",))
    if out is not None:
        _validate.check_out(name, out, x)
    else:
        out = np.empty_like(x)
    mask = np.empty(mask_size(x.size), np.uint8)
    dispatch.run_into(out, [x], lambda source, target: chosen.relu_mask(source, target, mask))
    return out, mask


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
    if stream is not None:
        return dispatch.on_stream(stream, relu_backward_mask, grad, mask, out=out, backend=backend)
    if (type(grad) is np.ndarray and (grad.dtype is _F32 or grad.dtype is _F64)
            and (out is None or type(out) is np.ndarray)
            and type(mask) is np.ndarray and mask.dtype is _U8 and mask.ndim == 1
            and mask.flags.c_contiguous):  # the loop reads the mask's bytes in a row
        parallel = dispatch.loop_parallelism(backend, grad)
        if parallel is not None:
            result = np.empty(grad.shape, grad.dtype) if out is None else out
            streams = (parallel and type(result) is np.ndarray and result is not grad
                       and streaming.applies_to_mask_backward(result))
            if _short_path(parallel, "backward_checked", (grad, result), (mask, streams)):
                return result
            out = result  # declined: the general path writes into it
    name = "relu_backward_mask"
    dispatch.refuse_chunked(name, grad, mask, out)
    (grad,) = _validate.as_arrays((grad,), name)
    chosen = dispatch.backend_for("relu_backward_mask", backend, grad, name, mask, out)
    if chosen.device:
        return chosen.relu_backward_mask_device(grad, mask, out, name)
    _validate.check_dtype(name, BUILTIN["relu"], grad.dtype, "backward")
    mask = check_mask(name, mask, grad.size)
    if out is not None:
        _validate.check_out(name, out, grad)
    else:
        out = np.empty_like(grad)
    if np.may_share_memory(mask, out):  # out would overwrite mask bytes before they are read
        mask = mask.copy()
    dispatch.run_into(out, [grad], lambda source, target: chosen.relu_backward_mask(source, mask, target))
    return out


# --- the calls training loops make, in few steps ------------------------------


_loops = None
_entries: dict = {}  # (parallel, name) -> dispatch.CheckedEntry


def _short_path(parallel, name, arrays, extras):
    """The compiled entry ``name`` of cpu.mask_loops on ``arrays`` (C-contiguous
    and aligned, of one dtype) and ``extras``: True when it ran, False
    (nothing written) where the call must go the general way."""
    entry = _entries.get((parallel, name))
    if entry is None:
        global _loops
        if _loops is None:
            from .cpu.mask_loops import LOOPS as _loops
        backend = registry.lookup("numba-parallel" if parallel else "numba")
        entry = _entries.setdefault((parallel, name), CheckedEntry(backend, _loops[parallel][name]))
    try:
        done = entry.run(*arrays, *extras)
    except Exception:  # not compiled for these arrays
        done = entry.compile_and_run(arrays, extras)
    dispatch.note_size(arrays[0].nbytes)
    return done


def check_mask(name, mask, size):
    """The mask as a 1-D uint8 array of the right length, or a clear error."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name}: mask must be the uint8 array relu_mask returned, "
                        f"not {type(mask).__name__}")
    if mask.dtype != np.uint8:
        raise TypeError(f"{name}: mask must have dtype uint8, not {mask.dtype}")
    expected = mask_size(size)
    if mask.shape != (expected,):
        raise ValueError(f"{name}: mask has shape {mask.shape}, expected ({expected},) "
                         f"for a grad of {size} elements")
    return np.ascontiguousarray(mask)
