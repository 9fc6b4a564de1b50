"""User-defined activations: a scalar Python function becomes an activation
with the same contract as the built-ins, on every backend."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .api import make_activation
from .definitions import Definition

_EMPTY = inspect.Parameter.empty


def activation(func: Callable[..., float] | None = None, *,
               grad: Callable[..., float] | None = None, name: str | None = None) -> Any:
    """Turn a scalar function ``f(x, *params)`` into an activation.

    The result has the built-ins' contract on every backend, ``cuda``
    included: ``f(arr, *params, out=None, backend=None)`` and
    ``f.backward(grad, arr, *params, ...)`` returning ``grad * f'(x)``.
    Both functions must compile in Numba's nopython mode (arithmetic,
    ``math`` functions, branches; helpers they call must be ``@numba.njit``
    functions); any number of scalar parameters after ``x``, with or
    without defaults.

    Args:
        func: The scalar function (when used as ``@fastrelu.activation``).
        grad: Its derivative ``f'(x, *params)``; without it ``.backward``
            raises an error saying how to add one.
        name: The activation's name (default the function's).

    Returns:
        The activation (or, called with only keywords, the decorator).

    Raises:
        TypeError: ``func`` is not callable; ``*args`` or keyword-only parameters.
        CompileError: (at the first call) Numba cannot compile the function;
            the message names it and the reason.

    Examples:
        >>> import numpy as np, fastrelu
        >>> @fastrelu.activation(grad=lambda x: 1.0 if x > 0 else 0.05)
        ... def my_leaky(x):
        ...     return x if x > 0 else 0.05 * x
        >>> my_leaky(np.array([-2.0, 3.0])).tolist()
        [-0.1, 3.0]
        >>> my_leaky.backward(np.ones(2), np.array([-2.0, 3.0])).tolist()
        [0.05, 1.0]
    """
    if func is None:
        return lambda f: activation(f, grad=grad, name=name)
    if not callable(func):
        raise TypeError(f"fastrelu.activation decorates a function, not {type(func).__name__}")
    params = list(inspect.signature(func).parameters.values())
    if not params or any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
        raise TypeError(f"{func.__qualname__}: an activation takes x and then its scalar "
                        "parameters, all positional (no *args or **kwargs)")
    extra = params[1:]
    if grad is not None and not callable(grad):
        raise TypeError("grad must be a function grad(x, *params) giving the derivative")

    from . import _compiler

    # Registered functions can be called from compiled code on every target.
    _compiler.jitable(func)
    if grad is not None:
        _compiler.jitable(grad)
    nparams = len(extra)
    definition = Definition(
        name=name or func.__name__,
        forward=func,
        backward=_chain_rule(grad, nparams) if grad is not None else _no_gradient(func, nparams),
        reference=_reference(func, nparams),
        reference_backward=_reference_backward(grad, nparams) if grad is not None
        else _no_gradient(func, nparams),
        params=tuple((p.name, p.default) for p in extra),
        torch_equivalent="none: user-defined",
    )
    # Where func was: the activation replaces it there, and pickles by reference.
    act = make_activation(definition, func.__doc__ or f"User-defined activation {definition.name}.",
                          module=func.__module__, qualname=func.__qualname__)
    act.has_gradient = grad is not None  # type: ignore[attr-defined]
    act.py_func = func  # type: ignore[attr-defined]
    act.py_grad = grad  # type: ignore[attr-defined]
    return act


def _chain_rule(grad, nparams):
    """``backward(g, x, *params) = g * grad(x, *params)``, its parameters
    written out: Numba's ufunc compiler does not take ``*args``."""
    from . import _source

    args = ["x", *(f"p{k}" for k in range(nparams))]
    return _source.generated("backward", ["g", *args], f"return g * grad({', '.join(args)})\n",
                               {"grad": grad}, __name__)


def _no_gradient(func, nparams):
    def backward(*args):
        raise NotImplementedError(
            f"activation {func.__name__!r} has no gradient: define it with "
            f"@fastrelu.activation(grad=lambda x{''.join(', p%d' % i for i in range(nparams))}: ...) "
            "giving the derivative of the function")
    backward.missing_gradient = True
    return backward


# The np.frompyfunc ufuncs are made at each call: they cannot be pickled, and
# a Definition must be (Dask sends it to worker processes).
def _reference(func, nparams):
    def reference(x, *params):
        elementwise = np.frompyfunc(func, 1 + nparams, 1)
        return np.asarray(elementwise(x, *params)).astype(x.dtype)
    return reference


def _reference_backward(grad, nparams):
    def reference_backward(g, x, *params):
        elementwise = np.frompyfunc(grad, 1 + nparams, 1)
        return (g * np.asarray(elementwise(x, *params)).astype(g.dtype)).astype(g.dtype)
    return reference_backward
