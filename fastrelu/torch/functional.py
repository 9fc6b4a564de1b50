"""``torch.nn.functional``'s activations, by its names and signatures, on
fastrelu's kernels: tensors in, tensors out, autograd included.

    import fastrelu.torch.functional as FF
    y = FF.gelu(x, approximate="tanh")
    FF.relu(h, inplace=True)

Each also takes a keyword ``backend=``.  The elementwise ones are made from
their Definition (its parameters and defaults, and ``inplace`` where
PyTorch's function has it); gelu, prelu, rrelu and glu are written here.
"""

import inspect

import numpy as np

from .. import definitions
from ._autograd import _RReLUFunction, apply
from ._autograd import glu as _glu
from ._autograd import prelu as _prelu


def _functional(definition):
    """``F.NAME(input, *params, inplace=False, *, backend=None)`` for ``definition``:
    its parameters with their defaults, then ``inplace`` where PyTorch's
    function has it (``torch_inplace``), by position or by name."""
    name, count = definition.name, len(definition.params)
    P = inspect.Parameter
    parameters = [P("input", P.POSITIONAL_OR_KEYWORD)]
    parameters += [P(p, P.POSITIONAL_OR_KEYWORD, default=d) for p, d in definition.params]
    if definition.torch_inplace:
        parameters.append(P("inplace", P.POSITIONAL_OR_KEYWORD, default=False))
    signature = inspect.Signature(parameters)
    defaults = tuple(d for _, d in definition.params)

    def function(*args, backend=None, **kwargs):
        if kwargs or not 1 <= len(args) <= len(parameters):  # by name: bound as PyTorch's
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            args = tuple(bound.arguments.values())
        params = args[1:1 + count] + defaults[len(args) - 1:]
        inplace = args[1 + count] if len(args) > 1 + count else False
        return apply(name, args[0], *params, backend=backend, inplace=inplace)

    function.__name__ = function.__qualname__ = name
    function.__module__ = __name__
    function.__doc__ = f"``{definition.torch_equivalent}`` on fastrelu's kernels, plus ``backend=``."
    function.__signature__ = signature.replace(parameters=[  # type: ignore[attr-defined]
        *parameters, P("backend", P.KEYWORD_ONLY, default=None)])
    return function


#: The functions made from their Definition, by name.
_MADE = {d.name: _functional(d) for d in definitions.BUILTIN.values()
         if d.torch_class and not d.written_out}
globals().update(_MADE)


def gelu(input, approximate="none", *, backend=None):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return apply("gelu" if approximate == "none" else "gelu_tanh", input, backend=backend)


def prelu(input, weight, *, backend=None):
    return _prelu(input, weight, backend=backend)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False, *, backend=None,
          generator=None):
    """``F.rrelu``; in training the slopes come from ``generator`` (a NumPy
    Generator; default a new one).  ``inplace`` is refused in training."""
    if not training:
        return _MADE["leaky_relu"](input, (lower + upper) / 2, inplace, backend=backend)
    if inplace:
        raise ValueError("rrelu: inplace=True in training is not supported; use the result")
    rng = np.random.default_rng() if generator is None else generator
    return _RReLUFunction.apply(input, float(lower), float(upper), rng, backend)


def glu(input, dim=-1, *, backend=None):
    return _glu(input, dim, backend=backend)
