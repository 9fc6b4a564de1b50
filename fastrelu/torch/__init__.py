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

from .. import api, definitions, gated
from .._renamed import renamed
from . import functional
from ._autograd import (_gated_apply, _RReLUFunction, apply, geglu, glu, prelu, reglu, relu_mask,
                        supports_inplace, swiglu)
from ._bridge import _function, supported

__all__ = [
    "apply", "supports_inplace", "supported", "ActivationModule", "relu_mask", "ReLUMask",
    "reglu", "geglu", "swiglu", "glu", "ReGLU", "SwiGLU", "GEGLU", "GLU", "prelu", "PReLU",
    "RReLU", *(d.torch_class for d in definitions.BUILTIN.values() if d.torch_class), "DROP_INS",
    "replace_activations", "functional",
]


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


# The old name, kept for a while: it was also fastrelu.Activation's (the
# public functions' protocol) and the nn layer's.
__getattr__ = renamed(globals(), {"Activation": "ActivationModule"})


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


#: The drop-ins made from their Definition (its torch_class), by class name;
#: GELU, whose ``approximate`` picks gelu or gelu_tanh, is written here.
_MADE = {d.torch_class: _drop_in(d.torch_class, d.name, d.params, inplace=d.torch_inplace,
                                 shows_inplace=d.repr_inplace)
         for d in definitions.BUILTIN.values() if d.torch_class and not d.written_out}
globals().update(_MADE)
GELU = _drop_in("GELU", "gelu", (("approximate", "none"),), inplace=False)

#: torch.nn's activation module -> fastrelu's drop-in, for replace_activations.
DROP_INS = {getattr(torch.nn, cls.__name__): cls for cls in (*_MADE.values(), GELU, PReLU, GLU)
            if hasattr(torch.nn, cls.__name__)}


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
