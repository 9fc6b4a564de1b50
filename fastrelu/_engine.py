"""From a public call to a kernel: validate, pick the backend, allocate, run."""

import threading

import numpy as np

from . import _buffers, _config, _dask, _streaming, _validate, registry
from .definitions import BUILTIN


_FAST_DTYPES = frozenset([np.dtype(np.float32), np.dtype(np.float64)])


def elementwise(activation, direction, arrays, labels, params, out, backend, name=None):
    """Apply ``activation`` (forward or backward) elementwise and return ``out``.

    ``arrays`` are the array arguments (``(x,)`` or ``(grad, x)``), ``labels``
    their names for error messages, ``params`` the checked scalar parameters,
    ``name`` the public function's name (default: the activation's, with
    ``_backward`` for the backward).
    """
    result = _common_case(activation, direction, arrays, params, out, backend)
    if result is not None:
        return result
    if name is None:
        name = activation.name if direction == "forward" else activation.name + "_backward"
    return _general_case(activation, direction, arrays, labels, params, out, backend, name)


def _common_case(activation, direction, arrays, params, out, backend):
    """The call that training loops make, with the fewest checks that make it
    safe: C-contiguous float32/float64 ndarrays of one shape and dtype, and an
    ``out`` that is one of the inputs or shares no memory with them.  Anything
    else returns None and takes the general path, which explains errors."""
    x = arrays[0]
    if type(x) is not np.ndarray or x.dtype not in _FAST_DTYPES or not x.flags.c_contiguous:
        return None
    for a in arrays[1:]:
        if (type(a) is not np.ndarray or a.dtype != x.dtype or a.shape != x.shape
                or not a.flags.c_contiguous):
            return None
    if out is None:
        out = _buffers.empty(x.shape, x.dtype)
    elif (type(out) is not np.ndarray or out.dtype != x.dtype or out.shape != x.shape
          or not out.flags.c_contiguous or not out.flags.writeable
          or any(out is not a and np.may_share_memory(out, a) for a in arrays)):
        return None
    chosen = registry.resolve(backend, x)
    if chosen.device:
        return None
    if x.size:
        cast = x.dtype.type
        chosen.run(activation, direction, arrays, out, tuple(cast(p) for p in params))
    return out


class FastPath:
    """The call a training loop makes, in as few Python steps as we can: an
    activation with its default parameters on float32/float64 ndarrays, where
    the call's backend is ``numba`` or ``numba-parallel`` (or ``auto``, which
    picks one by size).  That backend's compiled entry checks shapes and
    overlap itself (``_cpu._LoopBackend.checked_entry``), and Numba's
    dispatcher checks the layouts: the entry is compiled only for
    C-contiguous, aligned arrays of one dtype with a writeable ``out``, and
    compiling at call time is off, so other arrays raise TypeError at once
    instead of compiling.  Each method returns the result, or None for
    anything else, which then takes the general path (and gets its clear
    errors there)."""

    def __init__(self, activation, direction, default_params):
        self._activation = activation
        self._direction = direction
        # The dtypes taken, each with the default parameters cast to it.
        self._params = {} if default_params is None else {
            np.dtype(t): tuple(t(p) for p in default_params) for t in (np.float32, np.float64)}
        # float16 where the activation has a loop on the values' int16 bits
        # (relu) and no parameters: the arrays go in as int16 views.
        half = activation.half_forward if direction == "forward" else activation.half_backward
        self._half = half is not None and default_params == ()
        self._entries = {}  # (backend name, bits) -> _Entry, or None where it has none
        self._generation = -1
        # Large relu results (and gradients) are streamed (_streaming), on the
        # general path.
        self._streams = activation is BUILTIN["relu"]

    # forward and backward are spelled out apart: a shared helper taking
    # the arrays as a tuple would cost a tenth of a small call.
    def forward(self, x, out, backend):
        if type(x) is not np.ndarray:
            return None
        params = self._params.get(x.dtype)
        if params is None:
            return self._half_forward(x, out, backend) if x.dtype == np.float16 else None
        entry = self._entry(backend, x.nbytes)
        if entry is None:
            return None
        if out is None:
            out = (np.empty(x.shape, x.dtype) if x.nbytes < _buffers.SMALLEST
                   else _buffers.empty(x.shape, x.dtype))
        elif type(out) is not np.ndarray:
            return None
        try:
            done = entry.run(x, out, *params)
        except Exception:  # not compiled for these arrays: compile if they qualify
            done = entry.compile_and_run((x, out), params)
        return out if done else None

    def backward(self, grad, x, out, backend):
        if type(x) is not np.ndarray or type(grad) is not np.ndarray:
            return None
        params = self._params.get(x.dtype)
        if params is None:
            return self._half_backward(grad, x, out, backend) if x.dtype == np.float16 else None
        entry = self._entry(backend, x.nbytes)
        if entry is None:
            return None
        if out is None:
            out = (np.empty(x.shape, x.dtype) if x.nbytes < _buffers.SMALLEST
                   else _buffers.empty(x.shape, x.dtype))
        elif type(out) is not np.ndarray:
            return None
        try:
            done = entry.run(grad, x, out, *params)
        except Exception:  # as in forward
            done = entry.compile_and_run((grad, x, out), params)
        return out if done else None

    # float16: the same, on int16 views (a view costs a fraction of a
    # microsecond; the general path about 13 us per call).
    def _half_forward(self, x, out, backend):
        return self._run_half((x,), out, backend)

    def _half_backward(self, grad, x, out, backend):
        return self._run_half((grad, x), out, backend) if grad.dtype == x.dtype else None

    def _run_half(self, inputs, out, backend):
        x = inputs[-1]
        entry = self._entry(backend, x.nbytes, bits=True) if self._half else None
        if entry is None:
            return None
        if out is None:
            out = (np.empty(x.shape, x.dtype) if x.nbytes < _buffers.SMALLEST
                   else _buffers.empty(x.shape, x.dtype))
        elif type(out) is not np.ndarray or out.dtype != x.dtype:
            return None
        arrays = tuple(a.view(np.int16) for a in (*inputs, out))
        try:
            done = entry.run(*arrays)
        except Exception:  # not compiled for these arrays: compile if they qualify
            done = entry.compile_and_run(arrays, ())
        return out if done else None

    def _entry(self, backend, nbytes, bits=False):
        """The entry of the loop backend this call runs on, or None."""
        # registry.get_backend() spelled out: a call costs 10% of the whole.
        name = backend or registry._block_default.get() or registry._process_default
        if name == registry.AUTO:
            name = "numba" if nbytes < _config.PARALLEL_THRESHOLD_BYTES else "numba-parallel"
        if self._streams and not bits and nbytes >= _streaming.SMALLEST and name == "numba-parallel":
            return None
        if self._generation != registry.generation:  # first call, or backends changed
            self._entries = {}
            self._generation = registry.generation
        try:
            return self._entries[name, bits]
        except KeyError:
            entry = _Entry.find(name, self._activation, self._direction, bits)
            self._entries[name, bits] = entry
            return entry


class _Entry:
    """One loop backend's checked entry for one activation and direction."""

    _lock = threading.Lock()

    def __init__(self, backend, dispatcher):
        self._backend = backend
        self._dispatcher = dispatcher
        # Until the dispatcher has a version it may not compile at call time.
        self.run = _not_compiled

    @classmethod
    def find(cls, name, activation, direction, bits=False):
        if name not in ("numba", "numba-parallel"):
            return None
        backend = registry.lookup(name)
        if not hasattr(backend, "checked_entry"):  # a replaced backend may lack it
            return None
        arity = 1 if direction == "forward" else 2
        return cls(backend, backend.checked_entry(activation, direction, arity, bits))

    def compile_and_run(self, arrays, params):
        """Compile the entry for these arrays if the fast path takes them, and
        run it; False (nothing written) otherwise or if compiling fails."""
        dtype = arrays[-1].dtype
        if not (arrays[-1].flags.writeable and all(
                a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned for a in arrays)):
            return False
        dispatcher = self._dispatcher
        with self._lock:
            dispatcher.disable_compile(False)
            try:
                return self._backend.entry_runner(dispatcher)(*arrays, *params)
            except Exception:  # the general path compiles the loop again and explains
                return False
            finally:
                if dispatcher.signatures:
                    dispatcher.disable_compile(True)
                    self.run = self._backend.entry_runner(dispatcher)


def _not_compiled(*args):
    raise TypeError("not compiled yet")


def _general_case(activation, direction, arrays, labels, params, out, backend, name):
    if _dask.any_dask(*arrays, out):
        return _dask.elementwise(activation, direction, arrays, labels, params, out, backend, name)
    arrays = _validate.as_arrays(arrays)
    chosen = registry.resolve(backend, arrays[0])
    if any(registry.is_device_array(a) for a in (*arrays, out)) or chosen.device:
        if not chosen.device:
            raise TypeError(f"{name}: backend {chosen.name!r} takes host (NumPy) arrays, "
                            "but a GPU array was given; use backend='cuda' or 'auto'")
        return chosen.run_device(activation, direction, arrays, labels, out, params, name)
    _validate.check_inputs(name, activation, direction, arrays, labels)
    like = arrays[0]
    if out is not None:
        _validate.check_out(name, out, like)

    if out is None:
        out = np.empty_like(like)
    if out.size == 0:
        return out
    dtype = out.dtype
    if dtype.kind == "u":
        # The integer-taking activations (relu) are the identity on unsigned
        # values; Numba would also type uint64 against a literal 0 as float64.
        np.copyto(out, arrays[0])
        return out
    bit_kernel = activation.half_forward if direction == "forward" else activation.half_backward
    # Numba has no float16 arithmetic on the CPU: without a kernel on the
    # float16 bits, compute in float32 and round once at the end.
    compute = np.dtype(np.float32) if dtype == np.float16 and bit_kernel is None else dtype
    inputs = [a.astype(compute) if a.dtype != compute else a for a in arrays]
    if compute.kind == "f":
        params = tuple(compute.type(p) for p in params)
    target = out
    if compute != dtype or any(_validate.partly_overlaps(out, a) for a in inputs):
        target = np.empty(out.shape, compute)
    chosen.run(activation, direction, inputs, target, params)
    if target is not out:
        np.copyto(out, target, casting="unsafe")
    return out
