"""Gated activations: ``act(gate) * up`` in one pass, forward and backward.

A transformer MLP's hidden layer projects its input twice (often one
matmul of width 2H, split in halves) and multiplies one projection, through
an activation, by the other: ReGLU (relu), GEGLU (gelu), SwiGLU (silu), and
PyTorch's GLU (``F.glu``: first half * sigmoid(second half)).  Composed
from separate calls this takes two passes and an intermediate array; here
the forward reads ``gate`` and ``up`` once and writes the result, and the
backward reads ``grad``, ``gate`` and ``up`` once and writes both
gradients, which may go over ``gate`` and ``up`` themselves.  ``gate`` and
``up`` may be the two halves of one packed array (``x[..., :H]``,
``x[..., H:]``): they are used as they are, without a copy.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import _docs, _validate, dispatch
from ._types import Array, BackendName
from .definitions import GATED, Gated


def _public(gated):
    """The public ``f(gate, up, *, out=None, backend=None, stream=None)`` of
    ``gated`` and its ``f_backward(grad, gate, up, ...)``: reglu's, swiglu's
    and what make_gated makes."""
    name, backward_name = gated.name, gated.name + "_backward"

    def forward(gate: Array, up: Array, *, out: Array = None,
                backend: BackendName = None, stream: Any = None) -> Array:
        return _forward(gated, gate, up, out, backend, name, stream)

    def backward(grad: Array, gate: Array, up: Array, *, out: tuple[Array, Array] | None = None,
                 backend: BackendName = None, stream: Any = None) -> tuple[Array, Array]:
        return _backward(gated, grad, gate, up, out, backend, backward_name, stream)

    # Named as the module's attributes, so that the built-ins pickle by name.
    forward.__name__ = forward.__qualname__ = name
    backward.__name__ = backward.__qualname__ = backward_name
    return forward, backward


def _builtin(name):
    """:func:`_public` of ``GATED[name]``, with the gated docstrings."""
    gated = GATED[name]
    forward, backward = _public(gated)
    summary = (f"``{gated.activation.name}(gate) * up`` in one pass "
               f"(PyTorch: ``{gated.torch_equivalent}``).")
    return _docs.gated(summary)(forward), _docs.gated()(backward)


reglu, reglu_backward = _builtin("reglu")
swiglu, swiglu_backward = _builtin("swiglu")


@_docs.gated("``gelu(gate, approximate) * up`` in one pass (PyTorch: ``F.gelu(gate) * up``).",
             approximate=True)
def geglu(gate: Array, up: Array, approximate: str = "none", *, out: Array = None,
          backend: BackendName = None, stream: Any = None) -> Array:
    return _forward(_geglu(approximate, "geglu"), gate, up, out, backend, "geglu", stream)


@_docs.gated(approximate=True)
def geglu_backward(grad: Array, gate: Array, up: Array, approximate: str = "none", *,
                   out: tuple[Array, Array] | None = None,
                   backend: BackendName = None, stream: Any = None) -> tuple[Array, Array]:
    return _backward(_geglu(approximate, "geglu_backward"), grad, gate, up, out, backend,
                     "geglu_backward", stream)


@_docs.filled
def glu(x: Array, dim: int = -1, *, out: Array = None,
        backend: BackendName = None, stream: Any = None) -> Array:
    """PyTorch's ``F.glu``: ``x`` split in halves ``a, b`` along ``dim``, ``a * sigmoid(b)``.

    Args:
        x: The input; its size along ``dim`` must be even.
        dim: The axis to halve (default the last).
        out: Where to write the result (half of ``x``'s size along ``dim``).
        {backend}
        {stream}

    Returns:
        The result, of ``x``'s dtype, half its size along ``dim``.

    Raises:
        TypeError: A dtype other than a float.
        ValueError: An odd size along ``dim``, an ``out`` of another shape.

    Examples:
        >>> import numpy as np, fastrelu
        >>> fastrelu.glu(np.array([[1.0, 2.0, 0.0, 1.0]])).round(4).tolist()
        [[0.5, 1.4621]]
    """
    if not dispatch.is_chunked(x):
        (x,) = _validate.as_arrays((x,), "glu")
    up, gate = _halves("glu", x, dim)
    return _forward(GATED["glu"], gate, up, out, backend, "glu", stream)


@_docs.filled
def glu_backward(grad: Array, x: Array, dim: int = -1, *, out: Array = None,
                 backend: BackendName = None, stream: Any = None) -> Array:
    """The gradient of :func:`glu` with respect to ``x``, in one pass.

    Args:
        grad: The gradient of the loss with respect to glu's result.
        x: The forward's input.
        dim: The axis glu halved.
        out: Where to write the gradient (``x``'s shape); may be ``x`` itself.
        {backend}
        {stream}

    Returns:
        The gradient, of ``x``'s shape and dtype.

    Raises:
        TypeError: A dtype other than a float.
        ValueError: An odd size along ``dim``, shapes that do not match.

    Examples:
        >>> import numpy as np, fastrelu
        >>> x = np.array([[1.0, 2.0, 0.0, 1.0]])
        >>> fastrelu.glu_backward(np.ones((1, 2)), x).round(4).tolist()
        [[0.5, 0.7311, 0.25, 0.3932]]
    """
    name = "glu_backward"
    if dispatch.is_chunked(grad) or dispatch.is_chunked(x):
        _no_out_for_chunked(name, out)
        up, gate = _halves(name, x, dim)
        grad_gate, grad_up = _backward(GATED["glu"], grad, gate, up, None, backend, name)
        return dispatch.chunked.concatenate([grad_up, grad_gate], axis=dim)
    (grad, x) = _validate.as_arrays((grad, x), name)
    up, gate = _halves(name, x, dim)
    if out is None:
        out = np.empty(x.shape, x.dtype)
    else:
        _validate.check_out(name, out, x)
    grad_up, grad_gate = np.split(out, 2, axis=dim)
    _backward(GATED["glu"], grad, gate, up, (grad_gate, grad_up), backend, name, stream)
    return out


def make_gated(activation, name: str | None = None):
    """``act(gate) * up`` fused, for any activation without parameters.

    ``activation`` is a built-in or one made with ``@fastrelu.activation``;
    the result runs on every CPU backend, compiled once per process (and
    cached on disk where ``activation`` is a built-in).

    Args:
        activation: A fastrelu activation without parameters.
        name: The name of the result (default ``activation.name + "_glu"``).

    Returns:
        ``f(gate, up, *, out=None, backend=None, stream=None)``, with
        ``f.backward(grad, gate, up, *, out=None, backend=None, stream=None)``
        giving ``(grad_gate, grad_up)``.

    Raises:
        TypeError: Not a fastrelu activation, or one with parameters.

    Examples:
        >>> import numpy as np, fastrelu
        >>> mish_glu = fastrelu.make_gated(fastrelu.mish)
        >>> mish_glu(np.array([0.0, 1.0]), np.array([2.0, 2.0])).round(4).tolist()
        [0.0, 1.7302]
    """
    definition = getattr(activation, "definition", None)
    if definition is None:
        raise TypeError("make_gated takes a fastrelu activation (a built-in, or one made with "
                        f"@fastrelu.activation), not {type(activation).__name__}")
    if definition.params:
        raise TypeError(f"make_gated: {definition.name} has parameters "
                        f"({', '.join(p for p, _ in definition.params)}); bind them in an "
                        "activation of its own first")
    gated = Gated(name or definition.name + "_glu", definition, "user-defined")

    function, backward = _public(gated)
    function.__doc__ = f"{definition.name}(gate) * up, fused."
    function.backward = backward  # type: ignore[attr-defined]
    function.gated = gated  # type: ignore[attr-defined]
    return function


def _geglu(approximate, name):
    if approximate == "none":
        return GATED["geglu"]
    if approximate == "tanh":
        return GATED["geglu_tanh"]
    raise ValueError(f"{name}: approximate must be 'none' or 'tanh', not {approximate!r}")


def _halves(name, x, dim):
    """``x``'s two halves along ``dim`` (views), checked as F.glu checks them."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name}: dim must be an int, not {type(dim).__name__}")
    if x.ndim == 0:
        raise ValueError(f"{name} does not take a 0-d array: it halves one of its dimensions")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"{name}: dim {dim} is out of range for an array of {x.ndim} dimensions")
    axis = int(dim) % x.ndim  # (a GPU array's shape may take no negative index)
    if x.shape[axis] % 2:
        raise ValueError(f"{name}: the halved dimension must be even, but dimension {dim} "
                         f"has size {x.shape[axis]}")
    half = x.shape[axis] // 2
    index = [slice(None)] * x.ndim
    first, second = list(index), list(index)
    first[axis], second[axis] = slice(None, half), slice(half, None)
    return x[tuple(first)], x[tuple(second)]


def run_forward(gated, gate, up, backend):
    """The forward on host arrays (also each chunk of a Dask array's)."""
    return _forward(gated, gate, up, None, backend, gated.name)


def run_backward(gated, grad, gate, up, backend):
    return _backward(gated, grad, gate, up, None, backend, gated.name + "_backward")


def _forward(gated, gate, up, out, backend, name, stream=None):
    result = dispatch.device_short_call(backend, stream, gated, "forward", (gate, up), out)
    if result is not None:
        return result
    return dispatch.call(_forward_operation(gated), name, (gate, up), out, backend, stream)


def _backward(gated, grad, gate, up, out, backend, name, stream=None):
    if out is not None and not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{name}: out must be a pair (grad_gate, grad_up), "
                        f"not {type(out).__name__}")
    return dispatch.call(_backward_operation(gated), name, (grad, gate, up), out, backend, stream)


class _Forward(dispatch.Operation):
    """act(gate) * up: a backend's ``gated``, the gate activation's cost."""

    operation = "gated"
    labels: tuple = ("gate", "up")

    def __init__(self, gated):
        self.gated, self.cost_of = gated, gated.activation.name

    def chunked(self, name, arrays, out, backend, others):
        _no_out_for_chunked(name, out)
        return dispatch.chunked.gated(self.gated, *arrays, backend, name)

    def run(self, backend, sources, targets, others):
        backend.gated(self.gated, *sources, *targets)


class _Backward(_Forward):
    """Both gradients in one pass: ``out`` is None or the pair to write."""

    operation = "gated_backward"
    labels = ("grad", "gate", "up")
    direction = "backward"

    def chunked(self, name, arrays, out, backend, others):
        _no_out_for_chunked(name, out)
        return dispatch.chunked.gated_backward(self.gated, *arrays, backend, name)

    def results(self, name, kind, arrays, out):
        like = arrays[1]
        if out is None:
            return [kind.new(like.shape, like.dtype) for _ in range(2)]
        for result in out:
            _validate.check_out(name, result, like)
        if kind.shares_memory(*out):
            raise ValueError(f"{name}: the two gradients of out must not share memory")
        return list(out)

    def run(self, backend, sources, targets, others):
        backend.gated_backward(self.gated, *sources, *targets)

    def returned(self, kind, results, value, others):
        return tuple(kind.returned(r) for r in results)


@functools.lru_cache(maxsize=64)  # users' make_gated ones come and go
def _forward_operation(gated):
    return _Forward(gated)


@functools.lru_cache(maxsize=64)
def _backward_operation(gated):
    return _Backward(gated)


def _no_out_for_chunked(name, out):
    if out is not None:
        raise TypeError(f"{name}: out= is not supported with Dask arrays (they are immutable); "
                        "use the returned array, or da.store() it into a target")
