"""What the PyTorch bridge's modules and its custom operators share:
tensors to arrays and back, the activation behind a name, the gradients
from the output.  (Both ``fastrelu.torch`` and ``fastrelu.torch.ops``
import it; it imports neither.)"""

import numpy as np
import torch

from .. import _dtypes, api
from ..definitions import BUILTIN


def _host_or_device(t):
    """A CPU tensor as a NumPy array without a copy (bfloat16 through an
    int16 view, as ``ml_dtypes.bfloat16``); a CUDA tensor as it is, detached
    (PyTorch refuses ``__cuda_array_interface__`` on one that requires grad)."""
    t = t.detach()
    if t.is_cuda:
        return t
    if t.dtype == torch.bfloat16:
        bfloat16 = _dtypes.bfloat16()
        if bfloat16 is None:
            raise TypeError("fastrelu takes bfloat16 tensors with ml_dtypes installed "
                            "(pip install 'fastrelu[bf16]')")
        return t.view(torch.int16).numpy().view(bfloat16)
    return t.numpy()


def _from_numpy(array):
    """A NumPy result as a CPU tensor without a copy (bfloat16 included)."""
    array = np.asarray(array)
    if _dtypes.is_bfloat16(array.dtype):
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def _tensor(result, like):
    if isinstance(result, torch.Tensor):
        return result
    if like.is_cuda:
        return torch.as_tensor(result, device=like.device)
    return _from_numpy(result)


# PyTorch's names in its refusal below, where they differ from ours.
_PYTORCH_WORD = {"leaky_relu": "leakyReLu"}


def _gradient_from_output(definition):
    """``gradient(g, y, *params)``: the in-place form's gradient, from the
    output y: FROM_OUTPUT's where it has one, else the backward applied to
    y (relu, leaky_relu, relu6: y > 0 exactly where x > 0)."""
    name = definition.name
    backward = getattr(api, name + "_backward_from_output", None) or getattr(api, name).backward
    what = _PYTORCH_WORD.get(name, name)

    def gradient(g, y, *params):
        # With a negative slope or alpha y > 0 no longer says x > 0: PyTorch's
        # words and rule (RuntimeError at backward time).
        if params and params[0] < 0:
            raise RuntimeError(f"In-place {what} backward calculation is triggered with a negative "
                               "slope which is not supported. Call the out-of-place version instead.")
        return _tensor(backward(_host_or_device(g), _host_or_device(y), *params), y)

    return gradient


#: In place, the input is gone: these gradients are written in terms of the
#: output y, as PyTorch's in-place forms do (the Definition's in_place "output").
_FROM_OUTPUT = {d.name: _gradient_from_output(d) for d in BUILTIN.values() if d.in_place == "output"}
#: Differentiated from their output in place or not (the Definition's saves_output).
_KEEP_OUTPUT = {d.name for d in BUILTIN.values() if d.saves_output}


def _keeps_output(name, x):
    """Whether the gradient comes from the output: sigmoid's and tanh's, as
    PyTorch's (a multiply-add per element instead of an exp).  Not in 16
    bits, where the rounded output loses the gradient's digits (bfloat16
    sigmoid: up to 1% off from the output)."""
    return name in _KEEP_OUTPUT and x.element_size() > 2


def _function(name):
    """The activation function behind ``name`` ("gelu_tanh": GELU's tanh form)."""
    special = {"gelu": api._gelu_exact, "gelu_tanh": api._gelu_tanh}
    if name in special:
        return special[name]
    if name not in api.MADE:
        raise ValueError(f"fastrelu.torch.apply supports {', '.join(supported())}, not {name!r} "
                         "(PReLU and RReLU are modules: fastrelu.torch.PReLU, fastrelu.torch.RReLU)")
    return api.MADE[name]


def supported():
    """Activation names :func:`apply` takes ("gelu_tanh" is GELU's tanh form)."""
    return [n for n in api.activations() if n not in ("prelu", "rrelu")] + ["gelu_tanh"]


def _gated_options(name, approximate):
    """The keyword arguments of fastrelu.gated's ``name``: geglu's approximation."""
    return {"approximate": approximate} if name == "geglu" else {}
