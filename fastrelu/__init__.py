"""fastrelu: fast, JIT-compiled ReLU-family activations, forward and backward.

    >>> import numpy as np, fastrelu
    >>> fastrelu.relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])

Importing fastrelu compiles nothing and never touches CUDA: kernels are
built on first use, per activation and dtype.
"""

from typing import TYPE_CHECKING

from .cpu import backends as _cpu_backends
from .cpu.backends import CompileError
from .cuda.backend import CudaBackend as _CudaBackend
from .integrations import dask as _dask  # noqa: F401 (it registers itself with dispatch)
from ._version import __version__
from .custom import activation
from .fused import bias_relu, bias_relu_backward
from .gated import (geglu, geglu_backward, glu, glu_backward, make_gated, reglu, reglu_backward,
                    swiglu, swiglu_backward)
from .masks import relu_backward_mask, relu_mask
from . import api
# (The activations written out in api.py are also in api.PUBLIC_NAMES, below.)
from .api import (Activation, activations, gelu, gelu_backward, prelu,  # noqa: F401
                  prelu_backward, rrelu, rrelu_backward)
from .registry import (
    Backend,
    all_backends,
    backends,
    get_backend,
    register_backend,
    set_backend,
    use_backend,
    use_stream,
)

for _backend in (_cpu_backends.NumpyBackend(), _cpu_backends.SerialBackend(),
                 _cpu_backends.ParallelBackend(), _cpu_backends.UfuncBackend(), _CudaBackend()):
    register_backend(_backend)
del _backend

# The activations made from their entry in definitions.BUILTIN: relu,
# relu_backward, sigmoid_backward_from_output, ... (api.PUBLIC_NAMES).
globals().update({name: getattr(api, name) for name in api.PUBLIC_NAMES})

if TYPE_CHECKING:  # the names made above, for type checkers
    def __getattr__(name: str) -> Activation: ...

__all__ = [
    "__version__", "Activation", "Backend", "CompileError", "activation", "activations",
    "bias_relu", "bias_relu_backward", "relu_mask", "relu_backward_mask",
    "all_backends", "backends", "get_backend", "register_backend", "set_backend",
    "use_backend", "use_stream", *api.PUBLIC_NAMES, "glu", "glu_backward", "reglu",
    "reglu_backward", "geglu", "geglu_backward", "swiglu", "swiglu_backward", "make_gated",
]
