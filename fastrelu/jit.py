"""The activations' scalar formulas, callable from your own compiled code.

    import numba
    from fastrelu import jit as frj

    @numba.njit
    def fused(x, b, out):
        for i in range(x.size):
            out[i] = frj.gelu(x[i] + b)

Every function here works on one scalar inside ``@numba.njit`` (serial or
``parallel=True``), ``@numba.vectorize`` and ``@numba.cuda.jit`` code, and
as plain Python.  ``NAME_backward(g, x, *params)`` gives ``g * f'(x)``.
Parameters are positional, in PyTorch's order, without defaults
(``leaky_relu(x, 0.01)``, ``softplus(x, 1.0, 20.0)``).  Importing this
module imports Numba.
"""

from . import _compiler
from .definitions import BUILTIN, PER_ELEMENT_SLOPE

_compiler.register_helpers()

__all__ = []
for _definition in [*BUILTIN.values(), PER_ELEMENT_SLOPE]:
    for _name, _formula in ((_definition.name, _definition.forward),
                            (_definition.name + "_backward", _definition.backward)):
        globals()[_name] = _compiler.jitable(_formula)
        __all__.append(_name)
del _definition, _name, _formula
