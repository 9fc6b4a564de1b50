"""Which backend and which kernel run a call: the one place that decides.

A call is classified once (chunked array, device array or host ndarray;
dtype; size; layout) and resolved once to a backend (``resolve``, with the
``auto`` rule in ``auto_backend``) and, for the common call, to a compiled
entry (``public_function``'s short path).  Everything else takes
``elementwise``, the general path, which validates, explains errors,
allocates, stages and hands the arrays to the backend's operation.
"""

import functools
import inspect
import math
import threading
import time
from typing import Any

import numpy as np

from . import _buffers, _config, _dtypes, _validate, registry

_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)

# --- the backend of a call ----------------------------------------------------


def backend_name(backend):
    """The backend name in force for a call: ``backend=`` > ``use_backend()``
    block > ``set_backend()`` / ``FASTRELU_BACKEND`` > ``"auto"``."""
    return registry.get_backend() if backend is None else backend


def resolve(backend, array, limits=None):
    """The :class:`~fastrelu.Backend` that runs a call on ``array`` (``limits``:
    its break-even sizes for ``auto``, see :func:`auto_cpu`)."""
    name = backend_name(backend)
    if registry.check_name(name) == registry.AUTO:
        name = auto_backend(array, limits)
    return registry.lookup(name)


def backend_for(operation, backend, array, name, *others, limits=None):
    """The backend that runs ``operation`` for the public function ``name``
    on ``array`` (and ``others``, the call's other arrays): it must implement
    the operation (NotImplementedError otherwise) and take the arrays' kind
    (a host backend takes no GPU array: TypeError)."""
    chosen = resolve(backend, array, limits)
    if operation not in chosen.operations:
        raise NotImplementedError(
            f"{name}: backend {chosen.name!r} does not implement {operation} "
            f"(it implements: {', '.join(o for o in registry.OPERATIONS if o in chosen.operations)})")
    if not chosen.device and any(registry.is_device_array(a) for a in (array, *others)):
        raise TypeError(f"{name}: backend {chosen.name!r} takes host (NumPy) arrays, "
                        "but a GPU array was given; use backend='cuda' or 'auto'")
    return chosen


def run_into(out, sources, operation):
    """``operation(*sources, target)``: the backends' contract for operations
    that write an array.  The sources go in C-contiguous, and ``target`` is
    ``out`` where it is C-contiguous and no more than the very same view of
    a source, else a new array copied into ``out`` afterwards.  Returns what
    the operation returns (a weight gradient, say)."""
    sources = [np.ascontiguousarray(s) for s in sources]
    target = out
    if (type(out) is not np.ndarray or not out.dtype.isnative or not out.flags.c_contiguous
            or any(_validate.partly_overlaps(out, s) for s in sources)):
        target = np.empty(out.shape, _validate.native(out.dtype))
    result = operation(*sources, target)
    if target is not out:
        np.copyto(out, target)
    note_size(out.nbytes)
    return result


def note_size(nbytes, limits=None):
    """For auto: a call on ``nbytes`` bytes, whose break-even sizes are
    ``limits`` (relu's by default), has ended (see auto_cpu)."""
    if nbytes >= (_RELU_LIMITS if limits is None else limits)[0]:
        large_call_ended()


def loop_parallelism(backend, x):
    """For the loops that stand outside the backends (masks):
    True or False where the call runs on ``numba-parallel`` or ``numba``
    (``auto`` picks by size), None for any other backend."""
    return getattr(resolve(backend, x), "parallel", None)


def chunk_backend(backend, meta):
    """The backend name each chunk of a chunked (Dask) array runs on, fixed
    when the graph is built (worker threads see no ``use_backend`` block):
    ``auto`` means one thread per chunk, since Dask already runs chunks in
    parallel.  Unknown or unavailable names fail now, not on a worker."""
    name = backend_name(backend)
    resolve(name, meta)
    if name == registry.AUTO:
        return "cuda" if registry.is_device_array(meta) else "numba"
    return name


def auto_backend(array, limits=None):
    """The backend ``auto`` picks for ``array``: ``cuda`` for a device array,
    else by size (``auto_cpu``)."""
    if registry.is_device_array(array):
        return "cuda"
    return auto_cpu(array.size * array.dtype.itemsize, limits)


# When the last call of at least its first break-even size (parallel_limits)
# ended: whether the thread pool's workers are still awake, and fastrelu's
# calls come back to back.
_last_large_call = -math.inf


def auto_cpu(nbytes, limits=None):
    """``numba`` or ``numba-parallel`` for a call on ``nbytes`` bytes.

    ``limits`` are the call's break-even sizes (``parallel_limits``):
    parallel from the first when the pool's workers are awake (the call
    comes right after another parallel one, within ``POOL_WARM_SECONDS``,
    the time they spin before they sleep), from the second when they sleep
    (after other work: a matrix product, say).  Without, relu's, measured
    in real programs: ``PARALLEL_THRESHOLD_BYTES`` and
    ``COLD_PARALLEL_THRESHOLD_BYTES``.
    """
    warm, cold = _RELU_LIMITS if limits is None else limits
    if nbytes < warm:
        return "numba"
    if nbytes >= cold or time.perf_counter() - _last_large_call < _config.POOL_WARM_SECONDS:
        return "numba-parallel"
    return "numba"


_RELU_LIMITS = (_config.PARALLEL_THRESHOLD_BYTES, _config.COLD_PARALLEL_THRESHOLD_BYTES)


@functools.lru_cache(maxsize=None)
def parallel_limits(activation, direction, dtype):
    """(bytes from which a call of ``activation``'s ``direction`` on ``dtype``
    runs parallel when the pool's workers are awake, bytes from which it
    does when they sleep): where the serial time it saves on Numba's
    threads, ``n * ns * (1 - 1 / threads)``, passes the parallel loop's own
    cost, both measured (``_costs``, by perf/bench_auto.py).  Loops bound
    by memory (under twice relu's time) keep relu's limits, measured in
    whole programs (perf/bench_interleaved.py), and so do activations
    without a measured cost (a user's) and one thread; the others never go
    parallel later than relu, nor below ``SMALLEST_PARALLEL_BYTES``."""
    from . import _costs

    if dtype.kind not in "fV":  # integers (relu) and other kinds: relu's
        return _RELU_LIMITS
    kind = "float64" if dtype.itemsize == 8 else "float32"  # 16-bit floats compute in float32
    ns = _costs.SERIAL_NS_PER_ELEMENT.get((activation, direction, kind))
    relu_ns = _costs.SERIAL_NS_PER_ELEMENT.get(("relu", direction, kind))
    if ns is None or relu_ns is None or ns < 2 * relu_ns or _config.THREADS < 2:
        return _RELU_LIMITS
    saved_per_byte = ns * 1e-9 * (1 - 1 / _config.THREADS) / dtype.itemsize
    floor = _config.SMALLEST_PARALLEL_BYTES
    return tuple(min(relu, max(floor, int(cost / saved_per_byte)))
                 for relu, cost in zip(_RELU_LIMITS, (_costs.PARALLEL_AWAKE_SECONDS,
                                                      _costs.PARALLEL_ASLEEP_SECONDS)))


def large_call_ended():
    """Note that a call of at least its first break-even size has just ended."""
    global _last_large_call
    _last_large_call = time.perf_counter()


# --- chunked arrays -----------------------------------------------------------

#: The chunked-array integration (Dask): a module with ``is_chunked(obj)``,
#: ``elementwise(...)`` (an activation chunk by chunk), ``gated(...)`` and
#: ``gated_backward(...)``, ``per_channel(weight, x, axis)``, ``uniform(rng,
#: lower, upper, like)`` and ``concatenate(arrays, axis)``.  It registers itself
#: (``register_chunked``), so that nothing here imports an integration.
chunked: Any = None


def register_chunked(integration):
    global chunked
    chunked = integration


def is_chunked(obj):
    return chunked is not None and chunked.is_chunked(obj)


def refuse_chunked(name, *objs):
    """A clear error (instead of a silent compute of the whole array) for the
    functions that have no chunked form."""
    if any(is_chunked(o) for o in objs):
        raise TypeError(f"{name} does not take Dask arrays; call it on NumPy arrays, "
                        "or chunk by chunk with map_blocks")


# --- the short path -----------------------------------------------------------


_MISSING = object()

#: A device backend's short path, by the array type it takes: ``call(
#: activation, direction, arrays, out, backend, params)`` returns the result,
#: or None where the general path must take the call (``elementwise``).
#: Filled by the backend once it has run (the cuda backend: Numba's device
#: arrays), so that nothing here imports a GPU library.
DEVICE_CALLS: dict = {}


def on_stream(stream, function, *args, **kwargs):
    """``function(*args, **kwargs)`` with its GPU work on ``stream`` (see
    :func:`fastrelu.use_stream`): the ``stream=`` of every operation."""
    with registry.use_stream(stream):
        return function(*args, **kwargs)


def public_function(definition, direction, parse_params, labels, name):
    """The public ``f(*arrays, *params, out=None, backend=None)`` of
    ``definition``'s ``direction`` (``labels``: the arrays' names, one or two).

    The call a training loop makes (ndarrays, default parameters; see
    :class:`FastPath`) runs on the short path written out in ``short``:
    with what it reads bound to the closure, each Python call or global
    lookup saved is a few percent of a small call.  Anything else, or a call
    the entry declines, takes :func:`elementwise`, which explains errors.
    """
    fast = FastPath(definition, direction)
    entries, params32, params64 = fast.entries, fast.params[_F32], fast.params[_F64]
    limits32, limits64 = fast.limits[_F32], fast.limits[_F64]
    threshold32, threshold64 = limits32[0], limits64[0]
    defaults, arity = fast.defaults, len(labels)
    block_default = registry._block_default
    ndarray, f16, f32, f64, empty, pooled = np.ndarray, _F16, _F32, _F64, np.empty, _buffers.SMALLEST

    two = arity == 2
    device_calls = DEVICE_CALLS

    def general(arrays, params, out, backend):
        quick = device_calls.get(type(arrays[-1]))
        if quick is not None:
            result = quick(definition, direction, arrays, out, backend, params)
            if result is not None:
                return result
        return elementwise(definition, direction, arrays, labels, params, out, backend, name)

    # One body for both arities: ``a`` is x for a forward, grad for a
    # backward (whose x is ``b``).  The arrays are positional, as a ufunc's.
    # b's default: None for a forward (x is a), for a backward a marker that
    # is no array, so that a call without x goes the general way and fails.
    def short(a, b=None if arity == 1 else _MISSING, /, *, out=None, backend=None, stream=None):
        if stream is not None:
            return on_stream(stream, short, a, b, out=out, backend=backend)
        x = a if b is None else b  # a forward given b (a parameter it lacks) goes the general way
        if type(x) is ndarray and type(a) is ndarray and (out is None or type(out) is ndarray):
            dtype = x.dtype
            params = params32 if dtype is f32 else params64 if dtype is f64 else None
            if params is not None:
                nbytes = x.nbytes
                threshold = threshold32 if dtype is f32 else threshold64
                chosen = backend if backend is not None else block_default.get() or registry._process_default
                if chosen == "auto":
                    chosen = "numba" if nbytes < threshold else auto_cpu(
                        nbytes, limits32 if dtype is f32 else limits64)
                try:
                    entry = entries[chosen]
                except (KeyError, TypeError):  # TypeError: an unhashable backend=
                    entry = fast.find(chosen)
                result = out
                if out is None:
                    result = empty(x.shape, dtype) if nbytes < pooled else _buffers.empty(x.shape, dtype)
                try:
                    if two:
                        done = entry.run(a, x, result, *params) if params else entry.run(a, x, result)
                    else:
                        done = entry.run(x, result, *params) if params else entry.run(x, result)
                except Exception:  # not compiled for these arrays
                    done = entry.compile_and_run((a, x, result) if two else (x, result), params)
                if nbytes >= threshold:
                    large_call_ended()
                if done:
                    return result
                out = result  # declined: the general path writes into it, allocates nothing
            elif a.dtype == dtype and (dtype is f16 or dtype.kind == "V"):
                bits = _dtypes.bits_format(dtype)
                if bits in fast.bit_formats:
                    result = fast.run_bits(bits, (a, x) if two else (x,), out, backend)
                    if result is not None:
                        return result
        if b is _MISSING:
            raise TypeError(f"{name} takes two arrays, {labels[0]} and {labels[1]}")
        if not two and b is not None:  # a parameter the activation does not have
            return general((a,), parse_params((b,), {}), out, backend)
        params = parse_params((), {}) if defaults is None else defaults
        return general((a, x) if two else (a,), params, out, backend)

    # Apart, because taking ``*args, **kwargs`` costs a small call a tenth of
    # its time: only activations with parameters take them.
    def one_array(x, /, *args, out=None, backend=None, stream=None, **kwargs):
        if stream is not None:
            return on_stream(stream, one_array, x, *args, out=out, backend=backend, **kwargs)
        if args or kwargs:
            return general((x,), parse_params(args, kwargs), out, backend)
        return short(x, out=out, backend=backend)

    def two_arrays(grad, x, /, *args, out=None, backend=None, stream=None, **kwargs):
        if stream is not None:
            return on_stream(stream, two_arrays, grad, x, *args, out=out, backend=backend,
                             **kwargs)
        if args or kwargs:
            return general((grad, x), parse_params(args, kwargs), out, backend)
        return short(grad, x, out=out, backend=backend)

    function = (one_array if arity == 1 else two_arrays) if definition.params else short
    function.fast_path = fast
    return function


class FastPath:
    """What the short path of a public function needs, and its slow steps.

    The short path takes an activation with its default parameters on
    float32/float64 ndarrays (and, on their int16 bits, bfloat16 ones and
    float16 ones where the activation has a loop on them: relu), where the
    call's backend is ``numba`` or ``numba-parallel`` (or ``auto``, which
    picks one).  That backend's compiled entry checks shapes and overlap
    itself (``cpu.backends._LoopBackend.checked_entry``), and Numba's dispatcher
    checks the layouts: the entry is compiled only for C-contiguous, aligned
    arrays of one dtype with a writeable ``out``, and compiling at call time
    is off, so other arrays raise TypeError at once instead of compiling.
    Anything it does not take goes the general way.
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
        # auto's break-even sizes for each dtype (parallel_limits).
        self.limits = {t: parallel_limits(activation.name, direction, t) for t in (_F16, _F32, _F64)}
        # The 16-bit floats whose arrays go in as int16 views: float16 where
        # the activation has a loop on its bits (relu) and no parameters,
        # bfloat16 (computed in float32 in the loop) with default parameters.
        half = getattr(activation, f"half_{direction}")
        self.bit_formats = frozenset(
            (["float16"] if half is not None and defaults == () else [])
            + (["bfloat16"] if defaults is not None else []))
        # Backend name -> CheckedEntry (_NO_ENTRY where the backend has none),
        # for float values; (bits, name) -> CheckedEntry for 16-bit floats'
        # bits.  Emptied whenever a backend is registered.
        self.entries = {}
        self._bit_entries = {}
        registry.on_change(self._forget)

    def _forget(self):
        self.entries.clear()
        self._bit_entries.clear()

    def find(self, name, bits=None):
        """The entry of backend ``name`` (resolved from "auto") for float
        values or 16-bit floats' ``bits``, kept for later calls."""
        if not isinstance(name, str):  # the general path explains
            return _NO_ENTRY
        entries, key = (self.entries, name) if bits is None else (self._bit_entries, (bits, name))
        entry = entries.get(key)
        if entry is None:
            generation = registry.generation
            entry = CheckedEntry.find(name, self._activation, self._direction, bits)
            if generation == registry.generation:  # else it may be a replaced backend's
                entries[key] = entry
        return entry

    def run_bits(self, bits, inputs, out, backend):
        """16-bit floats: the short path on int16 views (a view costs a
        fraction of a microsecond, the general path about 13 us per call)."""
        x = inputs[-1]
        name = backend_name(backend)
        limits = self.limits[_F16]  # 16-bit floats: 2 bytes an element, computed in float32
        if name == registry.AUTO:
            name = auto_cpu(x.nbytes, limits)
        entry = self.find(name, bits)
        if out is None:
            out = allocate(x)
        elif type(out) is not np.ndarray or out.dtype != x.dtype:
            return None
        arrays = tuple(a.view(np.int16) for a in (*inputs, out))
        params = self.params[_F32] if bits == "bfloat16" else ()
        try:
            done = entry.run(*arrays, *params)
        except Exception:  # not compiled for these arrays
            done = entry.compile_and_run(arrays, params)
        if x.nbytes >= limits[0]:
            large_call_ended()
        return out if done else None


def allocate(x):
    """A result array for ``x``: large ones from the pool (_buffers)."""
    if x.nbytes < _buffers.SMALLEST:
        return np.empty(x.shape, x.dtype)
    return _buffers.empty(x.shape, x.dtype)


class CheckedEntry:
    """One loop backend's checked entry (a compiled function of arrays of one
    dtype, then other arguments, that returns whether it ran): for one
    activation and direction here, and for the relu masks (``masks``)."""

    _lock = threading.Lock()

    def __init__(self, backend, dispatcher, largest=None):
        self._backend = backend
        self._dispatcher = dispatcher
        # None, or the entry takes results of fewer bytes than this, and
        # leaves larger ones to the general path (the backend's
        # ``checked_entry_largest``).
        self._largest = largest
        # Until the dispatcher has a version it may not compile at call time.
        self.run = _not_compiled

    @classmethod
    def find(cls, name, activation, direction, bits=None):
        if name not in ("numba", "numba-parallel"):
            return _NO_ENTRY
        backend = registry.lookup(name)
        if not hasattr(backend, "checked_entry"):  # a replaced backend may lack it
            return _NO_ENTRY
        arity = 1 if direction == "forward" else 2
        return cls(backend, backend.checked_entry(activation, direction, arity, bits),
                   backend.checked_entry_largest(activation, bits))

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


# --- the general path ---------------------------------------------------------


def elementwise(activation, direction, arrays, labels, params, out, backend, name=None):
    """Apply ``activation`` (forward or backward) elementwise and return ``out``.

    ``arrays`` are the array arguments (``(x,)`` or ``(grad, x)``), ``labels``
    their names for error messages, ``params`` the checked scalar parameters,
    ``name`` the public function's name (default: the activation's, with
    ``_backward`` for the backward).
    """
    if name is None:
        name = activation.name if direction == "forward" else activation.name + "_backward"
    if chunked is not None and any(chunked.is_chunked(a) for a in (*arrays, out)):
        return chunked.elementwise(activation, direction, arrays, labels, params, out, backend, name)
    if any(isinstance(a, np.ma.MaskedArray) for a in arrays):
        return _masked(activation, direction, arrays, labels, params, out, backend, name)
    arrays = _validate.as_arrays(arrays, name)
    limits = parallel_limits(activation.name, direction, arrays[0].dtype)
    chosen = backend_for("activation", backend, arrays[0], name, *arrays[1:], out, limits=limits)
    if chosen.device:
        return chosen.run_device(activation, direction, arrays, labels, out, params, name)
    _validate.check_inputs(name, activation, direction, arrays, labels)
    like = arrays[0]
    if out is not None:
        _validate.check_out(name, out, like)

    if out is None:
        out = np.empty_like(like)
    given, out = out, np.asarray(out)  # an ndarray subclass is written through a plain view
    if out.size == 0:
        return given
    dtype = _validate.native(out.dtype)
    if dtype.kind == "u":
        # The integer-taking activations (relu) are the identity on unsigned
        # values; Numba would also type uint64 against a literal 0 as float64.
        np.copyto(out, arrays[0])
        return given
    # Numba has no float16 or bfloat16 arithmetic on the CPU: without a
    # loop on their bits, compute in float32 and round once at the end.
    bits = _dtypes.bits_format(dtype)
    if bits == "float16":
        on_bits = getattr(activation, f"half_{direction}") is not None
    else:
        on_bits = bits == "bfloat16" and chosen.bfloat16_kernels
    compute = _F32 if bits is not None and not on_bits else dtype
    inputs = [a.astype(compute) if a.dtype != compute else a for a in arrays]
    if compute.kind == "f" or bits == "bfloat16":  # bfloat16 loops compute in float32
        params = tuple(np.float32(p) if compute.kind != "f" else compute.type(p) for p in params)
    target = out
    if compute != out.dtype or any(_validate.partly_overlaps(out, a) for a in inputs):
        target = np.empty(out.shape, compute)  # (a non-native out too)
    chosen.run(activation, direction, inputs, target, params)
    if out.nbytes >= limits[0]:
        large_call_ended()
    if target is not out:
        np.copyto(out, target, casting="unsafe")
    return given


def _masked(activation, direction, arrays, labels, params, out, backend, name):
    """An activation of masked arrays: computed on their data, the result
    masked where any input is."""
    if out is not None:
        raise TypeError(f"{name}: out= is not supported with masked arrays; use the returned "
                        "masked array")
    data = elementwise(activation, direction, [np.ma.getdata(a) for a in arrays], labels, params,
                       None, backend, name)
    mask = np.zeros(np.shape(data), bool)
    for a in arrays:
        mask |= np.ma.getmaskarray(a)
    return np.ma.masked_array(data, mask=mask)
