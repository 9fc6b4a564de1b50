"""PyTorch autograd functions and modules that run fastrelu's kernels.

    import fastrelu.torch as frt
    model = torch.nn.Sequential(torch.nn.Linear(40, 100), frt.GELU(), ...)  # torch.nn's names
    frt.replace_activations(existing_model)  # torch.nn's activations swapped for these
    y = frt.functional.gelu(x)               # torch.nn.functional's names and signatures
    layer = frt.ActivationModule("leaky_relu", negative_slope=0.1, inplace=True)
    prelu = frt.PReLU(num_parameters=64)     # learnable nn.Parameter weight
    relu = frt.ReLUMask()                    # saves 1 bit per element for backward

CPU tensors go through NumPy without a copy (contiguous or not); CUDA
tensors go to the ``cuda`` backend through ``__cuda_array_interface__``,
without a round trip through the host.
"""

import inspect

import numpy as np
import torch

from .. import api, gated, masks, registry
from . import ops
from ._bridge import _FROM_OUTPUT, _function, _host_or_device, _keeps_output, _tensor
from ._bridge import supported as supported  # public: fastrelu.torch.supported()

#: In place with a gradient that needs the input: like PyTorch, keep a copy of it.
_FROM_SAVED_INPUT = {"hardswish", "hardsigmoid", "silu", "mish"}


#: Activations whose PyTorch CPU kernels give fastrelu's values and
#: gradients bit for bit (relu: up to the sign of a zero result, which
#: PyTorch keeps from a -0 input).  Under ``auto`` (in force, or asked for
#: by backend="auto") a CPU tensor's call goes to them: inside a PyTorch
#: program their kernels were faster at every size measured
#: (perf/bench_torch_training.py), since they run on PyTorch's own thread
#: pool, awake after the layer before, with no Python autograd node, where
#: fastrelu's would pay an autograd.Function round trip (about 25 us a
#: step) and compete with that pool.  A backend named other than ``auto``
#: runs fastrelu's kernels, as asked.
_SAME_IN_TORCH = {"relu": torch.nn.functional.relu, "leaky_relu": torch.nn.functional.leaky_relu}


class _Plan:
    """One activation call resolved once, for every later call with the same
    name, parameters, backend and in-place flag: the public function, its
    checked parameters, and how its gradient is taken.  A module's call then
    costs a dictionary lookup, not a parameter parse."""

    __slots__ = ("name", "fn", "params", "backend", "inplace", "torch_op")

    def __init__(self, name, params, backend, inplace):
        if inplace and not supports_inplace(name):
            _function(name)  # an unknown name gets its own error first
            raise ValueError(f"{name} has no in-place form (PyTorch has none either)")
        self.name, self.fn = name, _function(name)
        self.params = api.checked_params(self.fn, params)  # defaults filled in
        self.backend, self.inplace = backend, bool(inplace)
        # auto's choice, whether backend="auto" says so or the backend in force.
        self.torch_op = _SAME_IN_TORCH.get(name) if backend in (None, registry.AUTO) else None

    def run(self, x):
        if torch.compiler.is_compiling():
            if not self.inplace:  # one operator in the traced graph
                return ops.activation(x, self.name, list(self.params), self.backend)
        elif (self.torch_op is not None and not x.is_cuda
              and (self.backend is not None or registry.get_backend() == registry.AUTO)):
            return self.torch_op(x, *self.params, inplace=self.inplace)
        elif not (x.requires_grad and torch.is_grad_enabled()):
            return self.without_grad(x)
        return _Function.apply(x, self)

    def without_grad(self, x):
        """The kernel alone: nothing needs a gradient, so no autograd node
        (inference, ``torch.no_grad()``, tensors that do not require grad)."""
        source = _host_or_device(x)
        if not self.inplace:
            return _tensor(self.fn(source, *self.params, backend=self.backend), x)
        self.fn(source, *self.params, out=source, backend=self.backend)
        # As PyTorch's in-place operators: a graph that saved x sees the change.
        torch.autograd.graph.increment_version(x)
        return x


#: (name, params as given, backend, inplace) -> _Plan
_PLANS: dict = {}


def _plan(name, params, backend, inplace):
    key = (name, params, backend, inplace)
    try:
        return _PLANS[key]
    except KeyError:
        plan = _Plan(name, params, backend, inplace)
        if len(_PLANS) < 4096:  # parameters drawn per call would grow it without end
            _PLANS[key] = plan
        return plan
    except TypeError:  # an unhashable parameter or backend: checked, then refused
        return _Plan(name, params, backend, inplace)


class _Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, plan):
        ctx.plan = plan
        fn, params, backend = plan.fn, plan.params, plan.backend
        if not plan.inplace:
            y = _tensor(fn(_host_or_device(x), *params, backend=backend), x)
            ctx.keeps_output = _keeps_output(plan.name, x)
            ctx.save_for_backward(y if ctx.keeps_output else x)
            return y
        if plan.name in _FROM_SAVED_INPUT:
            ctx.save_for_backward(x.detach().clone())
        target = _host_or_device(x)
        fn(target, *params, out=target, backend=backend)
        ctx.mark_dirty(x)
        if plan.name in _FROM_OUTPUT:
            ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        plan = ctx.plan
        grad = grad.contiguous()
        if plan.name in _FROM_OUTPUT and (plan.inplace or ctx.keeps_output):
            dx = _FROM_OUTPUT[plan.name](grad, saved, *plan.params)
        else:
            dx = _tensor(plan.fn.backward(_host_or_device(grad), _host_or_device(saved),
                                          *plan.params, backend=plan.backend), saved)
        return dx, None


def supports_inplace(name):
    """Whether PyTorch has an in-place form of ``name`` (and so :func:`apply` takes inplace=True)."""
    return name in _FROM_OUTPUT or name in _FROM_SAVED_INPUT


def apply(name, x, *params, backend=None, inplace=False):
    """``name`` applied to tensor ``x``, differentiable through fastrelu's backward.

    ``inplace=True`` overwrites ``x`` and returns it, as PyTorch's in-place
    forms do: the gradient then comes from the output (relu, leaky_relu with
    a slope >= 0, relu6, elu/celu with alpha >= 0, selu, sigmoid, tanh) or
    from a copy of the input that is kept for backward (hardswish,
    hardsigmoid, silu, mish).  PyTorch's refusals hold: a leaf tensor that
    requires grad cannot be changed in place, and gelu and softplus have no
    in-place form.  Where nothing needs a gradient the call adds no autograd
    node: it is the kernel alone.
    """
    return _plan(name, params, backend, inplace).run(x)


class ActivationModule(torch.nn.Module):
    """Any supported fastrelu activation as an ``nn.Module``: ``ActivationModule("elu", alpha=0.5)``."""

    def __init__(self, name, *, backend=None, inplace=False, **params):
        super().__init__()
        self.name, self.backend, self.inplace = name, backend, inplace
        definition = _function(name).definition
        defaults = dict(definition.params)
        unknown = set(params) - set(defaults)
        if unknown:
            raise TypeError(f"{name} has no parameter(s) {', '.join(sorted(unknown))}")
        if inplace and not supports_inplace(name):
            raise ValueError(f"{name} has no in-place form (PyTorch has none either)")
        self.params = tuple(float(params.get(p, d)) for p, d in definition.params)

    def forward(self, x):
        return apply(self.name, x, *self.params, backend=self.backend, inplace=self.inplace)

    def extra_repr(self):
        return repr(self.name) + (", inplace=True" if self.inplace else "")


# --- ReLU that saves a 1-bit mask --------------------------------------------


class _ReLUMaskFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, backend, inplace):
        source = _host_or_device(x)
        y, mask = masks.relu_mask(source, out=source if inplace else None, backend=backend)
        ctx.save_for_backward(_tensor(mask, x))
        ctx.backend = backend
        if inplace:
            ctx.mark_dirty(x)
            return x
        return _tensor(y, x)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        grad = grad.contiguous()
        dx = masks.relu_backward_mask(_host_or_device(grad), _host_or_device(mask), backend=ctx.backend)
        return _tensor(dx, grad), None, None


def relu_mask(x, *, backend=None, inplace=False):
    """ReLU whose backward needs only a 1-bit mask of ``x > 0`` (1/32 of a
    float32 input), not ``x`` or the output.  At a NaN input the gradient
    is 0 (``torch.relu`` passes it on)."""
    return _ReLUMaskFunction.apply(x, backend, bool(inplace))


class ReLUMask(torch.nn.Module):
    """``nn.ReLU`` that saves a 1-bit mask for backward: see :func:`relu_mask`."""

    def __init__(self, inplace=False, *, backend=None):
        super().__init__()
        self.inplace, self.backend = inplace, backend

    def forward(self, x):
        return relu_mask(x, backend=self.backend, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


# --- gated activations: act(gate) * up, fused ---------------------------------

#: name -> (forward(gate, up, **kw), backward(grad, gate, up, **kw)) of fastrelu.gated
_GATED = {
    "reglu": (gated.reglu, gated.reglu_backward),
    "geglu": (gated.geglu, gated.geglu_backward),
    "swiglu": (gated.swiglu, gated.swiglu_backward),
}


class _GatedFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate, up, name, options, backend):
        forward = _GATED[name][0]
        y = forward(_host_or_device(gate), _host_or_device(up), **options, backend=backend)
        ctx.save_for_backward(gate, up)
        ctx.name, ctx.options, ctx.backend = name, options, backend
        return _tensor(y, gate)

    @staticmethod
    def backward(ctx, grad):
        gate, up = ctx.saved_tensors
        backward = _GATED[ctx.name][1]
        grad_gate, grad_up = backward(_host_or_device(grad.contiguous()), _host_or_device(gate),
                                      _host_or_device(up), **ctx.options, backend=ctx.backend)
        return _tensor(grad_gate, gate), _tensor(grad_up, up), None, None, None


class _PackedGatedFunction(torch.autograd.Function):
    """The gated activation of one packed CPU tensor's halves (up first, then
    gate, along ``dim``), whose backward writes both gradients straight into
    the halves of one packed gradient: no concatenation of two."""

    @staticmethod
    def forward(ctx, packed, name, options, dim, backend):
        up, gate = packed.chunk(2, dim)
        y = _GATED[name][0](_host_or_device(gate), _host_or_device(up), **options, backend=backend)
        ctx.save_for_backward(packed)
        ctx.name, ctx.options, ctx.dim, ctx.backend = name, options, dim, backend
        return _tensor(y, packed)

    @staticmethod
    def backward(ctx, grad):
        (packed,) = ctx.saved_tensors
        up, gate = packed.chunk(2, ctx.dim)
        grad_packed = torch.empty_like(packed, memory_format=torch.contiguous_format)
        grad_up, grad_gate = grad_packed.chunk(2, ctx.dim)
        _GATED[ctx.name][1](_host_or_device(grad.contiguous()), _host_or_device(gate),
                            _host_or_device(up), **ctx.options, backend=ctx.backend,
                            out=(_host_or_device(grad_gate), _host_or_device(grad_up)))
        return grad_packed, None, None, None, None


def _gated_apply(name, gate, up, dim, options, backend):
    """``name`` of (gate, up), or of one packed tensor's halves along ``dim``
    (first half up, second half gate, as F.glu)."""
    packed = None
    if up is None:
        if gate.shape[dim] % 2:
            raise ValueError(f"{name}: the halved dimension must be even, but dimension {dim} "
                             f"has size {gate.shape[dim]}")
        packed = gate
        up, gate = gate.chunk(2, dim)
    if torch.compiler.is_compiling():
        return ops.gated(gate, up, name, options.get("approximate", "none"), backend)
    if not (torch.is_grad_enabled() and (gate.requires_grad or up.requires_grad)):
        # Nothing needs a gradient: the kernel alone, no autograd node.
        return _tensor(_GATED[name][0](_host_or_device(gate), _host_or_device(up), **options,
                                       backend=backend), gate)
    if packed is not None and not packed.is_cuda:
        return _PackedGatedFunction.apply(packed, name, options, dim, backend)
    return _GatedFunction.apply(gate, up, name, options, backend)


def reglu(gate, up=None, *, dim=-1, backend=None):
    """``relu(gate) * up`` in one pass, differentiable; with ``up=None``,
    ``gate`` is one packed tensor split along ``dim`` (up first)."""
    return _gated_apply("reglu", gate, up, dim, {}, backend)


def geglu(gate, up=None, *, approximate="none", dim=-1, backend=None):
    """``gelu(gate, approximate) * up`` in one pass, differentiable (see :func:`reglu`)."""
    return _gated_apply("geglu", gate, up, dim, {"approximate": approximate}, backend)


def swiglu(gate, up=None, *, dim=-1, backend=None):
    """``silu(gate) * up`` in one pass, differentiable (see :func:`reglu`)."""
    return _gated_apply("swiglu", gate, up, dim, {}, backend)


def glu(x, dim=-1, *, backend=None):
    """``F.glu``: the first half of ``x`` along ``dim`` times the sigmoid of the second."""
    if x.shape[dim] % 2:
        raise ValueError(f"glu: the halved dimension must be even, but dimension {dim} "
                         f"has size {x.shape[dim]}")
    return _GLUFunction.apply(x, dim, backend)


class _GLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim, backend):
        ctx.save_for_backward(x)
        ctx.dim, ctx.backend = dim, backend
        return _tensor(gated.glu(_host_or_device(x), dim, backend=backend), x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        dx = gated.glu_backward(_host_or_device(grad.contiguous()), _host_or_device(x), ctx.dim,
                                backend=ctx.backend)
        return _tensor(dx, x), None, None


class _Gated(torch.nn.Module):
    """``forward(gate, up)``, or ``forward(x)`` on one packed tensor split in
    halves along ``dim`` (first half up, second half gate, as F.glu)."""

    _name = ""

    def __init__(self, dim=-1, *, backend=None):
        super().__init__()
        self.dim, self.backend = dim, backend

    def _options(self):
        return {}

    def forward(self, gate, up=None):
        return _gated_apply(self._name, gate, up, self.dim, self._options(), self.backend)

    def extra_repr(self):
        return f"dim={self.dim}"


class ReGLU(_Gated):
    """relu(gate) * up, fused (see :class:`_Gated` for the two call forms)."""

    _name = "reglu"


class SwiGLU(_Gated):
    """silu(gate) * up, fused."""

    _name = "swiglu"


class GEGLU(_Gated):
    """gelu(gate, approximate) * up, fused."""

    _name = "geglu"

    def __init__(self, approximate="none", dim=-1, *, backend=None):
        super().__init__(dim, backend=backend)
        gated._geglu(approximate, "GEGLU")  # "none" or "tanh", checked now
        self.approximate = approximate

    def _options(self):
        return {"approximate": self.approximate}

    def extra_repr(self):
        return f"approximate={self.approximate!r}, dim={self.dim}"


class GLU(torch.nn.Module):
    """``torch.nn.GLU``, fused: first half times the sigmoid of the second."""

    def __init__(self, dim=-1, *, backend=None):
        super().__init__()
        self.dim, self.backend = dim, backend

    def forward(self, x):
        return glu(x, self.dim, backend=self.backend)

    def extra_repr(self):
        return f"dim={self.dim}"


# --- PReLU and RReLU: the ones with a weight or with randomness ---------------


class _PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, backend):
        ctx.save_for_backward(x, weight)
        ctx.backend = backend
        return _tensor(api.prelu(_host_or_device(x), _host_or_device(weight), backend=backend), x)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x, grad_weight = api.prelu_backward(_host_or_device(grad.contiguous()), _host_or_device(x),
                                                 _host_or_device(weight), backend=ctx.backend)
        # The weight's gradient is a sum in float64 on every backend; autograd
        # casts it to the weight's dtype.
        return _tensor(grad_x, x), _tensor(grad_weight, weight), None


def prelu(x, weight, *, backend=None):
    """PReLU with a learnable ``weight`` (one value, or one per channel: axis 1), like F.prelu."""
    if torch.compiler.is_compiling():
        return ops.prelu(x, weight, backend)
    return _PReLUFunction.apply(x, weight, backend)


class PReLU(torch.nn.Module):
    """``nn.PReLU`` on fastrelu's kernels: ``weight`` is an ``nn.Parameter`` of
    ``num_parameters`` values (1, or the channel count), starting at ``init``."""

    def __init__(self, num_parameters=1, init=0.25, *, backend=None, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.backend = num_parameters, backend
        self.weight = torch.nn.Parameter(torch.full((num_parameters,), float(init), device=device,
                                                    dtype=dtype))

    def forward(self, x):
        return prelu(x, self.weight, backend=self.backend)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class _RReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lower, upper, rng, backend):
        y, slopes = api.rrelu(_host_or_device(x), lower, upper, training=True, rng=rng,
                              backend=backend)
        ctx.save_for_backward(x, _tensor(slopes, x))
        ctx.lower, ctx.upper, ctx.backend = lower, upper, backend
        return _tensor(y, x)

    @staticmethod
    def backward(ctx, grad):
        x, slopes = ctx.saved_tensors
        dx = api.rrelu_backward(_host_or_device(grad.contiguous()), _host_or_device(x), ctx.lower, ctx.upper,
                                training=True, slopes=_host_or_device(slopes), backend=ctx.backend)
        return _tensor(dx, x), None, None, None, None


class RReLU(torch.nn.Module):
    """``nn.RReLU``: in training a slope from U(lower, upper) per element, drawn
    with a NumPy Generator seeded by ``seed``; in eval the mean slope."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, *, seed=None, backend=None):
        super().__init__()
        self.lower, self.upper, self.backend = float(lower), float(upper), backend
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        if self.training:
            return _RReLUFunction.apply(x, self.lower, self.upper, self.rng, self.backend)
        return apply("leaky_relu", x, (self.lower + self.upper) / 2, backend=self.backend)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}"


def __getattr__(name):
    # The old name, kept for a while: it was also fastrelu.Activation's (the
    # public functions' protocol) and the nn layer's.
    if name == "Activation":
        import warnings

        warnings.warn("fastrelu.torch.Activation is now fastrelu.torch.ActivationModule",
                      DeprecationWarning, stacklevel=2)
        return ActivationModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- drop-in modules: torch.nn's names, parameters and defaults -----------------


def _drop_in(class_name, name, params=(), inplace=True, shows_inplace=True):
    """An ``nn.Module`` class named and parameterised as ``torch.nn.<class_name>``
    (``params``: (name, default) in PyTorch's order; ``inplace`` where PyTorch
    has it), running activation ``name``; plus a keyword ``backend``."""
    P = inspect.Parameter
    parameters = [P("self", P.POSITIONAL_ONLY)]
    parameters += [P(p, P.POSITIONAL_OR_KEYWORD, default=d) for p, d in params]
    if inplace:
        parameters.append(P("inplace", P.POSITIONAL_OR_KEYWORD, default=False))
    parameters.append(P("backend", P.KEYWORD_ONLY, default=None))
    signature = inspect.Signature(parameters)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        torch.nn.Module.__init__(self)
        for key, value in list(bound.arguments.items())[1:]:
            setattr(self, key, value)
        if name == "gelu":
            api._gelu_variant(self.approximate)  # "none" or "tanh", checked now
        api.checked_params(_function(name), tuple(self._values()))  # reals, checked now

    def _values(self):
        return [getattr(self, p) for p, _ in params if p != "approximate"]

    def forward(self, input):
        activation = "gelu_tanh" if name == "gelu" and self.approximate == "tanh" else name
        return apply(activation, input, *self._values(), backend=self.backend,
                     inplace=getattr(self, "inplace", False))

    def extra_repr(self):  # as PyTorch writes it
        shown = [f"{p}={getattr(self, p)!r}" if p == "approximate" else f"{p}={getattr(self, p)}"
                 for p, _ in params]
        if inplace and shows_inplace and self.inplace:
            shown.append("inplace=True")
        return ", ".join(shown)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    doc = (f"``torch.nn.{class_name}`` on fastrelu's kernels: the same parameters and "
           f"defaults{', inplace' if inplace else ''}, and ``backend=``.")
    return type(class_name, (torch.nn.Module,), {
        "__init__": __init__, "forward": forward, "extra_repr": extra_repr,
        "_values": _values, "__doc__": doc, "__module__": __name__})


ReLU = _drop_in("ReLU", "relu")
LeakyReLU = _drop_in("LeakyReLU", "leaky_relu", (("negative_slope", 0.01),))
ReLU6 = _drop_in("ReLU6", "relu6")
ELU = _drop_in("ELU", "elu", (("alpha", 1.0),))
SELU = _drop_in("SELU", "selu")
CELU = _drop_in("CELU", "celu", (("alpha", 1.0),))
GELU = _drop_in("GELU", "gelu", (("approximate", "none"),), inplace=False)
SiLU = _drop_in("SiLU", "silu")
Mish = _drop_in("Mish", "mish")
Softplus = _drop_in("Softplus", "softplus", (("beta", 1.0), ("threshold", 20.0)), inplace=False)
Hardswish = _drop_in("Hardswish", "hardswish", shows_inplace=False)
Hardsigmoid = _drop_in("Hardsigmoid", "hardsigmoid", shows_inplace=False)
Sigmoid = _drop_in("Sigmoid", "sigmoid", inplace=False)
Tanh = _drop_in("Tanh", "tanh", inplace=False)

#: torch.nn's activation module -> fastrelu's drop-in, for replace_activations.
DROP_INS = {getattr(torch.nn, cls.__name__): cls
            for cls in (ReLU, LeakyReLU, ReLU6, ELU, SELU, CELU, GELU, SiLU, Mish, Softplus,
                        Hardswish, Hardsigmoid, Sigmoid, Tanh, PReLU, GLU)}


def replace_activations(model, include=None, exclude=None, *, backend=None):
    """Swap ``model``'s torch.nn activation modules, in place, for fastrelu's
    drop-ins with the same parameters (PReLU's weights copied); returns how
    many it replaced.  ``include`` / ``exclude``: class names (``"ReLU"``)
    to replace only, or to leave."""
    replaced = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            drop_in = DROP_INS.get(type(child))
            kind = type(child).__name__
            if drop_in is None or (include is not None and kind not in include) or \
                    (exclude is not None and kind in exclude):
                continue
            setattr(parent, child_name, _converted(child, drop_in, backend))
            replaced += 1
    return replaced


def _converted(module, drop_in, backend):
    if drop_in is PReLU:
        new = PReLU(module.num_parameters, backend=backend, device=module.weight.device,
                    dtype=module.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(module.weight)
        return new
    if drop_in is GLU:
        return GLU(module.dim, backend=backend)
    names = [p for p in inspect.signature(drop_in.__init__).parameters
             if p not in ("self", "backend")]
    return drop_in(**{p: getattr(module, p) for p in names}, backend=backend)



# Last: functional.py takes its names from this module.
from . import functional as functional  # noqa: E402
