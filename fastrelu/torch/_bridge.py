"""What the PyTorch bridge's modules and its custom operators share:
tensors to arrays and back, the activation behind a name, the gradients
from the output.  (Both ``fastrelu.torch`` and ``fastrelu.torch.ops``
import it; it imports neither.)"""

import numpy as np
import torch

from .. import _dtypes, api


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


def _refuse_negative(what, value):
    # PyTorch's words and rule (RuntimeError at backward time).
    if value < 0:
        raise RuntimeError(f"In-place {what} backward calculation is triggered with a negative "
                           "slope which is not supported. Call the out-of-place version instead.")


def _leaky_from_output(g, y, slope):
    _refuse_negative("leakyReLu", slope)
    return _tensor(api.leaky_relu.backward(_host_or_device(g), _host_or_device(y), slope), y)


def _elu_from_output(g, y, alpha):
    _refuse_negative("elu", alpha)
    return _tensor(api.elu_backward_from_output(_host_or_device(g), _host_or_device(y), alpha), y)


def _celu_from_output(g, y, alpha):
    _refuse_negative("celu", alpha)
    return _tensor(api.celu_backward_from_output(_host_or_device(g), _host_or_device(y), alpha), y)


#: In place, the input is gone: these gradients are written in terms of the
#: output y, as PyTorch's in-place forms do (y > 0 exactly where x > 0).
_FROM_OUTPUT = {
    "relu": lambda g, y: _tensor(api.relu.backward(_host_or_device(g), _host_or_device(y)), y),
    "leaky_relu": _leaky_from_output,
    "relu6": lambda g, y: _tensor(api.relu6.backward(_host_or_device(g), _host_or_device(y)), y),
    "elu": _elu_from_output,
    "celu": _celu_from_output,
    "selu": lambda g, y: _tensor(api.selu_backward_from_output(_host_or_device(g),
                                                               _host_or_device(y)), y),
    "sigmoid": lambda g, y: _tensor(api.sigmoid_backward_from_output(_host_or_device(g),
                                                                     _host_or_device(y)), y),
    "tanh": lambda g, y: _tensor(api.tanh_backward_from_output(_host_or_device(g),
                                                               _host_or_device(y)), y),
}
#: Differentiated from their output in place or not.
_KEEP_OUTPUT = {"sigmoid", "tanh"}


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
    if name in ("prelu", "rrelu") or name not in api.activations():
        raise ValueError(f"fastrelu.torch.apply supports {', '.join(supported())}, not {name!r} "
                         "(PReLU and RReLU are modules: fastrelu.torch.PReLU, fastrelu.torch.RReLU)")
    return getattr(api, name)


def supported():
    """Activation names :func:`apply` takes ("gelu_tanh" is GELU's tanh form)."""
    return [n for n in api.activations() if n not in ("prelu", "rrelu")] + ["gelu_tanh"]


def _gated_options(name, approximate):
    """The keyword arguments of fastrelu.gated's ``name``: geglu's approximation."""
    return {"approximate": approximate} if name == "geglu" else {}
