"""ReLU with a 1-bit mask: what backward needs, in 1/32 of a float32 input.

``relu_mask(x)`` returns ``(y, mask)``: ``y = relu(x)`` and ``mask`` the bits
``x > 0`` in C order, packed eight to a byte, lowest bit first (equal to
``np.packbits(x.ravel() > 0, bitorder='little')``).  ``relu_backward_mask(grad,
mask)`` gives ``relu_backward(grad, x)`` from the mask alone, so a training
step can free ``x`` (or overwrite it in place) after the forward pass.
"""

from __future__ import annotations

import functools

import numpy as np

from . import _cpu, _dask, _streaming, _validate, dispatch, registry
from .dispatch import CheckedEntry
from ._types import Array, BackendName
from .definitions import BUILTIN

_F32, _F64, _U8 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8)
_FLOATS = (_F32, _F64)


@functools.cache
def _bits_and_limits(dtype):
    """The integer view of ``dtype`` and the (low, high) limits on its values
    for the mask loops: relu keeps a value above ``low``, and the mask bit is
    set for ``0 < value <= high`` (the positive numbers, NaN excluded)."""
    if dtype.kind == "i":
        return dtype, 0, np.iinfo(dtype).max
    bits = np.dtype(f"i{dtype.itemsize}")
    # -inf's bits as a signed integer: everything at or below is -0 or a
    # negative number; the negative NaNs lie between it and 0.
    low = np.array(-np.inf, dtype).view(bits)[()]
    high = np.array(np.inf, dtype).view(bits)[()]
    return bits, low, high


def mask_size(size: int) -> int:
    """Bytes in the mask of an array of ``size`` elements: one bit each, rounded up."""
    return (size + 7) // 8


def relu_mask(x: Array, *, out: Array = None, backend: BackendName = None) -> tuple[Array, Array]:
    """``(relu(x), mask)`` in one pass; ``mask`` holds the bits ``x > 0``.

    ``mask`` is a uint8 array of ``ceil(x.size / 8)`` bytes equal to
    ``np.packbits(x.ravel() > 0, bitorder='little')``: NaN and -0 give 0
    bits, so at a NaN input :func:`relu_backward_mask` gives 0 where
    ``relu_backward`` passes ``grad`` on.  ``out`` may be ``x`` itself: the
    input is then no longer needed for backward.  GPU arrays give a mask of
    the same kind on the GPU.
    """
    if type(x) is np.ndarray and (x.dtype is _F32 or x.dtype is _F64):
        parallel = dispatch.loop_parallelism(backend, x)
        if parallel is not None:
            result = np.empty(x.shape, x.dtype) if out is None else out
            mask = np.empty(mask_size(x.size), np.uint8)
            streams = parallel and type(result) is np.ndarray and _streaming.applies_to_mask(result)
            if _short_path(parallel, "forward_float_checked", (x, result), (mask, streams)):
                return result, mask
    name = "relu_mask"
    _dask.refuse(name, x, out)  # the bits run across chunk boundaries
    (x,) = _validate.as_arrays((x,))
    chosen = dispatch.resolve(backend, x)
    if registry.is_device_array(x) or registry.is_device_array(out) or chosen.device:
        _require_device(name, chosen)
        return chosen.relu_mask(x, out, name)
    _validate.check_inputs(name, BUILTIN["relu"], "forward", [x], ("x",))
    if out is not None:
        _validate.check_out(name, out, x)
    else:
        out = np.empty_like(x)
    mask = np.empty(mask_size(x.size), np.uint8)
    if chosen.name == "numpy" or x.dtype.kind == "u":
        mask[...] = np.packbits(x.ravel() > 0, bitorder="little")  # before out may overwrite x
        np.copyto(out, x if x.dtype.kind == "u" else np.where(x <= 0, x.dtype.type(0), x))
        return out, mask
    return _through_loop("forward", chosen, x, out, mask), mask


def relu_backward_mask(grad: Array, mask: Array, *, out: Array = None,
                       backend: BackendName = None) -> Array:
    """``relu_backward(grad, x)`` from the mask :func:`relu_mask` gave for ``x``:
    ``grad`` where the bit is set, +0 elsewhere."""
    if (type(grad) is np.ndarray and (grad.dtype is _F32 or grad.dtype is _F64)
            and type(mask) is np.ndarray and mask.dtype is _U8 and mask.ndim == 1
            and mask.flags.c_contiguous):  # the loop reads the mask's bytes in a row
        parallel = dispatch.loop_parallelism(backend, grad)
        if parallel is not None:
            result = np.empty(grad.shape, grad.dtype) if out is None else out
            streams = (parallel and type(result) is np.ndarray and result is not grad
                       and _streaming.applies_to_mask_backward(result))
            if _short_path(parallel, "backward_checked", (grad, result), (mask, streams)):
                return result
    name = "relu_backward_mask"
    _dask.refuse(name, grad, mask, out)
    (grad,) = _validate.as_arrays((grad,))
    chosen = dispatch.resolve(backend, grad)
    if any(registry.is_device_array(a) for a in (grad, mask, out)) or chosen.device:
        _require_device(name, chosen)
        return chosen.relu_backward_mask(grad, mask, out, name)
    _validate.check_dtype(name, BUILTIN["relu"], grad.dtype, "backward")
    mask = check_mask(name, mask, grad.size)
    if out is not None:
        _validate.check_out(name, out, grad)
    else:
        out = np.empty_like(grad)
    if chosen.name == "numpy":
        keep = np.unpackbits(mask, count=grad.size, bitorder="little").reshape(grad.shape)
        np.copyto(out, np.where(keep.astype(bool), grad, grad.dtype.type(0)))
        return out
    if np.may_share_memory(mask, out):  # out would overwrite mask bytes before they are read
        mask = mask.copy()
    return _through_loop("backward", chosen, grad, out, mask)


# --- the calls training loops make, in few steps ------------------------------


_loops = None
_entries: dict = {}  # (parallel, name) -> dispatch.CheckedEntry


def _short_path(parallel, name, arrays, extras):
    """The compiled entry ``name`` of _mask_kernels on ``arrays`` (C-contiguous
    and aligned, of one dtype) and ``extras``: True when it ran, False
    (nothing written) where the call must go the general way."""
    entry = _entries.get((parallel, name))
    if entry is None:
        global _loops
        if _loops is None:
            from ._mask_kernels import LOOPS as _loops
        backend = registry.lookup("numba-parallel" if parallel else "numba")
        entry = _entries.setdefault((parallel, name), CheckedEntry(backend, _loops[parallel][name]))
    try:
        return entry.run(*arrays, *extras)
    except Exception:  # not compiled for these arrays
        return entry.compile_and_run(arrays, extras)


def _run(parallel, loop, args):
    global _loops
    if _loops is None:
        from ._mask_kernels import LOOPS as _loops
    if parallel:
        return _cpu.run_parallel(_loops[True][loop], args, lambda: _loops[False][loop])
    return _loops[False][loop](*args)  # directly: run_loop's indirection cost 1 us


def _run_backward(parallel, grad_bits, out_bits, mask):
    """The backward loop on flat integer views; large results not written
    over grad stream their stores."""
    streams = (parallel and _streaming.applies_to_mask_backward(out_bits)
               and grad_bits.ctypes.data != out_bits.ctypes.data)
    if not _run(parallel, "backward", (grad_bits, out_bits, mask, streams)):
        raise RuntimeError("the mask loop refused arrays that the general path had checked")


def _run_forward(parallel, x, out, mask):
    """The forward loop on flat float32/float64 views."""
    streams = parallel and _streaming.applies_to_mask(out)
    _run(parallel, "forward_float", (x, out, mask, streams))


def _through_loop(direction, chosen, source, out, mask):
    """Run a compiled mask loop on C-ordered flat views, staging where ``out``
    is not C-contiguous or partly overlaps ``source``."""
    source = np.ascontiguousarray(source)
    target = out
    if not out.flags.c_contiguous or (out is not source and np.may_share_memory(out, source)):
        target = np.empty(source.shape, source.dtype)
    if source.size:
        bits, low, high = _bits_and_limits(source.dtype)
        parallel = chosen.name == "numba-parallel"
        flat_source, flat_target = source.reshape(-1), target.reshape(-1)
        if direction == "forward" and source.dtype in _FLOATS and source.flags.aligned \
                and target.flags.aligned:
            _run_forward(parallel, flat_source, flat_target, mask)
        elif direction == "backward":
            _run_backward(parallel, flat_source.view(bits), flat_target.view(bits), mask)
        else:
            _run(parallel, direction, (flat_source.view(bits), flat_target.view(bits), mask,
                                       low, high))
    if target is not out:
        np.copyto(out, target)
    return out


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


def _require_device(name, chosen):
    if not chosen.device:
        raise TypeError(f"{name}: backend {chosen.name!r} takes host (NumPy) arrays, "
                        "but a GPU array was given; use backend='cuda' or 'auto'")
