"""From a public call to a kernel: validate, pick the backend, allocate, run."""

import inspect
import threading

import numpy as np

from . import _buffers, _config, _dask, _streaming, _validate, registry
from .definitions import BUILTIN

_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
_FAST_DTYPES = frozenset([_F32, _F64])


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


def forward_function(definition, parse_params):
    """The public ``f(x, *params, out=None, backend=None)`` of ``definition``.

    The call a training loop makes (default parameters, ndarrays; see
    :class:`FastPath`) runs on the short path written out below; anything
    else gets its parameters from ``parse_params(args, kwargs)`` and takes
    :func:`elementwise`, which explains errors.
    """
    fast = FastPath(definition, "forward")
    entries, params32, params64 = fast.entries, fast.params[_F32], fast.params[_F64]
    defaults = fast.defaults
    block_default, threshold = registry._block_default, _config.PARALLEL_THRESHOLD_BYTES
    ndarray, f32, f64, empty, pooled = np.ndarray, _F32, _F64, np.empty, _buffers.SMALLEST

    # The short path is spelled out here rather than in helpers (and again,
    # for two arrays, in backward_function), with what it reads bound to the
    # closure: each Python call or global lookup costs a small call a few
    # percent of its time (#5 goal 2).
    def forward(x, *, out=None, backend=None):
        if type(x) is ndarray:
            dtype = x.dtype
            params = params32 if dtype is f32 else params64 if dtype is f64 else None
            if params is not None:
                nbytes = x.nbytes
                chosen = (backend if backend is not None
                          else block_default.get() or registry._process_default)
                if chosen == "auto":
                    chosen = "numba" if nbytes < threshold else "numba-parallel"
                try:
                    entry = entries[chosen]
                except (KeyError, TypeError):  # TypeError: an unhashable backend=
                    entry = fast.find(chosen)
                result = out
                if out is None:  # FastPath.allocate spelled out
                    result = (empty(x.shape, dtype) if nbytes < pooled
                              else _buffers.empty(x.shape, dtype))
                try:
                    done = entry.run(x, result, *params) if params else entry.run(x, result)
                except Exception:  # not compiled for these arrays
                    done = entry.compile_and_run((x, result), params)
                if done:
                    return result
            elif dtype is _F16 and fast.half:
                result = fast.run_half((x,), out, backend)
                if result is not None:
                    return result
        params = parse_params((), {}) if defaults is None else defaults
        return elementwise(definition, "forward", (x,), ("x",), params, out, backend)

    # Apart, because taking ``*args, **kwargs`` costs a small call a tenth
    # of its time: activations without parameters do without.
    def forward_with_params(x, *args, out=None, backend=None, **kwargs):
        if args or kwargs:
            return elementwise(definition, "forward", (x,), ("x",), parse_params(args, kwargs),
                               out, backend)
        return forward(x, out=out, backend=backend)

    function = forward_with_params if definition.params else forward
    function.fast_path = fast
    return function


def backward_function(definition, parse_params, labels=("grad", "x"), public_name=None):
    """The public ``f(grad, x, *params, out=None, backend=None)`` of
    ``definition``'s backward, as :func:`forward_function`."""
    fast = FastPath(definition, "backward")
    entries, params32, params64 = fast.entries, fast.params[_F32], fast.params[_F64]
    defaults = fast.defaults
    block_default, threshold = registry._block_default, _config.PARALLEL_THRESHOLD_BYTES
    ndarray, f32, f64, empty, pooled = np.ndarray, _F32, _F64, np.empty, _buffers.SMALLEST

    def backward(grad, x, *, out=None, backend=None):
        if type(x) is ndarray and type(grad) is ndarray:
            dtype = x.dtype
            params = params32 if dtype is f32 else params64 if dtype is f64 else None
            if params is not None:
                nbytes = x.nbytes
                chosen = (backend if backend is not None
                          else block_default.get() or registry._process_default)
                if chosen == "auto":
                    chosen = "numba" if nbytes < threshold else "numba-parallel"
                try:
                    entry = entries[chosen]
                except (KeyError, TypeError):  # TypeError: an unhashable backend=
                    entry = fast.find(chosen)
                result = out
                if out is None:  # FastPath.allocate spelled out
                    result = (empty(x.shape, dtype) if nbytes < pooled
                              else _buffers.empty(x.shape, dtype))
                try:
                    done = (entry.run(grad, x, result, *params) if params
                            else entry.run(grad, x, result))
                except Exception:  # as in forward
                    done = entry.compile_and_run((grad, x, result), params)
                if done:
                    return result
            elif dtype is _F16 and fast.half and grad.dtype is _F16:
                result = fast.run_half((grad, x), out, backend)
                if result is not None:
                    return result
        params = parse_params((), {}) if defaults is None else defaults
        return elementwise(definition, "backward", (grad, x), labels, params, out, backend,
                           public_name)

    def backward_with_params(grad, x, *args, out=None, backend=None, **kwargs):
        if args or kwargs:
            return elementwise(definition, "backward", (grad, x), labels,
                               parse_params(args, kwargs), out, backend, public_name)
        return backward(grad, x, out=out, backend=backend)

    function = backward_with_params if definition.params else backward
    function.fast_path = fast
    return function


class FastPath:
    """What the short path of a public function needs, and its slow steps.

    The short path takes an activation with its default parameters on
    float32/float64 ndarrays (and relu on float16, as int16 bits), where the
    call's backend is ``numba`` or ``numba-parallel`` (or ``auto``, which
    picks one by size).  That backend's compiled entry checks shapes and
    overlap itself (``_cpu._LoopBackend.checked_entry``), and Numba's
    dispatcher checks the layouts: the entry is compiled only for
    C-contiguous, aligned arrays of one dtype with a writeable ``out``, and
    compiling at call time is off, so other arrays raise TypeError at once
    instead of compiling.  Anything it does not take goes the general way.
    """

    def __init__(self, activation, direction):
        self._activation = activation
        self._direction = direction
        # The default parameters (what a call that gives none checks to, and
        # what the general path takes), and cast to each dtype; None where
        # one has no default.
        empty = inspect.Parameter.empty
        defaults = (None if any(d is empty for _, d in activation.params)
                    else tuple(float(d) for _, d in activation.params))
        self.defaults = defaults
        self.params = {t: None if defaults is None else tuple(t.type(p) for p in defaults)
                       for t in (_F32, _F64)}
        # float16 where the activation has a loop on the values' int16 bits
        # (relu) and no parameters: the arrays go in as int16 views.
        half = activation.half_forward if direction == "forward" else activation.half_backward
        self.half = half is not None and defaults == ()
        # Backend name -> CheckedEntry (_NO_ENTRY where the backend has none),
        # for float values and for float16 bits.  Emptied whenever a
        # backend is registered.
        self.entries = {}
        self._bit_entries = {}
        registry.on_change(self._forget)

    def _forget(self):
        self.entries.clear()
        self._bit_entries.clear()

    def find(self, name, bits=False):
        """The entry of backend ``name`` (resolved from "auto"), kept for later calls."""
        if not isinstance(name, str):  # the general path explains
            return _NO_ENTRY
        entries = self._bit_entries if bits else self.entries
        entry = entries.get(name)
        if entry is None:
            generation = registry.generation
            entry = CheckedEntry.find(name, self._activation, self._direction, bits)
            if generation == registry.generation:  # else it may be a replaced backend's
                entries[name] = entry
        return entry

    @staticmethod
    def allocate(x):
        """A result array for ``x``: large ones from the pool (_buffers)."""
        if x.nbytes < _buffers.SMALLEST:
            return np.empty(x.shape, x.dtype)
        return _buffers.empty(x.shape, x.dtype)

    def run_half(self, inputs, out, backend):
        """float16: the short path on int16 views (a view costs a fraction of
        a microsecond, the general path about 13 us per call)."""
        x = inputs[-1]
        name = registry.get_backend() if backend is None else backend
        if name == registry.AUTO:
            name = "numba" if x.nbytes < _config.PARALLEL_THRESHOLD_BYTES else "numba-parallel"
        entry = self.find(name, bits=True)
        if out is None:
            out = self.allocate(x)
        elif type(out) is not np.ndarray or out.dtype != x.dtype:
            return None
        arrays = tuple(a.view(np.int16) for a in (*inputs, out))
        try:
            done = entry.run(*arrays)
        except Exception:  # not compiled for these arrays
            done = entry.compile_and_run(arrays, ())
        return out if done else None


class CheckedEntry:
    """One loop backend's checked entry (a compiled function of arrays of one
    dtype, then other arguments, that returns whether it ran): for one
    activation and direction here, and for the relu masks (``masks``)."""

    _lock = threading.Lock()

    def __init__(self, backend, dispatcher, largest=None):
        self._backend = backend
        self._dispatcher = dispatcher
        # Large relu results on the parallel backend are streamed
        # (_streaming), on the general path: the entry takes arrays of
        # fewer bytes than this.
        self._largest = largest
        # Until the dispatcher has a version it may not compile at call time.
        self.run = _not_compiled

    @classmethod
    def find(cls, name, activation, direction, bits=False):
        if name not in ("numba", "numba-parallel"):
            return _NO_ENTRY
        backend = registry.lookup(name)
        if not hasattr(backend, "checked_entry"):  # a replaced backend may lack it
            return _NO_ENTRY
        arity = 1 if direction == "forward" else 2
        streams = activation is BUILTIN["relu"] and not bits and name == "numba-parallel"
        return cls(backend, backend.checked_entry(activation, direction, arity, bits),
                   _streaming.SMALLEST if streams else None)

    def compile_and_run(self, arrays, params):
        """Compile the entry for these arrays if the short path takes them,
        and run it; False (nothing written) otherwise or if compiling fails."""
        if not all(type(a) is np.ndarray for a in arrays):
            return False
        dtype = arrays[-1].dtype
        if not (arrays[-1].flags.writeable and all(
                a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned for a in arrays)):
            return False
        dispatcher = self._dispatcher
        with self._lock:
            dispatcher.disable_compile(False)
            try:
                return self._runner()(*arrays, *params)
            except Exception:  # the general path compiles the loop again and explains
                return False
            finally:
                if dispatcher.signatures:
                    dispatcher.disable_compile(True)
                    self.run = self._runner()

    def _runner(self):
        run = self._backend.entry_runner(self._dispatcher)
        if self._largest is None:
            return run
        largest = self._largest

        def run_unless_streamed(*arrays):
            return arrays[-1].nbytes < largest and run(*arrays)
        return run_unless_streamed


class _NoEntry:
    """A backend without a checked entry: every call goes the general way."""

    @staticmethod
    def run(*arrays):
        return False  # never raises, so compile_and_run is never asked for


_NO_ENTRY = _NoEntry()


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
