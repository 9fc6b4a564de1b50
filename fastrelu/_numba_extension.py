"""The public activations inside users' ``@numba.njit`` code.

``fastrelu.relu(x)``, ``fastrelu.gelu(x, "tanh")``, ``fastrelu.elu_backward(g,
x, 0.5, out=y)`` ... written in an ``@njit`` function compile into it: each
public function gets a Numba overload that loops over the arrays with the
activation's scalar formula (the same formula, with the same options, as
the ``numba`` backend's loops), or applies it to scalars.

Numba calls :func:`init` (the ``numba_extensions`` entry point in
pyproject.toml) before it compiles anything, so ``import fastrelu`` itself
never imports Numba.
"""

import functools

import numpy as np

_registered = False


def init():
    """Register the overloads, once (Numba's extension entry point)."""
    global _registered
    if _registered:
        return
    _registered = True
    from . import _compiler, api
    from .definitions import BUILTIN

    _compiler.register_helpers()
    # The activations made from their Definition; prelu and rrelu (a weight,
    # random slopes) have none, gelu's is below.
    for forward in api.MADE.values():
        definition = forward.definition
        for direction, function, formula in (("forward", forward, definition.forward),
                                             ("backward", forward.backward, definition.backward)):
            _register(function, direction, definition.params, lambda chosen, f=formula: f)
    # gelu's approximate picks the formula: a constant string when compiling.
    variants = {"none": BUILTIN["gelu"], "tanh": BUILTIN["gelu_tanh"]}
    for direction, function in (("forward", api.gelu), ("backward", api.gelu_backward)):
        _register(function, direction, (("approximate", "none"),),
                  functools.partial(_gelu_formula, variants, direction, function.__name__))


def _gelu_formula(variants, direction, name, approximate):
    from numba.core.errors import TypingError

    value = approximate  # the default as it is; else a literal (or omitted) string's type
    if not isinstance(value, str):
        value = getattr(approximate, "literal_value", getattr(approximate, "value", None))
    if value not in variants:
        raise TypingError(f"fastrelu.{name} in @njit code: approximate must be the constant "
                          f"'none' or 'tanh', not {approximate}")
    definition = variants[value]
    return definition.forward if direction == "forward" else definition.backward


# The typing function and the implementation must have the activation's own
# parameter names (Numba folds a call's arguments by them), so both are
# written out per activation (_source.generated).


def _signature(arrays, params):
    return [*arrays.split(", "), *(f"{p}={d!r}" for p, d in params), "out=None", "backend=None"]


def _register(function, direction, params, pick_formula):
    """An overload of ``function``; ``pick_formula(first parameter's type)``
    gives the scalar formula (gelu's depends on ``approximate``)."""
    from numba.extending import overload

    from . import _compiler, _source

    arrays = "x" if direction == "forward" else "grad, x"
    names = [p for p, _ in params]
    selector = "approximate" in names  # a parameter that picks the formula, passed to none

    def build(array_types, param_types, out, backend):
        _check(function.__name__, array_types, out, backend)
        formula = _compiler.jitable(pick_formula(param_types[0] if param_types else None))
        scalar = _is_scalar(array_types[-1])
        contiguous = (not scalar and all(a.layout == "C" for a in array_types)
                      and getattr(out, "layout", "C") == "C")
        return _implementation(formula, arrays, tuple(params), selector, scalar, contiguous)

    body = f"return build(({arrays},), ({''.join(f'{p}, ' for p in names)}), out, backend)\n"
    typer = _source.generated("typer", _signature(arrays, params), body, {"build": build},
                                __name__)
    overload(function, prefer_literal=selector,
             jit_options={"fastmath": set(_compiler.FASTMATH),
                          "error_model": _compiler.ERROR_MODEL})(typer)


@functools.cache
def _implementation(formula, arrays, params, selector, scalar, contiguous):
    """The implementation: ``formula`` on scalars, or over arrays of any
    layout (C-contiguous: one flat loop, which LLVM vectorises) into ``out``
    or a new array; parameters in the input's precision, as the backends
    pass them."""
    from . import _source

    names = [p for p, _ in params]
    passed = names[1:] if selector else names
    casts = "".join(f", dtype({p})" for p in passed)
    if scalar:
        body = f"dtype = type(x)\nreturn formula({arrays}{casts})\n"
    else:
        shape_check = "" if arrays == "x" else (
            "if grad.shape != x.shape:\n"
            "    raise ValueError('fastrelu: grad and x differ in shape')\n")
        body = (shape_check + "dtype = x.dtype.type\n"
                "if out is None:\n"
                "    result = np.empty_like(x)\n"
                "else:\n"
                "    if out.shape != x.shape:\n"
                "        raise ValueError('fastrelu: out and x differ in shape')\n"
                "    result = out\n")
        if contiguous:
            flat = ", ".join(f"{a}.reshape(-1)" for a in arrays.split(", "))
            loads = ", ".join(f"{a}f[i]" for a in arrays.split(", "))
            flat_names = ", ".join(a + "f" for a in arrays.split(", "))
            body += (f"{flat_names}, rf = {flat}, result.reshape(-1)\n"
                     "for i in range(rf.size):\n"
                     f"    rf[i] = formula({loads}{casts})\n")
        else:
            loads = ", ".join(f"{a}[index]" for a in arrays.split(", "))
            body += ("for index in np.ndindex(x.shape):\n"
                     f"    result[index] = formula({loads}{casts})\n")
        body += "return result\n"
    return _source.generated("impl", _signature(arrays, params), body,
                               {"np": np, "formula": formula}, __name__)


def _is_scalar(t):
    from numba import types

    return isinstance(t, types.Float)


def _check(name, array_types, out, backend):
    """A clear TypingError, in fastrelu's words, for what the loops do not take."""
    from numba import types
    from numba.core.errors import TypingError

    def absent(t):
        return t is None or isinstance(t, (types.Omitted, types.NoneType))

    first = array_types[-1]
    if _is_scalar(first):
        if not all(_is_scalar(a) for a in array_types) or not absent(out):
            raise TypingError(f"fastrelu.{name} in @njit code: on scalars, scalars only and no out=")
    elif not all(isinstance(a, types.Array) and a.dtype in (types.float32, types.float64)
                 for a in array_types):
        raise TypingError(f"fastrelu.{name} in @njit code takes float32 or float64 arrays "
                          f"(or scalars), not {', '.join(str(a) for a in array_types)}")
    elif len({(a.dtype, a.ndim) for a in array_types}) > 1:
        raise TypingError(f"fastrelu.{name} in @njit code: the arrays differ in dtype or "
                          f"dimensions ({', '.join(str(a) for a in array_types)})")
    elif not absent(out) and not (isinstance(out, types.Array) and out.dtype == first.dtype
                                  and out.ndim == first.ndim and out.mutable):
        raise TypingError(f"fastrelu.{name} in @njit code: out must be a writeable "
                          f"{first.ndim}-d array of {first.dtype}, not {out}")
    if not absent(backend):
        raise TypingError(f"fastrelu.{name} in @njit code: backend= has no meaning there (the "
                          "loop compiles into your function); leave it out")
