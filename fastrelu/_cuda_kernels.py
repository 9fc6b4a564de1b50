"""CUDA kernel generation; imported only when the cuda backend runs.

``cuda`` is a module global on purpose: the CUDA simulator swaps it for its
own module in the kernels' globals.
"""

import numba
from numba import cuda

from . import _jit


@cuda.jit(device=True, inline=True)
def _to_float32(v):
    return numba.float32(v)


@cuda.jit(device=True, inline=True)
def _unchanged(v):
    return v


def make_kernel(formula, arity, ndim, widen):
    """A grid-stride kernel applying ``formula`` to 1-D or 2-D arrays.

    ``widen`` loads each element as float32 (for float16 data: the result is
    rounded back on the store).
    """
    _jit.register_helpers()
    device = cuda.jit(device=True)(formula)
    load = _to_float32 if widen else _unchanged

    if ndim == 1:
        # Four loads in flight per thread before any store: a plain
        # grid-stride loop reaches ~0.73 of a device copy on an H200 at 2^28
        # float32 elements, this form ~0.91 (perf/gpu_kernel_variants.py).
        if arity == 1:
            def kernel(x, out, params):
                n, step = out.size, cuda.gridsize(1)
                i = cuda.grid(1)
                while i + 3 * step < n:
                    a, b, c, d = x[i], x[i + step], x[i + 2 * step], x[i + 3 * step]
                    out[i] = device(load(a), *params)
                    out[i + step] = device(load(b), *params)
                    out[i + 2 * step] = device(load(c), *params)
                    out[i + 3 * step] = device(load(d), *params)
                    i += 4 * step
                while i < n:
                    out[i] = device(load(x[i]), *params)
                    i += step
        elif arity == 2:
            def kernel(u, v, out, params):
                n, step = out.size, cuda.gridsize(1)
                i = cuda.grid(1)
                while i + 3 * step < n:
                    u0, u1, u2, u3 = u[i], u[i + step], u[i + 2 * step], u[i + 3 * step]
                    v0, v1, v2, v3 = v[i], v[i + step], v[i + 2 * step], v[i + 3 * step]
                    out[i] = device(load(u0), load(v0), *params)
                    out[i + step] = device(load(u1), load(v1), *params)
                    out[i + 2 * step] = device(load(u2), load(v2), *params)
                    out[i + 3 * step] = device(load(u3), load(v3), *params)
                    i += 4 * step
                while i < n:
                    out[i] = device(load(u[i]), load(v[i]), *params)
                    i += step
        else:
            def kernel(a, b, c, out, params):
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    out[i] = device(load(a[i]), load(b[i]), load(c[i]), *params)
    else:
        if arity == 1:
            def kernel(x, out, params):
                cols = out.shape[1]
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    r, c = i // cols, i % cols
                    out[r, c] = device(load(x[r, c]), *params)
        elif arity == 2:
            def kernel(a, b, out, params):
                cols = out.shape[1]
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    r, c = i // cols, i % cols
                    out[r, c] = device(load(a[r, c]), load(b[r, c]), *params)
        else:
            def kernel(a, b, c_, out, params):
                cols = out.shape[1]
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    r, c = i // cols, i % cols
                    out[r, c] = device(load(a[r, c]), load(b[r, c]), load(c_[r, c]), *params)
    return cuda.jit(kernel)


def make_mask_kernels(widen):
    """The relu mask kernels for 1-D contiguous arrays: one thread per mask
    byte, so that no two threads write the same byte."""
    load = _to_float32 if widen else _unchanged

    def forward(x, out, mask):
        n = x.size
        for j in range(cuda.grid(1), mask.size, cuda.gridsize(1)):
            bits = 0
            for k in range(8):
                i = 8 * j + k
                if i < n:
                    v = load(x[i])
                    out[i] = v if not (v <= 0) else 0
                    if v > 0:
                        bits |= 1 << k
            mask[j] = bits

    def backward(grad, out, mask):
        n = grad.size
        for j in range(cuda.grid(1), mask.size, cuda.gridsize(1)):
            bits = mask[j]
            for k in range(8):
                i = 8 * j + k
                if i < n:
                    out[i] = grad[i] if (bits >> k) & 1 else 0

    return cuda.jit(forward), cuda.jit(backward)
