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

from typing import Any

import numpy as np

from . import _docs, _dtypes, _validate, dispatch
from ._types import Array, BackendName
from .definitions import GATED, Gated

_F32 = np.dtype(np.float32)


def _public(gated):
    """The public ``f(gate, up, *, out=None, backend=None, stream=None)`` of
    ``gated`` and its ``f_backward(grad, gate, up, ...)``: reglu's, swiglu's
    and what make_gated makes."""
    name, backward_name = gated.name, gated.name + "_backward"

    def forward(gate: Array, up: Array, *, out: Array = None,
                backend: BackendName = None, stream: Any = None) -> Array:
        if stream is not None:
            return dispatch.on_stream(stream, forward, gate, up, out=out, backend=backend)
        return _forward(gated, gate, up, out, backend, name)

    def backward(grad: Array, gate: Array, up: Array, *, out: tuple[Array, Array] | None = None,
                 backend: BackendName = None, stream: Any = None) -> tuple[Array, Array]:
        if stream is not None:
            return dispatch.on_stream(stream, backward, grad, gate, up, out=out, backend=backend)
        return _backward(gated, grad, gate, up, out, backend, backward_name)

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
    if stream is not None:
        return dispatch.on_stream(stream, geglu, gate, up, approximate, out=out, backend=backend)
    return _forward(_geglu(approximate, "geglu"), gate, up, out, backend, "geglu")


@_docs.gated(approximate=True)
def geglu_backward(grad: Array, gate: Array, up: Array, approximate: str = "none", *,
                   out: tuple[Array, Array] | None = None,
                   backend: BackendName = None, stream: Any = None) -> tuple[Array, Array]:
    if stream is not None:
        return dispatch.on_stream(stream, geglu_backward, grad, gate, up, approximate,
                                  out=out, backend=backend)
    return _backward(_geglu(approximate, "geglu_backward"), grad, gate, up, out, backend,
                     "geglu_backward")


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
    if stream is not None:
        return dispatch.on_stream(stream, glu, x, dim, out=out, backend=backend)
    if not dispatch.is_chunked(x):
        (x,) = _validate.as_arrays((x,), "glu")
    up, gate = _halves("glu", x, dim)
    return _forward(GATED["glu"], gate, up, out, backend, "glu")


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
    if stream is not None:
        return dispatch.on_stream(stream, glu_backward, grad, x, dim, out=out, backend=backend)
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
    _backward(GATED["glu"], grad, gate, up, (grad_gate, grad_up), backend, name)
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


def _forward(gated, gate, up, out, backend, name):
    if dispatch.is_chunked(gate) or dispatch.is_chunked(up):
        _no_out_for_chunked(name, out)
        return dispatch.chunked.gated(gated, gate, up, backend, name)
    dispatch.refuse_chunked(name, out)
    gate, up = _validate.as_arrays((gate, up), name)
    # The gate activation's limits: the multiply by up adds little to its cost.
    limits = dispatch.parallel_limits(gated.activation.name, "forward", gate.dtype)
    chosen = dispatch.backend_for("gated", backend, gate, name, up, out, limits=limits)
    if chosen.device:
        return chosen.gated_device(gated, gate, up, out, name)
    _validate.check_inputs(name, _validate.FLOATS_ONLY, "forward", [gate, up], ("gate", "up"))
    if out is None:
        out = np.empty(gate.shape, gate.dtype)
    else:
        _validate.check_out(name, out, gate)
    if gate.size:
        _run_rows([gate, up], [out], lambda g, u, o: chosen.gated(gated, g, u, o))
        dispatch.note_size(out.nbytes, limits)
    return out


def _backward(gated, grad, gate, up, out, backend, name):
    if out is not None and not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{name}: out must be a pair (grad_gate, grad_up), "
                        f"not {type(out).__name__}")
    results = () if out is None else out
    if any(dispatch.is_chunked(a) for a in (grad, gate, up)):
        _no_out_for_chunked(name, out)
        return dispatch.chunked.gated_backward(gated, grad, gate, up, backend, name)
    dispatch.refuse_chunked(name, *results)
    grad, gate, up = _validate.as_arrays((grad, gate, up), name)
    limits = dispatch.parallel_limits(gated.activation.name, "backward", gate.dtype)
    chosen = dispatch.backend_for("gated_backward", backend, gate, name, grad, up, *results,
                                  limits=limits)
    if chosen.device:
        return chosen.gated_backward_device(gated, grad, gate, up, out, name)
    _validate.check_inputs(name, _validate.FLOATS_ONLY, "forward", [grad, gate, up], ("grad", "gate", "up"))
    if out is None:
        grad_gate, grad_up = np.empty(gate.shape, gate.dtype), np.empty(gate.shape, gate.dtype)
    else:
        grad_gate, grad_up = out
        for result in out:
            _validate.check_out(name, result, gate)
        if np.shares_memory(grad_gate, grad_up):
            raise ValueError(f"{name}: the two gradients of out must not share memory")
    if gate.size:
        _run_rows([grad, gate, up], [grad_gate, grad_up],
                  lambda d, g, u, dg, du: chosen.gated_backward(gated, d, g, u, dg, du))
        dispatch.note_size(gate.nbytes, limits)
    return grad_gate, grad_up


def _no_out_for_chunked(name, out):
    if out is not None:
        raise TypeError(f"{name}: out= is not supported with Dask arrays (they are immutable); "
                        "use the returned array, or da.store() it into a target")


def _rows(a):
    """``a`` as a 2-D ``(rows, columns)`` view whose columns are next to each
    other in memory, or None where that takes a copy."""
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.shape[-1] > 1 and a.strides[-1] != a.itemsize:
        return None
    view = a.view()
    try:
        view.shape = (a.size // a.shape[-1], a.shape[-1])  # raises where it needs a copy
    except AttributeError:
        return None
    return view


def _run_rows(sources, results, operation):
    """``operation(*sources, *results)`` on the backends' layout (see
    Backend.gated): row views, copies where a view cannot be had, float16
    and bfloat16 computed in float32, and results staged where they partly
    overlap a source, then copied back."""
    compute = _F32 if _dtypes.is_half(sources[0].dtype) else sources[0].dtype
    rows = []
    for source in sources:
        view = _rows(source) if source.dtype == compute else None
        rows.append(view if view is not None else
                    _rows(np.ascontiguousarray(source, dtype=compute)))
    targets = []
    for result in results:
        view = _rows(result) if result.dtype == compute else None
        if view is None or any(_validate.partly_overlaps(result, s) for s in sources):
            view = np.empty(result.shape, compute).reshape(rows[0].shape)
        targets.append(view)
    operation(*rows, *targets)
    for result, target in zip(results, targets):
        if not np.shares_memory(result, target):
            np.copyto(result, target.reshape(result.shape), casting="unsafe")
