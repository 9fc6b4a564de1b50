"""The backend registry: which implementation runs a call.

Resolution order: ``backend=`` on the call > ``use_backend()`` block >
``set_backend()`` / ``FASTRELU_BACKEND`` > ``"auto"``.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import _arrays, _config, _dtypes

_F32 = np.dtype(np.float32)

AUTO = "auto"


#: Every operation a backend may implement: the activations (forward,
#: backward, backward from the output; rrelu in training is the activation
#: with a slope per element), the 1-bit relu mask, relu after a bias, PReLU,
#: the gated activations (act(gate) * up).
OPERATIONS = ("activation", "relu_mask", "relu_backward_mask", "bias_relu",
              "bias_relu_backward", "prelu", "prelu_backward", "gated", "gated_backward")


class Backend:
    """Base class of a backend: one method per operation it implements.

    ``operations`` names them (of :data:`OPERATIONS`); a call asking for
    any other raises NotImplementedError naming the backend and the
    operation.  Every method gets arrays the general path
    (``dispatch.call``) has already checked and staged, of the backend's
    kind (``arrays``: NumPy arrays for host backends): inputs of one
    dtype, in its ``compute_dtype`` and in the layout ``layouts`` names,
    and results to write that never partly overlap an input.  Subclasses
    compile whatever they need lazily, on first use.  docs/architecture.md
    walks through a whole one.

    Examples:
        >>> import fastrelu
        >>> class Reference(fastrelu.Backend):
        ...     name = "reference-doc"  # then fastrelu.register_backend(Reference())
        ...     def run(self, activation, direction, inputs, out, params):
        ...         forward = direction == "forward"
        ...         formula = activation.reference if forward else activation.reference_backward
        ...         out[...] = formula(*inputs, *params)
        >>> sorted(Reference.operations)
        ['activation']
    """

    name: str | None = None
    #: True for backends that take arrays in GPU memory (their ``arrays``
    #: says how).
    device: bool = False
    #: Whether its activations take integer arrays where the activation does (relu).
    integers: bool = True
    #: The operations this backend implements, of OPERATIONS.
    operations: frozenset = frozenset({"activation"})
    #: Whether ``run`` takes bfloat16 arrays itself (and computes them in
    #: float32); for other backends the caller computes bfloat16 in float32
    #: and rounds the result once.
    bfloat16_kernels: bool = False
    #: The float dtypes its activations take (host backends: every one, with
    #: float16 and bfloat16 computed in float32 where it has no loop on them).
    dtypes: tuple = ("float16", "bfloat16", "float32", "float64")

    def unavailable_reason(self) -> str | None:
        """None if the backend can run here, else a short reason why not."""
        return None

    def _missing(self, operation):
        return NotImplementedError(f"backend {self.name!r} does not implement {operation}")

    def run(self, activation, direction, inputs, out, params):
        """The activation: ``out[...] = f(*inputs, *params)`` elementwise, with
        ``f`` the definition's forward (inputs ``(x,)``) or backward
        (``(grad, x)``, or three arrays for a slope per element; a
        ``definitions.FromOutput``, a gradient from the output, has only a
        backward, of ``(grad, y)``).  Inputs of one shape and dtype (its
        ``compute_dtype``: on host backends float16 only for activations
        with kernels on its bits, bfloat16 only where ``bfloat16_kernels``),
        ``out`` of the same, any layout, possibly one of them."""
        raise self._missing("activation")

    def relu_mask(self, x, out, mask):
        """``out[...] = relu(x)`` and ``mask[...]`` its bits ``x > 0`` (see
        ``definitions.relu_mask_ref``); ``x`` and ``out`` C-contiguous, ``out``
        ``x`` itself or apart from it; ``mask`` uint8 of ``mask_size(x.size)``."""
        raise self._missing("relu_mask")

    def relu_backward_mask(self, grad, mask, out):
        """``out[...] = grad`` where the mask bit is set, else 0; ``grad`` and
        ``out`` C-contiguous, ``out`` ``grad`` itself or apart from it and the mask."""
        raise self._missing("relu_backward_mask")

    def bias_relu(self, x, bias, out):
        """``out[...] = relu(x + bias)``, ``bias`` along the last axis; ``x``
        and ``out`` C-contiguous and at least 1-D, ``out`` ``x`` or apart."""
        raise self._missing("bias_relu")

    def bias_relu_backward(self, grad, x, bias, grad_x):
        """``grad_x[...] = grad`` where ``x + bias > 0``, else 0 (C-contiguous, apart)."""
        raise self._missing("bias_relu_backward")

    def prelu(self, x, weight, out):
        """``out[...] = prelu(x, weight of the element's channel)``: ``weight``
        1-D in x's dtype, one value or one per channel (axis 1; axis 0 of 1-D
        ``x``); ``x`` and ``out`` C-contiguous, ``out`` ``x`` or apart."""
        raise self._missing("prelu")

    def prelu_backward(self, grad, x, weight, grad_x):
        """Writes the input gradient into ``grad_x`` and returns the weight
        gradient: ``definitions.prelu_weight_gradient`` summed per weight, in
        float64 (C-contiguous arrays, ``grad_x`` apart from the inputs)."""
        raise self._missing("prelu_backward")

    def gated(self, gated, gate, up, out):
        """``out[...] = gated.forward(gate, up)`` (a ``definitions.Gated``):
        2-D arrays ``(rows, columns)`` of one shape and dtype (float32 or
        float64), each with its columns next to each other in memory and
        its rows anywhere (the halves of one packed array); ``out`` apart
        from the inputs or the very same view of one."""
        raise self._missing("gated")

    def gated_backward(self, gated, grad, gate, up, grad_gate, grad_up):
        """Both gradients of ``gated`` (``gated.backward_gate`` and
        ``backward_up``), arrays as in ``gated``; the gradients may be the
        very same views as the inputs (an in-place backward)."""
        raise self._missing("gated_backward")

    # -- the arrays it takes ---------------------------------------------

    def arrays(self, originals, name):
        """What the general path (``dispatch.call``) asks of the arrays of a
        call on this backend whose arguments are ``originals``: an object
        that converts them to the backend's kind (``take``), makes, stages
        and checks results, and gives them back in the caller's kind
        (``_arrays.HostArrays`` says what each method does); ``name``: the
        public function's, for errors.  Host backends take NumPy arrays; a
        device backend gives its own."""
        return _arrays.HOST

    #: The layout each operation's arrays come in ("c": C-contiguous,
    #: "rows": 2-D rows of contiguous elements, "any"); "c" where unnamed.
    layouts: dict = {"activation": "any", "gated": "rows", "gated_backward": "rows"}

    def compute_dtype(self, op, dtype):
        """The dtype the backend computes ``op`` (a ``dispatch.Operation``) on
        arrays of ``dtype`` in: the caller converts to it, and rounds the
        results once.  Host backends compute float16 and bfloat16 in
        float32 (Numba has no arithmetic on them on the CPU, NumPy's
        bfloat16 rounds every step), but for loops on their bits: the
        activations that have them (relu on float16, every one on bfloat16
        where ``bfloat16_kernels``) and the relu masks."""
        bits = _dtypes.bits_format(dtype)
        if bits is None or op.operation in ("relu_mask", "relu_backward_mask"):
            return dtype
        if op.operation == "activation":
            if bits == "float16":
                on_bits = getattr(op.activation, f"half_{op.direction}") is not None
            else:
                on_bits = self.bfloat16_kernels
            return dtype if on_bits else _F32
        return _F32


_registry: dict[str, Backend] = {}
_lock = threading.Lock()
_process_default = _config.DEFAULT_BACKEND
_block_default = contextvars.ContextVar("fastrelu_backend", default=None)
_block_stream = contextvars.ContextVar("fastrelu_stream", default=None)
#: Bumped whenever a backend is registered.
generation = 0
# Shortcuts that skip the lookup (``dispatch.FastPath``) forget what they
# found through these when a backend is registered (or replaced).
_listeners: list[weakref.WeakMethod] = []


def on_change(method: Callable[[], None]) -> None:
    """Call ``method`` (a bound method, held weakly) whenever a backend is registered."""
    with _lock:
        _listeners[:] = [m for m in _listeners if m() is not None]
        _listeners.append(weakref.WeakMethod(method))


def register_backend(backend: Backend, *, replace: bool = False) -> None:
    """Add ``backend`` under ``backend.name``, for ``backend=`` and ``use_backend``.

    Args:
        backend: An instance of a :class:`Backend` subclass with a ``name``.
        replace: Whether it may take the place of a backend of that name.

    Raises:
        TypeError: ``backend`` is not a :class:`Backend`.
        ValueError: An invalid name (empty, ``"auto"``), or one already
            registered without ``replace=True``.

    Examples:
        >>> import numpy as np, fastrelu
        >>> class Halved(fastrelu.Backend):
        ...     name = "halved-doc"
        ...     def run(self, activation, direction, inputs, out, params):
        ...         out[...] = activation.reference(*inputs, *params) / 2
        >>> fastrelu.register_backend(Halved())
        >>> fastrelu.relu(np.array([-1.0, 4.0]), backend="halved-doc").tolist()
        [0.0, 2.0]
    """
    if not isinstance(backend, Backend):
        raise TypeError(f"expected a fastrelu.Backend instance, got {type(backend).__name__}")
    name = backend.name
    if not isinstance(name, str) or not name or name == AUTO:
        raise ValueError(f"invalid backend name {name!r}")
    with _lock:
        if name in _registry and not replace:
            raise ValueError(f"a backend named {name!r} is already registered")
        _registry[name] = backend
        global generation
        generation += 1
        listeners = [m() for m in _listeners]
    for method in listeners:
        if method is not None:
            method()


def backends() -> list[str]:
    """Names of the backends that can run on this machine, ``"auto"`` first.

    Returns:
        A list of names; ``cuda`` only where numba-cuda and a GPU (or its
        simulator) are there.

    Examples:
        >>> import fastrelu
        >>> fastrelu.backends()[:3]
        ['auto', 'numpy', 'numba']
    """
    return [AUTO] + [name for name, b in _registry.items() if b.unavailable_reason() is None]


def all_backends() -> dict[str, str | None]:
    """Every registered backend name, with None or the reason it cannot run.

    Returns:
        A dict of name -> None (it can run) or a short reason why not.

    Examples:
        >>> import fastrelu
        >>> fastrelu.all_backends()["numba"] is None
        True
    """
    return {name: b.unavailable_reason() for name, b in _registry.items()}


def check_name(name):
    """``name`` if it is "auto" or a registered backend's name; else a clear error."""
    if name == AUTO:
        return name
    if not isinstance(name, str):
        raise TypeError(f"backend name must be a str, got {type(name).__name__}")
    if name not in _registry:
        raise ValueError(f"unknown backend {name!r}; available backends: {', '.join(backends())}")
    return name


def get_backend() -> str:
    """The backend name in force here: a ``use_backend()`` block's, else the
    process default (``set_backend``, ``FASTRELU_BACKEND``, else ``"auto"``).

    Returns:
        A backend name (``backend=`` on a call still takes precedence).

    Examples:
        >>> import fastrelu
        >>> with fastrelu.use_backend("numba"):
        ...     fastrelu.get_backend()
        'numba'
    """
    return _block_default.get() or _process_default


def set_backend(name: str) -> None:
    """Set the process-wide default backend (as ``FASTRELU_BACKEND`` does at start).

    Args:
        name: ``"auto"`` or a registered backend's name.

    Raises:
        ValueError: An unknown name; the message lists the known ones.
        TypeError: A name that is not a str.

    Examples:
        >>> import fastrelu
        >>> fastrelu.set_backend("numba")
        >>> fastrelu.get_backend()
        'numba'
        >>> fastrelu.set_backend("auto")
    """
    global _process_default
    _process_default = check_name(name)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Use backend ``name`` inside a ``with`` block (per thread and per asyncio task).

    Args:
        name: ``"auto"`` or a registered backend's name.

    Raises:
        ValueError: An unknown name; the message lists the known ones.

    Examples:
        >>> import numpy as np, fastrelu
        >>> with fastrelu.use_backend("numba-parallel"):
        ...     fastrelu.silu(np.array([0.0, 1.0])).round(4).tolist()
        [0.0, 0.7311]
    """
    token = _block_default.set(check_name(name))
    try:
        yield name
    finally:
        _block_default.reset(token)


@contextlib.contextmanager
def use_stream(stream: Any) -> Iterator[Any]:
    """Launch the GPU work of every call inside a ``with`` block on ``stream``
    (per thread and per asyncio task), as ``stream=`` does for one call.

    Without it (or ``stream=``) a call launches on the stream its first GPU
    array comes from: PyTorch's current stream of a CUDA tensor, CuPy's
    current stream of a CuPy array, Numba's default stream otherwise.  Host
    (NumPy) arrays on CPU backends take no stream; it is ignored for them.

    Args:
        stream: A Numba stream (``numba.cuda.stream()``), a
            ``torch.cuda.Stream``, a CuPy stream, or a raw ``CUstream``
            handle (an int; 0 is the default stream).

    Examples:
        >>> import numpy as np, fastrelu
        >>> with fastrelu.use_stream(0):  # host arrays: no GPU work, no stream
        ...     fastrelu.relu(np.array([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    token = _block_stream.set(stream)
    try:
        yield stream
    finally:
        _block_stream.reset(token)


def requested_stream() -> Any:
    """The stream of the innermost ``use_stream`` block or ``stream=``, or None."""
    return _block_stream.get()


def lookup(name: str) -> Backend:
    """The :class:`Backend` registered as ``name``; raises if it cannot run here."""
    check_name(name)
    backend = _registry[name]
    reason = backend.unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"backend {name!r} cannot run here: {reason}")
    return backend


def is_device_array(array: Any) -> bool:
    """GPU arrays: anything with ``__cuda_array_interface__``, and Numba
    device arrays (whose simulator twins lack the interface)."""
    # copy_to_host first: on Numba arrays the interface is a property that
    # builds a dict at every access.
    return hasattr(array, "copy_to_host") or hasattr(array, "__cuda_array_interface__")
