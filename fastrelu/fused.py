"""Fused kernels: ``bias_relu(x, bias) = relu(x + bias)`` in one pass.

The bias broadcasts over the last axis of ``x`` (the layout after a dense
layer, ``x @ W``).  One read of ``x`` and one write of the result, instead of
NumPy's ``np.maximum(x + b, 0)`` which writes and reads a temporary.
"""

from __future__ import annotations

import numpy as np

from . import _cpu, _dask, _validate, dispatch, registry
from ._types import Array, BackendName
from .definitions import BUILTIN

_kernels: dict = {}


def _compiled(name):
    """The fused loops, compiled once per process on first use (and cached on disk)."""
    if not _kernels:
        from . import _jit

        built = {}
        for parallel in (False, True):
            # New function objects for each: Numba's cache keys on the
            # function's name and code, not on parallel=, so one function
            # compiled both ways would load either version for both.
            for label, fn in _loops().items():
                fn.__qualname__ = f"bias_relu_{label}_{'parallel' if parallel else 'serial'}"
                built[label, parallel] = _jit.njit(fn, parallel=parallel, cache=True)
        _kernels.update(built)  # all at once: another thread may be reading
    return _kernels[name]


def _loops():
    import numba

    def forward(x, b, out):
        rows, cols = x.shape
        for i in numba.prange(rows):
            for j in range(cols):
                v = x[i, j] + b[j]
                out[i, j] = v if not (v <= 0) else 0

    def backward(g, x, b, grad_x):
        rows, cols = x.shape
        for i in numba.prange(rows):
            for j in range(cols):
                grad_x[i, j] = 0 if x[i, j] + b[j] <= 0 else g[i, j]

    return {"forward": forward, "backward": backward}


def _prepare(name, arrays, labels, bias):
    _dask.refuse(name, *arrays, bias)
    arrays = _validate.as_arrays(arrays)
    if any(registry.is_device_array(a) for a in arrays) or registry.is_device_array(bias):
        raise NotImplementedError(f"{name} runs on host arrays only (no cuda kernel yet)")
    _validate.check_inputs(name, BUILTIN["leaky_relu"], "forward", arrays, labels)
    x = arrays[-1]
    bias = np.asarray(bias, dtype=x.dtype)
    if x.ndim == 0 or bias.shape != (x.shape[-1],):
        raise ValueError(f"{name}: bias must have shape ({x.shape[-1] if x.ndim else '...'},), "
                         f"one value per column of x (last axis), got {bias.shape}")
    return arrays, bias


def _route(backend, x):
    """Which loop: NumPy's expression, or the serial or the parallel fused loop."""
    chosen = dispatch.resolve(backend, x)
    if chosen.name == "numpy":
        return "numpy"
    return chosen.name == "numba-parallel"


def _run(direction, parallel, args):
    _cpu.run_loop(lambda p: _compiled((direction, p)), parallel, args)


def _as_2d(a):
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])


def bias_relu(x: Array, bias: Array, *, out: Array = None, backend: BackendName = None) -> Array:
    """``relu(x + bias)``, with ``bias`` broadcast over the last axis, in one pass."""
    (x,), bias = _prepare("bias_relu", (x,), ("x",), bias)
    if out is None:
        out = np.empty(x.shape, x.dtype)
    else:
        _validate.check_out("bias_relu", out, x)
    route = _route(backend, x)
    if x.size == 0:
        return out
    if route == "numpy" or x.dtype == np.float16:
        with np.errstate(invalid="ignore"):
            y = x + bias
            np.copyto(out, np.where(y <= 0, x.dtype.type(0), y))
        return out
    target = out if (out.flags.c_contiguous and not np.may_share_memory(out, x)) or out is x \
        else np.empty(x.shape, x.dtype)
    _run("forward", route, (_as_2d(x), bias, target.reshape(-1, x.shape[-1])))
    if target is not out:
        np.copyto(out, target)
    return out


def bias_relu_backward(grad: Array, x: Array, bias: Array, *,
                       backend: BackendName = None) -> tuple[Array, Array]:
    """Gradients of :func:`bias_relu` from its input ``x``: ``(grad_x, grad_bias)``.

    ``grad_x`` is ``grad`` where ``x + bias > 0`` and 0 elsewhere;
    ``grad_bias`` sums ``grad_x`` over every axis but the last.
    """
    (grad, x), bias = _prepare("bias_relu_backward", (grad, x), ("grad", "x"), bias)
    route = _route(backend, x)
    if route == "numpy" or x.dtype == np.float16:
        with np.errstate(invalid="ignore"):
            grad_x = np.where(x + bias <= 0, x.dtype.type(0), grad)
    else:
        grad_x = np.empty(x.shape, x.dtype)
        if x.size:
            _run("backward", route, (_as_2d(grad), _as_2d(x), bias,
                                     grad_x.reshape(-1, x.shape[-1])))
    grad_bias = grad_x.reshape(-1, x.shape[-1]).sum(axis=0) if x.size else np.zeros_like(bias)
    return grad_x, grad_bias.astype(x.dtype)
