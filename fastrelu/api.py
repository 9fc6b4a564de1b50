"""The public activation functions and their gradients.

Most are made from their entry in ``definitions.BUILTIN`` by
:func:`make_activation`, with ``dispatch.public_function`` building each
function (a short path for the common call, the checks and the backend's
kernel for the rest); the gradients from the output are built the same
way from ``definitions.FROM_OUTPUT``.  gelu (its ``approximate``), prelu
(a weight per channel) and rrelu (random slopes) are written out here.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np

from ._types import Array, BackendName

from . import _docs, _validate, definitions, dispatch, registry
from .definitions import BUILTIN, FROM_OUTPUT, PER_ELEMENT_SLOPE, Definition


@runtime_checkable
class Activation(Protocol):
    """What every activation is: a plain function ``f(x, *params, out=None,
    backend=None, stream=None)`` with these attributes.  ``f.backward(grad,
    x, *params, out=None, backend=None, stream=None)`` returns
    ``grad * f'(x)``, with ``x`` the forward input.  (Plain functions, not instances of a class: a class's
    ``__call__`` costs a small call a quarter of its time.)

    Examples:
        >>> import fastrelu
        >>> isinstance(fastrelu.silu, fastrelu.Activation), fastrelu.silu.name
        (True, 'silu')
    """

    name: str
    definition: Definition
    backward: Callable[..., Array]

    def __call__(self, x: Array, *params: float, out: Array = None,
                 backend: BackendName = None, stream: Any = None, **kwargs: float) -> Array: ...


def make_activation(definition: Definition, doc: str | None = None,
                    module: str = __name__, qualname: str | None = None) -> Activation:
    """The public function of ``definition`` and its ``backward``.

    ``module`` and ``qualname`` say where the function is found, so that it
    pickles by reference.
    """
    name = definition.name
    params = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
              for p, d in definition.params]
    forward = dispatch.public_function(definition, "forward", _param_parser(definition, name),
                                       ("x",), name)
    example = getattr(definition, "example", ())
    _describe(forward, name, module, qualname or name, doc or definition.summary or (
        f"{name} activation (PyTorch: {definition.torch_equivalent})."), ("x",), params, example)
    backward_name = name + "_backward"
    if getattr(definition.backward, "missing_gradient", False):
        def backward(*args, **kwargs):
            definition.backward()  # raises the explanation
    else:
        backward = dispatch.public_function(definition, "backward",
                                            _param_parser(definition, backward_name),
                                            ("grad", "x"), backward_name)
    # A built-in's backward is also the module's NAME_backward: named so, it
    # pickles by that name and the API reference lists it under it.
    backward_qualname = backward_name if module == __name__ and qualname is None else (
        (qualname or name) + ".backward")
    _describe(backward, backward_name, module, backward_qualname,
              f"Gradient of {name}: grad * {name}'(x).", ("grad", "x"), params, example)
    activation = cast(Activation, forward)
    activation.name = name
    activation.definition = definition
    activation.backward = backward
    return activation


def _describe(function, name, module, qualname, doc, arrays, params, example=()):
    """Name and document a generated function; its signature for help()."""
    function.__name__, function.__module__, function.__qualname__ = name, module, qualname
    direction = "forward" if arrays == ("x",) else "backward"
    function.__doc__ = _docs.docstring(doc, name, arrays, [(p.name, p.default) for p in params],
                                       direction, example)
    positional = inspect.Parameter.POSITIONAL_ONLY  # as a ufunc's
    keywords = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None)
                for k in ("out", "backend", "stream")]
    function.__signature__ = inspect.Signature(
        [*(inspect.Parameter(a, positional) for a in arrays), *params, *keywords])


def checked_params(activation: Activation, args: tuple) -> tuple:
    """``args``, the parameters of a call to ``activation``, checked, with defaults filled in."""
    return _parse_params(activation.definition, activation.name, args, {})


def _param_parser(definition, name):
    """``parse(args, kwargs)``: :func:`_parse_params` for the public function
    ``name``, with the common call (every parameter by position, plain
    floats) checked without building dictionaries: a third of a small
    call's time on the GPU's short path."""
    count = len(definition.params)

    def parse(args, kwargs):
        if not kwargs and len(args) == count and all(type(v) is float for v in args):
            return args
        return _parse_params(definition, name, args, kwargs)

    return parse


def _parse_params(definition, name, args, kwargs):
    """The scalar parameters of a call, checked, with defaults filled in."""
    names = [p for p, _ in definition.params]
    defaults = dict(definition.params)
    if len(args) > len(names):
        raise TypeError(f"{name} takes at most {len(names)} parameters after the arrays "
                        f"({', '.join(names) or 'none'}), got {len(args)}")
    values = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in defaults:
            raise TypeError(f"{name} got an unexpected keyword argument {key!r}")
        if key in values:
            raise TypeError(f"{name} got multiple values for argument {key!r}")
        values[key] = value
    missing = [p for p in names if p not in values and defaults[p] is inspect.Parameter.empty]
    if missing:
        raise TypeError(f"{name} is missing parameter(s) {', '.join(missing)}")
    return _validate.check_params(name, names, [values.get(p, defaults[p]) for p in names])


def _backward_from_output(activation):
    """``grad * f'(x)`` computed from the forward's output ``y = f(x)``."""
    name = activation.name + "_backward_from_output"
    definition = FROM_OUTPUT[activation.name]
    function = dispatch.public_function(definition, "backward", lambda args, kwargs: (
        _parse_params(definition, name, args, kwargs)), ("grad", "y"), name)
    params = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
              for p, d in definition.params]
    note = _ROUNDS if activation.definition.saves_output else _IN_PLACE
    _describe(function, name, __name__, name, (
        f"Gradient of {activation.name} from its output y: grad * ({definition.formula}).\n\n"
        + note.format(name=activation.name)), ("grad", "y"), params,
        activation.definition.example)
    return function


# The note of a gradient from the output: as autograd keeps y (the
# Definition's saves_output), or as the in-place form has only y.
_ROUNDS = ("As PyTorch's autograd computes it: a layer need not keep x.  Where y\n"
           "rounds to +-1 the result has an absolute error below an ulp of grad;\n"
           "{name}_backward(grad, x) keeps full relative accuracy there.")
_IN_PLACE = ("As PyTorch's in-place form computes it (alpha >= 0): the input is gone\n"
             "once y is written over it.  Where y rounds to -alpha the result has an\n"
             "absolute error below an ulp of grad; {name}_backward(grad, x) keeps\n"
             "full relative accuracy there.")


#: The public activations made from their Definition, by name: each is also
#: this module's ``NAME``, with ``NAME_backward`` and, where FROM_OUTPUT has
#: its gradient from the output, ``NAME_backward_from_output``.
MADE: dict[str, Activation] = {}
for _definition in BUILTIN.values():
    if _definition.public and not _definition.written_out:
        _activation = MADE[_definition.name] = make_activation(_definition)
        globals()[_definition.name] = _activation
        globals()[_activation.backward.__name__] = _activation.backward
        if _definition.name in FROM_OUTPUT:
            _from_output = _backward_from_output(_activation)
            _activation.backward_from_output = _from_output  # type: ignore[attr-defined]
            globals()[_from_output.__name__] = _from_output
            del _from_output
del _definition, _activation
_gelu_exact = make_activation(BUILTIN["gelu"], qualname="_gelu_exact")
_gelu_tanh = make_activation(BUILTIN["gelu_tanh"], qualname="_gelu_tanh")
leaky_relu = MADE["leaky_relu"]  # rrelu's evaluation form

if TYPE_CHECKING:  # the names made above, for type checkers
    def __getattr__(name: str) -> Activation: ...


@_docs.filled
def gelu(x: Array, approximate: str = "none", *, out: Array = None,
         backend: BackendName = None, stream: Any = None) -> Array:
    """GELU: ``x * Phi(x)``, Phi the standard normal CDF (PyTorch: F.gelu).

    Accurate in the left tail too (no ``1 + erf`` cancellation), and the
    mathematical limits at +-inf.

    Args:
        x: The input: a NumPy array or array-like, a GPU array or a Dask array.
        approximate: ``"none"`` (exact) or ``"tanh"`` (PyTorch's tanh approximation).
        {keywords}

    Returns:
        The result, of ``x``'s shape and dtype and kind.

    Raises:
        ValueError: ``approximate`` other than ``"none"`` or ``"tanh"``; an ``out``
            of another shape.
        TypeError: A dtype other than a float.

    Examples:
        >>> import numpy as np, fastrelu
        >>> fastrelu.gelu(np.array([-2.0, 0.0, 1.5])).round(4).tolist()
        [-0.0455, 0.0, 1.3998]
        >>> fastrelu.gelu(np.array([-2.0, 0.0, 1.5]), "tanh").round(4).tolist()
        [-0.0454, 0.0, 1.3996]
    """
    return _gelu_variant(approximate)(x, out=out, backend=backend, stream=stream)


@_docs.filled
def gelu_backward(grad: Array, x: Array, approximate: str = "none", *, out: Array = None,
                  backend: BackendName = None, stream: Any = None) -> Array:
    """Gradient of :func:`gelu`: ``grad * gelu'(x)``.

    Args:
        grad: The gradient of the loss with respect to gelu's output.
        x: The forward's input.
        approximate: ``"none"`` or ``"tanh"``, as in the forward.
        {keywords}

    Returns:
        The gradient, of ``x``'s shape and dtype and kind.

    Raises:
        ValueError: An unknown ``approximate``; shapes that do not match.
        TypeError: A dtype other than a float; arrays of different dtypes.

    Examples:
        >>> import numpy as np, fastrelu
        >>> fastrelu.gelu_backward(np.ones(3), np.array([-2.0, 0.0, 1.5])).round(4).tolist()
        [-0.0852, 0.5, 1.1275]
    """
    return _gelu_variant(approximate).backward(grad, x, out=out, backend=backend, stream=stream)


def _gelu_variant(approximate):
    if approximate == "none":
        return _gelu_exact
    if approximate == "tanh":
        return _gelu_tanh
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")


def _check_weight(name, x, weight):
    """``weight`` as an array, checked: one value, or one per channel of ``x``
    (a GPU array's dtype the device backend checks)."""
    device = registry.is_device_array(weight)
    if not device:
        weight = np.asarray(weight)
    axis = definitions.channel_axis(x)
    channels = 1 if x.ndim == 0 else x.shape[axis]
    shape = tuple(weight.shape)
    if math.prod(shape) not in (1, channels) or len(shape) > 1:
        raise ValueError(f"{name}: weight must hold 1 or {channels} (the channel count: "
                         f"axis {axis} of x) values, got shape {shape}")
    if not device:
        _validate.check_dtype(name, PER_ELEMENT_SLOPE, weight.dtype)
    return weight


def _host_float_array(name, x):
    """rrelu's ``x``: an array (host, GPU or chunked), of a float dtype
    where the host checks it (the device backend checks its own)."""
    x = x if dispatch.is_chunked(x) else _validate.as_arrays((x,), name)[0]
    if not registry.is_device_array(x):
        _validate.check_dtype(name, PER_ELEMENT_SLOPE, x.dtype)
    return x


@_docs.filled
def prelu(x: Array, weight: Array, *, out: Array = None,
          backend: BackendName = None, stream: Any = None) -> Array:
    """PReLU: ``x`` where ``x > 0``, else ``weight * x`` (PyTorch: F.prelu).

    Args:
        x: The input: a NumPy array, a GPU array or a Dask array.
        weight: One slope, or one per channel (axis 1, or axis 0 of a 1-D ``x``).
        {keywords}

    Returns:
        The result, of ``x``'s shape and dtype.

    Raises:
        ValueError: A weight that is neither one value nor one per channel.
        TypeError: A dtype other than a float.

    Examples:
        >>> import numpy as np, fastrelu
        >>> x = np.array([[-2.0, 1.0], [3.0, -4.0]])
        >>> fastrelu.prelu(x, np.array([0.1, 0.5])).tolist()
        [[-0.2, 1.0], [3.0, -2.0]]
    """
    return dispatch.call(_PRELU, "prelu", (x,), out, backend, stream, (weight,))


@_docs.filled
def prelu_backward(grad: Array, x: Array, weight: Array, *, out: Array = None,
                   backend: BackendName = None, stream: Any = None) -> tuple[Array, Array]:
    """Gradients of :func:`prelu`: ``(grad_x, grad_weight)``.

    Args:
        grad: The gradient of the loss with respect to prelu's output.
        x: The forward's input.
        weight: The forward's weight.
        out: Where to write grad_x (its shape and dtype); may be the input itself.
        {backend}
        {stream}

    Returns:
        ``grad_x`` (``x``'s shape and dtype) and ``grad_weight`` (``weight``'s
        shape), the weight's gradient summed per channel in float64 and rounded
        to the weight's dtype.

    Raises:
        ValueError: A weight that is neither one value nor one per channel;
            shapes that do not match.
        TypeError: A dtype other than a float.

    Examples:
        >>> import numpy as np, fastrelu
        >>> x = np.array([[-2.0, 1.0], [3.0, -4.0]])
        >>> grad_x, grad_weight = fastrelu.prelu_backward(np.ones((2, 2)), x, np.array([0.1, 0.5]))
        >>> grad_x.tolist(), grad_weight.tolist()
        ([[0.1, 1.0], [1.0, 0.5]], [-2.0, -4.0])
    """
    return dispatch.call(_PRELU_BACKWARD, "prelu_backward", (grad, x), out, backend, stream,
                         (weight,))


class _Prelu(dispatch.Operation):
    """PReLU: ``others`` the weight, one slope or one per channel
    (``_check_weight``), given to the backend 1-D in x's dtype."""

    operation = "prelu"
    rule = PER_ELEMENT_SLOPE

    def chunked(self, name, arrays, out, backend, others):
        """A slope per element, chunked like x: the activation of them."""
        x = arrays[-1]
        weight = _check_weight(name, x, others[0])
        slopes = dispatch.chunked.per_channel(weight, x, definitions.channel_axis(x))
        return dispatch.elementwise(PER_ELEMENT_SLOPE, self.direction, (*arrays, slopes),
                                    (*self.labels, "weight"), (), out, backend, name)

    def others(self, name, kind, arrays, others, compute):
        x = arrays[-1]
        weight = _check_weight(name, x, others[0])
        slopes = dispatch.values_like(name, "weight", kind, x, weight, compute)
        if slopes.ndim != 1:  # one value given as a 0-d or (1, 1) array
            slopes = slopes.reshape(slopes.size)
        return slopes, weight, x.dtype

    def run(self, backend, sources, targets, others):
        return getattr(backend, self.operation)(*sources, others[0], *targets)


class _PreluBackward(_Prelu):
    """Returns ``(grad_x, grad_weight)``: the backend sums the weight's
    gradient per channel in float64; it comes back of the weight's kind and
    shape, rounded to its dtype."""

    operation = "prelu_backward"
    labels = ("grad", "x")
    direction = "backward"

    def chunked(self, name, arrays, out, backend, others):
        grad_x = super().chunked(name, arrays, out, backend, others)
        grad, x = arrays
        weight = _check_weight(name, x, others[0])
        grad_weight = definitions.prelu_weight_gradient_sum_ref(grad, x, weight.size)
        dtype = _weight_gradient_dtype(x.dtype, weight)
        return grad_x, grad_weight.reshape(weight.shape).astype(dtype)

    def returned(self, kind, results, value, others):
        slopes, weight, dtype = others
        sums = kind.like(weight, np.zeros(slopes.size) if value is None else value)
        shape = tuple(weight.shape)
        if isinstance(sums, np.ndarray):
            sums = sums.reshape(shape).astype(_weight_gradient_dtype(dtype, weight))
        return kind.returned(results[0]), sums.reshape(shape)


def _weight_gradient_dtype(dtype, weight):
    """The weight gradient's dtype: the weight's, a float, else x's (``dtype``)."""
    return weight.dtype if isinstance(weight.dtype, np.dtype) and weight.dtype.kind == "f" else dtype


_PRELU, _PRELU_BACKWARD = _Prelu(), _PreluBackward()


@_docs.filled
def rrelu(x: Array, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          rng: np.random.Generator | None = None, *, out: Array = None,
          backend: BackendName = None, stream: Any = None) -> Array | tuple[Array, Array]:
    """Randomized leaky ReLU (PyTorch: F.rrelu).

    In evaluation (``training=False``) the slope is ``(lower + upper) / 2`` and
    the result is an array.  In training each element gets a slope drawn from
    U(lower, upper) and the call returns ``(y, slopes)``; pass ``slopes`` to
    :func:`rrelu_backward`.

    Args:
        x: The input: a NumPy array, a GPU array or a Dask array.
        lower: The smallest slope (default 1/8).
        upper: The largest slope (default 1/3).
        training: Random slopes (True) or their mean (False).
        rng: A ``numpy.random.Generator`` for the slopes (default a new one).
        {keywords}

    Returns:
        ``y`` in evaluation, ``(y, slopes)`` in training.

    Raises:
        ValueError: ``lower > upper``.
        TypeError: A dtype other than a float; parameters that are not numbers.

    Examples:
        >>> import numpy as np, fastrelu
        >>> fastrelu.rrelu(np.array([-2.0, 1.0])).round(4).tolist()
        [-0.4583, 1.0]
        >>> y, slopes = fastrelu.rrelu(np.array([-2.0, 1.0]), training=True, rng=np.random.default_rng(0))
        >>> y.round(4).tolist()
        [-0.5154, 1.0]
    """
    lower, upper = _validate.check_params("rrelu", ("lower", "upper"), (lower, upper))
    if not lower <= upper:
        raise ValueError(f"rrelu: lower ({lower}) must not exceed upper ({upper})")
    if not training:
        return leaky_relu(x, (lower + upper) / 2, out=out, backend=backend, stream=stream)
    x = _host_float_array("rrelu", x)
    rng = np.random.default_rng() if rng is None else rng
    if dispatch.is_chunked(x):
        slopes = dispatch.chunked.uniform(rng, lower, upper, x)
    else:
        slopes = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
        if registry.is_device_array(x):  # drawn on the host, kept beside x
            chosen = dispatch.backend_for("activation", backend, x, "rrelu")
            slopes = chosen.arrays((x,), "rrelu").like(x, slopes)
    y = dispatch.elementwise(PER_ELEMENT_SLOPE, "forward", (x, slopes), ("x", "slopes"),
                             (), out, backend, "rrelu", stream)
    return y, slopes


@_docs.filled
def rrelu_backward(grad: Array, x: Array, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                   training: bool = False, slopes: Array = None, *, out: Array = None,
                   backend: BackendName = None, stream: Any = None) -> Array:
    """Gradient of :func:`rrelu`; in training pass the ``slopes`` it returned.

    Args:
        grad: The gradient of the loss with respect to rrelu's output.
        x: The forward's input.
        lower: As in the forward.
        upper: As in the forward.
        training: As in the forward.
        slopes: The slopes the training forward returned (needed when training).
        {keywords}

    Returns:
        ``grad`` where ``x > 0``, else ``grad`` times the element's slope.

    Raises:
        ValueError: ``training=True`` without ``slopes``.

    Examples:
        >>> import numpy as np, fastrelu
        >>> x = np.array([-2.0, 1.0])
        >>> y, slopes = fastrelu.rrelu(x, training=True, rng=np.random.default_rng(0))
        >>> fastrelu.rrelu_backward(np.ones(2), x, training=True, slopes=slopes).round(4).tolist()
        [0.2577, 1.0]
    """
    lower, upper = _validate.check_params("rrelu_backward", ("lower", "upper"), (lower, upper))
    if not training:
        return leaky_relu.backward(grad, x, (lower + upper) / 2, out=out, backend=backend,
                                   stream=stream)
    if slopes is None:
        raise ValueError("rrelu_backward: training=True needs the slopes that rrelu returned")
    return dispatch.elementwise(PER_ELEMENT_SLOPE, "backward", (grad, x, slopes),
                                ("grad", "x", "slopes"), (), out, backend, "rrelu_backward",
                                stream)


# Every activation has ``.backward``, the functions written by hand too.
gelu.backward = gelu_backward  # type: ignore[attr-defined]
prelu.backward = prelu_backward  # type: ignore[attr-defined]
rrelu.backward = rrelu_backward  # type: ignore[attr-defined]

# The public activations in the table's order, with the two written out for
# their second array (prelu's weight, rrelu's slopes) after relu6, as PyTorch
# lists them.
_PUBLIC = [d.name for d in BUILTIN.values() if d.public]
_PUBLIC[_PUBLIC.index("relu6") + 1:_PUBLIC.index("relu6") + 1] = ["prelu", "rrelu"]
#: Every public name of this module, for ``fastrelu.__all__``.
PUBLIC_NAMES = [n for a in _PUBLIC for n in (a, a + "_backward", a + "_backward_from_output")
                if n in globals()]


def activations() -> list[str]:
    """Names of the built-in activations (each also has a ``NAME_backward``).

    Returns:
        A list of names, in the order of PyTorch's documentation of them.

    Examples:
        >>> import fastrelu
        >>> fastrelu.activations()[:5]
        ['relu', 'leaky_relu', 'relu6', 'prelu', 'rrelu']
    """
    return list(_PUBLIC)
