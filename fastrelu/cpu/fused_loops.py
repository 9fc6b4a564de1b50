"""CPU loops of ``bias_relu``: relu(x + bias) in one pass over a dense
layer's output (bias along the last axis), and its gradient.

Each element's value comes from ``definitions.bias_relu`` and
``bias_relu_backward``, as on every other path.  Imported on first use.
"""

from .. import _compiler
from .pool import run_loop
from ..definitions import bias_relu, bias_relu_backward, relu, relu_backward

_KERNELS = _compiler.Memo()


def _compiled(name, parallel):
    """The loops, compiled once per process on first use (and cached on disk)."""
    return _KERNELS.get((name, parallel), _build, name, parallel)


def _build(name, parallel):
    _compiler.register_helpers()
    _compiler.jitable(bias_relu)
    _compiler.jitable(bias_relu_backward)
    # A new function object for each: Numba's cache keys on the function's
    # name and code, not on parallel=.
    fn = _loops()[name]
    kind = "parallel" if parallel else "serial"
    _compiler.stamped_name(fn, f"bias_relu_{name}_{kind}", bias_relu, bias_relu_backward, relu,
                           relu_backward)
    return _compiler.njit(fn, parallel=parallel, cache=True)


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

    return {"forward": forward, "backward": backward}


def forward(parallel, x, bias, out):
    """``out = relu(x + bias)`` on 2-D C-contiguous arrays (out x or apart)."""
    run_loop(lambda p: _compiled("forward", p), parallel, (x, bias, out))


def backward(parallel, grad, x, bias, grad_x):
    run_loop(lambda p: _compiled("backward", p), parallel, (grad, x, bias, grad_x))
