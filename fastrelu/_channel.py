"""PReLU loops that read the weight per channel.

The general path broadcasts the weight to an array the size of ``x`` and
runs the per-element-slope kernel on it; the weight gradient then took
NumPy four more passes (``x > 0``, ``x * grad``, ``where``, ``sum``).  These
loops read one weight per channel and, going backward, add up the weight
gradient in the same pass that writes the input gradient.

``x`` is seen as ``(outer, channels, inner)``: ``channels`` is axis 1 (axis 0
of 1-D input, as in PyTorch), ``inner`` the product of the axes after it.
Each element's value comes from the same formulas (``definitions.prelu``,
``prelu_backward``) as on every other path, so results are bit-identical;
the weight gradient is summed in float64, in another order than NumPy's.
"""

import numpy as np

from . import _cpu, _jit, registry
from .definitions import prelu, prelu_backward

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Rows shorter than this (a dense layer's (batch, channels) output has rows of
# one) are walked by batch instead, so that the inner loop runs along channels.
_SHORTEST_ROW = 16

_kernels: dict = {}


def route(backend, x, *others):
    """``"serial"`` or ``"parallel"`` where the call runs on a Numba loop backend
    and the arrays suit these loops (C-contiguous float32/float64 of one
    shape, at least 1-D); None sends the call down the general path."""
    if type(x) is not np.ndarray or x.dtype not in _FLOATS or x.ndim == 0 or not x.flags.c_contiguous:
        return None
    if any(type(a) is not np.ndarray or a.dtype != x.dtype or a.shape != x.shape
           or not a.flags.c_contiguous for a in others):
        return None
    chosen = registry.resolve(backend, x)
    if type(chosen) is _cpu.ParallelBackend:
        return "parallel"
    if type(chosen) is _cpu.SerialBackend:
        return "serial"
    return None


def _as_3d(a):
    """``a`` as ``(outer, channels, inner)``, without a copy (C-contiguous)."""
    if a.ndim == 1:
        return a.reshape(1, a.size, 1)
    return a.reshape(a.shape[0], a.shape[1], -1)


def forward(x, slopes, out, threads):
    """``out[...] = prelu(x, slopes[channel])``; ``slopes`` holds one value per channel."""
    x3, out3 = _as_3d(x), _as_3d(out)
    if x3.shape[2] < _SHORTEST_ROW:
        _compiled("forward_by_batch", threads)(x3, slopes, out3)
    else:
        _compiled("forward_by_row", threads)(x3, slopes, out3)


def backward(grad, x, slopes, grad_x, threads):
    """Writes the input gradient into ``grad_x`` and returns the weight
    gradient per channel (float64): the sum of ``x * grad`` where ``x <= 0``."""
    g3, x3, gx3 = _as_3d(grad), _as_3d(x), _as_3d(grad_x)
    outer, channels, inner = x3.shape
    if inner < _SHORTEST_ROW:
        # One partial sum per channel for each block of the batch.
        blocks = min(outer, 64) if threads == "parallel" else 1
        partial = np.zeros((blocks, channels))
        _compiled("backward_by_batch", threads)(g3, x3, slopes, gx3, partial)
    else:
        partial = np.empty((outer, channels))
        _compiled("backward_by_row", threads)(g3, x3, slopes, gx3, partial.reshape(-1))
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as in the loops themselves
        return partial.sum(axis=0)


def _compiled(name, threads):
    """The loops, compiled on first use (and cached on disk)."""
    if not _kernels:
        _jit.jitable(prelu)
        _jit.jitable(prelu_backward)
        # Numba's cache sees this file change, not the formulas': the
        # cached loops are named after a stamp of the formulas' code.
        stamp = _jit.code_stamp(prelu, prelu_backward)
        for kind in ("serial", "parallel"):
            for fn in _loops():  # new function objects for each: the name is the cache's key
                fn.__qualname__ = f"prelu_{fn.__name__}_{kind}_{stamp}"
                _kernels[fn.__name__, kind] = _jit.njit(fn, parallel=kind == "parallel", cache=True,
                                                        reduction=fn.__name__.startswith("backward"))
    return _kernels[name, threads]


def _loops():
    import numba

    def forward_by_row(x, w, out):
        outer, channels, inner = x.shape
        for row in numba.prange(outer * channels):
            i, c = row // channels, row % channels
            slope = w[c]
            for j in range(inner):
                out[i, c, j] = prelu(x[i, c, j], slope)

    def forward_by_batch(x, w, out):
        outer, channels, inner = x.shape
        for i in numba.prange(outer):
            for j in range(inner):
                for c in range(channels):
                    out[i, c, j] = prelu(x[i, c, j], w[c])

    def backward_by_row(g, x, w, grad_x, partial):
        outer, channels, inner = x.shape
        for row in numba.prange(outer * channels):
            i, c = row // channels, row % channels
            slope = w[c]
            total = 0.0
            for j in range(inner):
                v, d = x[i, c, j], g[i, c, j]
                grad_x[i, c, j] = prelu_backward(d, v, slope)
                total += 0 if v > 0 else v * d
            partial[row] = total

    def backward_by_batch(g, x, w, grad_x, partial):
        outer, channels, inner = x.shape
        blocks = partial.shape[0]
        for b in numba.prange(blocks):
            for i in range(b * outer // blocks, (b + 1) * outer // blocks):
                for j in range(inner):
                    for c in range(channels):
                        v, d = x[i, c, j], g[i, c, j]
                        grad_x[i, c, j] = prelu_backward(d, v, w[c])
                        partial[b, c] += 0 if v > 0 else v * d

    return forward_by_row, forward_by_batch, backward_by_row, backward_by_batch
