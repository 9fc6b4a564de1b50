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
        if arity == 1:
            def kernel(x, out, params):
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    out[i] = device(load(x[i]), *params)
        elif arity == 2:
            def kernel(a, b, out, params):
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    out[i] = device(load(a[i]), load(b[i]), *params)
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
