"""The public activation objects: thin Python over the engine."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from ._types import Array, BackendName

from . import _channel, _dask, _engine, _validate
from .definitions import BUILTIN, FROM_OUTPUT, PER_ELEMENT_SLOPE


class Activation:
    """A callable activation: ``f(x, *params, out=None, backend=None)``.

    ``f.backward(grad, x, *params, out=None, backend=None)`` returns
    ``grad * f'(x)``, with ``x`` the forward input.
    """

    # Set on user-defined activations (fastrelu.activation).
    has_gradient: bool = True
    py_func: Callable[..., float] | None = None
    py_grad: Callable[..., float] | None = None
    # sigmoid and tanh: the gradient from the output, ``(grad, y)``.
    backward_from_output: Callable[..., Array] | None = None

    def __init__(self, definition, doc=None):
        self.definition = definition
        self.__name__ = self.__qualname__ = definition.name
        self.__doc__ = doc or f"{definition.name} activation (PyTorch: {definition.torch_equivalent})."
        names = [p for p, _ in definition.params]
        self._param_names = names
        self._defaults = dict(definition.params)
        empty = inspect.Parameter.empty
        self._default_params = (None if any(d is empty for _, d in definition.params)
                                else tuple(float(d) for _, d in definition.params))
        self._fast_forward = _engine.FastPath(definition, "forward", self._default_params)
        self._fast_backward = _engine.FastPath(definition, "backward", self._default_params)
        # The signature help() shows, with this activation's own parameters
        # (the annotations for type checkers are on __call__).
        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter(p, positional, default=d) for p, d in definition.params]
        keywords = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None)
                    for k in ("out", "backend")]
        self.__signature__ = inspect.Signature(
            [inspect.Parameter("x", positional), *params, *keywords])
        self.backward = _Backward(self)
        self.backward.__signature__ = inspect.Signature(
            [inspect.Parameter("grad", positional), inspect.Parameter("x", positional),
             *params, *keywords])

    @property
    def name(self):
        return self.definition.name

    def __repr__(self):
        return f"<fastrelu activation {self.name}>"

    def _params(self, name, args, kwargs):
        if not args and not kwargs and self._default_params is not None:
            return self._default_params
        names = self._param_names
        if len(args) > len(names):
            raise TypeError(f"{name} takes at most {len(names)} parameters after the arrays "
                            f"({', '.join(names) or 'none'}), got {len(args)}")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in self._defaults:
                raise TypeError(f"{name} got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{name} got multiple values for argument {key!r}")
            values[key] = value
        missing = [p for p in names if p not in values and self._defaults[p] is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"{name} is missing parameter(s) {', '.join(missing)}")
        return _validate.check_params(name, names, [values.get(p, self._defaults[p]) for p in names])

    def __call__(self, x: Array, *args: float, out: Array = None, backend: BackendName = None,
                 **kwargs: float) -> Array:
        if not (args or kwargs):
            result = self._fast_forward.forward(x, out, backend)
            if result is not None:
                return result
        params = self._params(self.name, args, kwargs)
        return _engine.elementwise(self.definition, "forward", (x,), ("x",),
                                   params, out, backend)


class _Backward:
    def __init__(self, activation):
        self._activation = activation
        self.__name__ = self.__qualname__ = activation.name + "_backward"
        self.__doc__ = f"Gradient of {activation.name}: grad * {activation.name}'(x)."

    def __call__(self, grad: Array, x: Array, *args: float, out: Array = None,
                 backend: BackendName = None, **kwargs: float) -> Array:
        act = self._activation
        if getattr(act.definition.backward, "missing_gradient", False):
            act.definition.backward()  # raises the explanation
        if not (args or kwargs):
            result = act._fast_backward.backward(grad, x, out, backend)
            if result is not None:
                return result
        params = act._params(self.__name__, args, kwargs)
        return _engine.elementwise(act.definition, "backward", (grad, x), ("grad", "x"),
                                   params, out, backend)

    def __repr__(self):
        return f"<fastrelu activation gradient {self.__name__}>"


class _BackwardFromOutput:
    """``grad * f'(x)`` computed from the forward's output ``y = f(x)``."""

    def __init__(self, activation):
        self._definition = FROM_OUTPUT[activation.name]
        self._fast = _engine.FastPath(self._definition, "backward", ())
        self.__name__ = self.__qualname__ = activation.name + "_backward_from_output"
        self.__doc__ = (f"Gradient of {activation.name} from its output y: "
                        f"grad * ({_FORMULA[activation.name]}).\n\n"
                        f"As PyTorch's autograd computes it: a layer need not keep x.  Where y\n"
                        f"rounds to +-1 the result has an absolute error below an ulp of grad;\n"
                        f"{activation.name}_backward(grad, x) keeps full relative accuracy there.")

    def __call__(self, grad: Array, y: Array, *, out: Array = None,
                 backend: BackendName = None) -> Array:
        result = self._fast.backward(grad, y, out, backend)
        if result is not None:
            return result
        return _engine.elementwise(self._definition, "backward", (grad, y), ("grad", "y"), (),
                                   out, backend, self.__name__)

    def __repr__(self):
        return f"<fastrelu activation gradient {self.__name__}>"


_FORMULA = {"sigmoid": "y * (1 - y)", "tanh": "1 - y * y"}


relu = Activation(BUILTIN["relu"], """ReLU: max(x, 0), keeping NaN; -0 gives +0.

Takes float16/32/64 and integer arrays.  ``relu.backward(grad, x)`` (also
``relu_backward``) gives ``grad`` where ``x > 0`` and 0 where ``x <= 0``.""")
leaky_relu = Activation(BUILTIN["leaky_relu"])
relu6 = Activation(BUILTIN["relu6"])
elu = Activation(BUILTIN["elu"])
selu = Activation(BUILTIN["selu"])
celu = Activation(BUILTIN["celu"])
silu = Activation(BUILTIN["silu"])
mish = Activation(BUILTIN["mish"])
softplus = Activation(BUILTIN["softplus"])
hardswish = Activation(BUILTIN["hardswish"])
hardsigmoid = Activation(BUILTIN["hardsigmoid"])
sigmoid = Activation(BUILTIN["sigmoid"])
tanh = Activation(BUILTIN["tanh"])
_gelu_exact = Activation(BUILTIN["gelu"])
_gelu_tanh = Activation(BUILTIN["gelu_tanh"])


def gelu(x: Array, approximate: str = "none", *, out: Array = None,
         backend: BackendName = None) -> Array:
    """GELU: x * Phi(x); ``approximate="tanh"`` uses the tanh approximation (PyTorch: F.gelu)."""
    return _gelu_variant(approximate)(x, out=out, backend=backend)


def gelu_backward(grad: Array, x: Array, approximate: str = "none", *, out: Array = None,
                  backend: BackendName = None) -> Array:
    """Gradient of :func:`gelu`."""
    return _gelu_variant(approximate).backward(grad, x, out=out, backend=backend)


def _gelu_variant(approximate):
    if approximate == "none":
        return _gelu_exact
    if approximate == "tanh":
        return _gelu_tanh
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")


def _check_weight(name, x, weight):
    """``weight`` as an array, checked: one value, or one per channel of ``x``."""
    weight = np.asarray(weight)
    channels = 1 if x.ndim == 0 else x.shape[1 if x.ndim >= 2 else 0]
    if weight.size not in (1, channels) or weight.ndim > 1:
        raise ValueError(f"{name}: weight must hold 1 or {channels} (the channel count: "
                         f"axis {1 if x.ndim >= 2 else 0} of x) values, got shape {weight.shape}")
    _validate.check_dtype(name, PER_ELEMENT_SLOPE, weight.dtype)
    return weight


def _channel_slopes(x, weight):
    """``weight`` broadcast to ``x``'s shape and layout."""
    if _dask.is_dask_array(x):
        return _dask.per_channel(weight, x, 1 if x.ndim >= 2 else 0)
    shape = [1] * x.ndim
    if weight.size > 1:
        shape[1 if x.ndim >= 2 else 0] = weight.size
    slopes = np.empty_like(x)  # same layout as x, so kernels can walk both flat
    np.copyto(slopes, weight.reshape(shape), casting="unsafe")
    return slopes


def _host_float_array(name, x):
    x = x if _dask.is_dask_array(x) else np.asarray(x)
    _validate.check_dtype(name, PER_ELEMENT_SLOPE, x.dtype)
    return x


def prelu(x: Array, weight: Array, *, out: Array = None, backend: BackendName = None) -> Array:
    """PReLU: x where x > 0, else weight * x, with one weight or one per channel
    (axis 1, or axis 0 for 1-D input), as PyTorch's F.prelu."""
    x = _host_float_array("prelu", x)
    weight = _check_weight("prelu", x, weight)
    parallel = _channel.route(backend, x)
    if parallel is not None and _validate.takes_result(out, x):
        out = np.empty_like(x) if out is None else out
        if x.size:
            _channel.forward(x, weight, out, parallel)
        return out
    return _engine.elementwise(PER_ELEMENT_SLOPE, "forward", (x, _channel_slopes(x, weight)),
                               ("x", "weight"), (), out, backend)


def prelu_backward(grad: Array, x: Array, weight: Array, *, out: Array = None,
                   backend: BackendName = None) -> tuple[Array, Array]:
    """Gradients of :func:`prelu`: returns ``(grad_x, grad_weight)``."""
    x = _host_float_array("prelu_backward", x)
    weight = _check_weight("prelu_backward", x, weight)
    parallel = _channel.route(backend, x, grad)
    if parallel is not None and _validate.takes_result(out, grad, x):
        grad_x = np.empty_like(x) if out is None else out
        grad_weight = (_channel.backward(grad, x, weight, grad_x, parallel) if x.size
                       else np.zeros(weight.size))
    else:
        grad_x = _engine.elementwise(PER_ELEMENT_SLOPE, "backward",
                                     (grad, x, _channel_slopes(x, weight)),
                                     ("grad", "x", "weight"), (), out, backend)
        grad_weight = _summed_weight_gradient(grad, x, weight)
    grad_weight = grad_weight.reshape(weight.shape)
    return grad_x, grad_weight.astype(weight.dtype if weight.dtype.kind == "f" else x.dtype)


def _summed_weight_gradient(grad, x, weight):
    """The weight gradient in NumPy: ``x * grad`` where ``x <= 0``, summed per channel."""
    grad = grad if _dask.is_dask_array(grad) else np.asarray(grad, dtype=x.dtype)
    contribution = np.where(x > 0, 0, x * grad)
    if weight.size == 1:
        return contribution.sum(dtype=np.float64)
    axis = 1 if x.ndim >= 2 else 0
    return contribution.sum(axis=tuple(i for i in range(x.ndim) if i != axis), dtype=np.float64)


def rrelu(x: Array, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          rng: np.random.Generator | None = None, *, out: Array = None,
          backend: BackendName = None) -> Array | tuple[Array, Array]:
    """Randomized leaky ReLU (PyTorch: F.rrelu).

    In evaluation (``training=False``) the slope is ``(lower + upper) / 2`` and
    the result is an array.  In training each element gets a slope drawn from
    U(lower, upper) with ``rng`` (a ``numpy.random.Generator``, default a new
    one) and the call returns ``(y, slopes)``; pass ``slopes`` to
    :func:`rrelu_backward`.
    """
    lower, upper = _validate.check_params("rrelu", ("lower", "upper"), (lower, upper))
    if not lower <= upper:
        raise ValueError(f"rrelu: lower ({lower}) must not exceed upper ({upper})")
    if not training:
        return leaky_relu(x, (lower + upper) / 2, out=out, backend=backend)
    x = _host_float_array("rrelu", x)
    rng = np.random.default_rng() if rng is None else rng
    if _dask.is_dask_array(x):
        slopes = _dask.uniform(rng, lower, upper, x)
    else:
        slopes = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
    y = _engine.elementwise(PER_ELEMENT_SLOPE, "forward", (x, slopes), ("x", "slopes"),
                            (), out, backend)
    return y, slopes


def rrelu_backward(grad: Array, x: Array, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                   training: bool = False, slopes: Array = None, *, out: Array = None,
                   backend: BackendName = None) -> Array:
    """Gradient of :func:`rrelu`; in training pass the ``slopes`` it returned."""
    lower, upper = _validate.check_params("rrelu_backward", ("lower", "upper"), (lower, upper))
    if not training:
        return leaky_relu.backward(grad, x, (lower + upper) / 2, out=out, backend=backend)
    if slopes is None:
        raise ValueError("rrelu_backward: training=True needs the slopes that rrelu returned")
    return _engine.elementwise(PER_ELEMENT_SLOPE, "backward", (grad, x, slopes),
                               ("grad", "x", "slopes"), (), out, backend)


# Every activation has ``.backward``, the functions written by hand too.
gelu.backward = gelu_backward  # type: ignore[attr-defined]
prelu.backward = prelu_backward  # type: ignore[attr-defined]
rrelu.backward = rrelu_backward  # type: ignore[attr-defined]
relu_backward = relu.backward
leaky_relu_backward = leaky_relu.backward
relu6_backward = relu6.backward
elu_backward = elu.backward
selu_backward = selu.backward
celu_backward = celu.backward
silu_backward = silu.backward
mish_backward = mish.backward
softplus_backward = softplus.backward
hardswish_backward = hardswish.backward
hardsigmoid_backward = hardsigmoid.backward
sigmoid_backward = sigmoid.backward
tanh_backward = tanh.backward
# sigmoid and tanh also differentiate from their output, as PyTorch does.
sigmoid.backward_from_output = sigmoid_backward_from_output = _BackwardFromOutput(sigmoid)
tanh.backward_from_output = tanh_backward_from_output = _BackwardFromOutput(tanh)

_PUBLIC = ["relu", "leaky_relu", "relu6", "prelu", "rrelu", "elu", "selu", "celu", "gelu",
           "silu", "softplus", "mish", "hardswish", "hardsigmoid", "sigmoid", "tanh"]


def activations() -> list[str]:
    """Names of the built-in activations (each also has a ``NAME_backward``)."""
    return list(_PUBLIC)
