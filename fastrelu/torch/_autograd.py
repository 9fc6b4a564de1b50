"""The autograd side of fastrelu.torch: the call plans, the
``torch.autograd.Function`` of each operation and the functions that apply
them to tensors.  The modules (``fastrelu.torch``) and the functional
names (``fastrelu.torch.functional``) both call these; this module imports
neither."""

import torch

from .. import api, gated, masks, registry
from ..definitions import BUILTIN
from . import ops
from ._bridge import _FROM_OUTPUT, _function, _host_or_device, _keeps_output, _tensor


#: In place with a gradient that needs the input: like PyTorch, keep a copy
#: of it (the Definition's in_place "input").
_FROM_SAVED_INPUT = {d.name for d in BUILTIN.values() if d.in_place == "input"}


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
