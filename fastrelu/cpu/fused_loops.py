"""CPU loops of ``bias_relu``: relu(x + bias) in one pass over a dense
layer's output (bias along the last axis), and its gradient.

Each element's value comes from ``definitions.bias_relu`` and
``bias_relu_backward``, as on every other path.  Imported on first use.
"""

from .. import _compiler
from .pool import run_loop
from ..definitions import bias_relu, bias_relu_backward, relu, relu_backward

_kernels: dict = {}


def _compiled(name, parallel):
    """The loops, compiled once per process on first use (and cached on disk)."""
    if not _kernels:
        _compiler.register_helpers()
        _compiler.jitable(bias_relu)
        _compiler.jitable(bias_relu_backward)
        built = {}
        for threaded in (False, True):
            # New function objects for each: Numba's cache keys on the
            # function's name and code, not on parallel=.
            for fn in _loops():
                kind = "parallel" if threaded else "serial"
                _compiler.stamped_name(fn, f"bias_relu_{fn.__name__}_{kind}", bias_relu,
                                       bias_relu_backward, relu, relu_backward)
                built[fn.__name__, threaded] = _compiler.njit(fn, parallel=threaded, cache=True)
        _kernels.update(built)  # all at once: another thread may be reading
    return _kernels[name, parallel]


def _loops():
    import numba

    def forward(x, b, out):
        rows, cols = x.shape
        for i in numba.prange(rows):
            for j in range(cols):
                out[i, j] = bias_relu(x[i, j], b[j])

    def backward(g, x, b, grad_x):
        rows, cols = x.shape
        for i in numba.prange(rows):
            for j in range(cols):
                grad_x[i, j] = bias_relu_backward(g[i, j], x[i, j], b[j])

    return forward, backward


def forward(parallel, x, bias, out):
    """``out = relu(x + bias)`` on 2-D C-contiguous arrays (out x or apart)."""
    run_loop(lambda p: _compiled("forward", p), parallel, (x, bias, out))


def backward(parallel, grad, x, bias, grad_x):
    run_loop(lambda p: _compiled("backward", p), parallel, (grad, x, bias, grad_x))
