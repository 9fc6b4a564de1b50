"""fastrelu: fast, JIT-compiled ReLU-family activations, forward and backward.

    >>> import numpy as np, fastrelu
    >>> fastrelu.relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])

Importing fastrelu compiles nothing and never touches CUDA: kernels are
built on first use, per activation and dtype.
"""

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
from .api import (
    Activation,
    activations,
    celu,
    celu_backward,
    elu,
    elu_backward,
    gelu,
    gelu_backward,
    hardsigmoid,
    hardsigmoid_backward,
    hardswish,
    hardswish_backward,
    leaky_relu,
    leaky_relu_backward,
    mish,
    mish_backward,
    prelu,
    prelu_backward,
    relu,
    relu6,
    relu6_backward,
    relu_backward,
    rrelu,
    rrelu_backward,
    selu,
    selu_backward,
    sigmoid,
    sigmoid_backward,
    sigmoid_backward_from_output,
    elu_backward_from_output,
    celu_backward_from_output,
    selu_backward_from_output,
    silu,
    silu_backward,
    softplus,
    softplus_backward,
    tanh,
    tanh_backward,
    tanh_backward_from_output,
)
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

__all__ = [
    "__version__", "Activation", "Backend", "CompileError", "activation", "activations",
    "bias_relu", "bias_relu_backward", "relu_mask", "relu_backward_mask",
    "all_backends", "backends", "get_backend", "register_backend", "set_backend",
    "use_backend", "use_stream", "relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "relu6",
    "relu6_backward", "prelu", "prelu_backward", "rrelu", "rrelu_backward", "elu",
    "elu_backward", "selu", "selu_backward", "celu", "celu_backward", "gelu", "gelu_backward",
    "silu", "silu_backward", "softplus", "softplus_backward", "mish", "mish_backward",
    "hardswish", "hardswish_backward", "hardsigmoid", "hardsigmoid_backward", "sigmoid",
    "sigmoid_backward", "sigmoid_backward_from_output", "tanh", "tanh_backward",
    "tanh_backward_from_output", "elu_backward_from_output", "celu_backward_from_output",
    "selu_backward_from_output", "glu", "glu_backward", "reglu", "reglu_backward", "geglu",
    "geglu_backward", "swiglu", "swiglu_backward", "make_gated",
]
