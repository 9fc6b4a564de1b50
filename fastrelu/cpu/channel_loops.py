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

from .. import _compiler
from .pool import run_loop
from ..definitions import prelu, prelu_backward, prelu_weight_gradient

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Rows shorter than this (a dense layer's (batch, channels) output has rows of
# one) are walked by batch instead, so that the inner loop runs along channels.
_SHORTEST_ROW = 16

_KERNELS = _compiler.Memo()


def _layout(x, weight):
    """The slopes, one per channel in x's dtype, and the ``(outer, channels,
    inner)`` shape that walks x; one weight makes all of x a single row."""
    if weight.size == 1:
        return np.full(1, weight.reshape(-1)[0], x.dtype), (1, 1, x.size)
    slopes = np.empty(weight.size, x.dtype)
    np.copyto(slopes, weight.reshape(-1), casting="unsafe")
    if x.ndim == 1:
        return slopes, (1, x.size, 1)
    return slopes, (x.shape[0], x.shape[1], x.size // (x.shape[0] * x.shape[1]))


def _chunks(size, parallel):
    """How many pieces a parallel loop cuts ``size`` elements into."""
    return max(1, min(64, size // 16384)) if parallel else 1


def forward(x, weight, out, parallel):
    """``out[...] = prelu(x, weight of the element's channel)``."""
    slopes, (outer, channels, inner) = _layout(x, weight)
    if inner < _SHORTEST_ROW:
        shape = (outer, channels * inner)
        _run("forward_by_batch", parallel,
             (x.reshape(shape), np.repeat(slopes, inner), out.reshape(shape)))
    else:
        _run("forward_by_row", parallel, (x.reshape(-1), slopes, out.reshape(-1), inner,
                                          _chunks(x.size, parallel)))


def backward(grad, x, weight, grad_x, parallel):
    """Writes the input gradient into ``grad_x`` and returns the weight
    gradient (float64, one value per weight): the sum of ``x * grad`` over
    the weight's elements where ``x <= 0``."""
    slopes, (outer, channels, inner) = _layout(x, weight)
    if inner < _SHORTEST_ROW:
        shape = (outer, channels * inner)
        partial = np.zeros((min(outer, 64) if parallel else 1, channels * inner))
        _run("backward_by_batch", parallel, (grad.reshape(shape), x.reshape(shape),
                                             np.repeat(slopes, inner), grad_x.reshape(shape),
                                             partial))
        partial = partial.reshape(-1, channels, inner).sum(axis=2)
    else:
        partial = np.zeros((_chunks(x.size, parallel), channels))
        _run("backward_by_row", parallel, (grad.reshape(-1), x.reshape(-1), slopes,
                                           grad_x.reshape(-1), inner, partial))
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as in the loops themselves
        return partial.sum(axis=0)


def _run(name, parallel, args):
    run_loop(lambda p: _compiled(name, p), parallel, args)


def _compiled(name, parallel):
    """The loops, compiled on first use (and cached on disk)."""
    return _KERNELS.get((name, parallel), _build, name, parallel)


def _build(name, parallel):
    for formula in (prelu, prelu_backward, prelu_weight_gradient):
        _compiler.jitable(formula)
    fn = _loops()[name]  # a new function object for each: the name is the cache's key
    kind = "parallel" if parallel else "serial"
    _compiler.stamped_name(fn, f"prelu_{name}_{kind}", prelu, prelu_backward,
                           prelu_weight_gradient)
    return _compiler.njit(fn, parallel=parallel, cache=True, reduction=name.startswith("backward"))


def _loops():
    import numba

    # By row: flat arrays cut into equal pieces, one per thread's share;
    # each piece walks its part of each row (``inner`` elements, one channel).
    # The rows are walked as slices: indexing from a start LLVM cannot prove
    # non-negative keeps Numba's negative-index check in the loop, which then
    # does not vectorise (5x slower).
    def forward_by_row(x, w, out, inner, chunks):
        size, channels = x.size, w.size
        for chunk in numba.prange(chunks):
            start, stop = chunk * size // chunks, (chunk + 1) * size // chunks
            for row in range(start // inner, (stop + inner - 1) // inner):
                slope = w[row % channels]
                first, last = max(row * inner, start), min(row * inner + inner, stop)
                x_row, out_row = x[first:last], out[first:last]
                for k in range(x_row.size):
                    out_row[k] = prelu(x_row[k], slope)

    def backward_by_row(g, x, w, grad_x, inner, partial):
        size, channels, chunks = x.size, w.size, partial.shape[0]
        for chunk in numba.prange(chunks):
            start, stop = chunk * size // chunks, (chunk + 1) * size // chunks
            for row in range(start // inner, (stop + inner - 1) // inner):
                slope = w[row % channels]
                first, last = max(row * inner, start), min(row * inner + inner, stop)
                x_row, g_row, out_row = x[first:last], g[first:last], grad_x[first:last]
                total = 0.0
                for k in range(x_row.size):
                    v, d = x_row[k], g_row[k]
                    out_row[k] = prelu_backward(d, v, slope)
                    total += prelu_weight_gradient(d, v)
                partial[chunk, row % channels] += total

    # By batch, for short rows: x as (batch, channels * inner), each row
    # with the slopes repeated to match, so that the inner loop runs along
    # contiguous memory and vectorises (a dense layer's (batch, channels)).
    def forward_by_batch(x, w, out):
        rows, columns = x.shape
        for i in numba.prange(rows):
            for k in range(columns):
                out[i, k] = prelu(x[i, k], w[k])

    def backward_by_batch(g, x, w, grad_x, partial):
        rows, columns = x.shape
        blocks = partial.shape[0]
        for b in numba.prange(blocks):
            for i in range(b * rows // blocks, (b + 1) * rows // blocks):
                for k in range(columns):
                    v, d = x[i, k], g[i, k]
                    grad_x[i, k] = prelu_backward(d, v, w[k])
                    partial[b, k] += prelu_weight_gradient(d, v)

    return {"forward_by_row": forward_by_row, "forward_by_batch": forward_by_batch,
            "backward_by_row": backward_by_row, "backward_by_batch": backward_by_batch}
