"""``torch.nn.functional``'s activations, by its names and signatures, on
fastrelu's kernels: tensors in, tensors out, autograd included.

    import fastrelu.torch.functional as FF
    y = FF.gelu(x, approximate="tanh")
    FF.relu(h, inplace=True)

Each also takes a keyword ``backend=``.
"""

import numpy as np

from ._autograd import _RReLUFunction, apply
from ._autograd import glu as _glu
from ._autograd import prelu as _prelu


def relu(input, inplace=False, *, backend=None):
    return apply("relu", input, backend=backend, inplace=inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False, *, backend=None):
    return apply("leaky_relu", input, negative_slope, backend=backend, inplace=inplace)


def relu6(input, inplace=False, *, backend=None):
    return apply("relu6", input, backend=backend, inplace=inplace)


def elu(input, alpha=1.0, inplace=False, *, backend=None):
    return apply("elu", input, alpha, backend=backend, inplace=inplace)


def selu(input, inplace=False, *, backend=None):
    return apply("selu", input, backend=backend, inplace=inplace)


def celu(input, alpha=1.0, inplace=False, *, backend=None):
    return apply("celu", input, alpha, backend=backend, inplace=inplace)


def gelu(input, approximate="none", *, backend=None):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return apply("gelu" if approximate == "none" else "gelu_tanh", input, backend=backend)


def silu(input, inplace=False, *, backend=None):
    return apply("silu", input, backend=backend, inplace=inplace)


def mish(input, inplace=False, *, backend=None):
    return apply("mish", input, backend=backend, inplace=inplace)


def softplus(input, beta=1.0, threshold=20.0, *, backend=None):
    return apply("softplus", input, beta, threshold, backend=backend)


def hardswish(input, inplace=False, *, backend=None):
    return apply("hardswish", input, backend=backend, inplace=inplace)


def hardsigmoid(input, inplace=False, *, backend=None):
    return apply("hardsigmoid", input, backend=backend, inplace=inplace)


def sigmoid(input, *, backend=None):
    return apply("sigmoid", input, backend=backend)


def tanh(input, *, backend=None):
    return apply("tanh", input, backend=backend)


def prelu(input, weight, *, backend=None):
    return _prelu(input, weight, backend=backend)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False, *, backend=None,
          generator=None):
    """``F.rrelu``; in training the slopes come from ``generator`` (a NumPy
    Generator; default a new one).  ``inplace`` is refused in training."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace, backend=backend)
    if inplace:
        raise ValueError("rrelu: inplace=True in training is not supported; use the result")
    rng = np.random.default_rng() if generator is None else generator
    return _RReLUFunction.apply(input, float(lower), float(upper), rng, backend)


def glu(input, dim=-1, *, backend=None):
    return _glu(input, dim, backend=backend)
