"""Which backend and which kernel run a call, and how: the one place that decides.

A call is resolved once to a backend (``resolve``, with the ``auto`` rule
in ``auto_backend``).  The common call of an activation takes a short path
(``public_function``): a compiled entry on ndarrays, or the device
backend's ``short_call`` on its arrays.  Every other call of every
operation takes ``call``, the general path: stream, chunked and masked
arrays, conversion, backend, validation, results, staging and the
result's kind, each step written once there, with what differs between
operations in their ``Operation``.
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
    if not chosen.device:
        for a in (array, *others):
            if type(a) is not np.ndarray and registry.is_device_array(a):
                raise TypeError(f"{name}: backend {chosen.name!r} takes host (NumPy) arrays, "
                                "but a GPU array was given; use backend='cuda' or 'auto'")
    return chosen


def note_size(nbytes, limits=None):
    """For auto: a call on ``nbytes`` bytes, whose break-even sizes are
    ``limits`` (relu's by default), has ended (see auto_cpu)."""
    if nbytes >= (_RELU_LIMITS if limits is None else limits)[0]:
        large_call_ended()


def loop_entry(backend, x, loop):
    """For the compiled loops that stand outside the activations (masks):
    ``(backend, entry)``, the backend a call on ``x`` runs on and the
    :class:`CheckedEntry` of its loop named ``loop`` (its ``loop(name)``),
    or None where it has no such loop."""
    chosen = resolve(backend, x)
    if not hasattr(chosen, "loop"):
        return chosen, None
    key = (chosen, loop)
    entry = _loop_entries.get(key)
    if entry is None:
        entry = _loop_entries.setdefault(key, CheckedEntry(chosen, chosen.loop(loop)))
    return chosen, entry


_loop_entries: dict = {}


def run_entry(entry, arrays, others):
    """Run a CheckedEntry on ``arrays`` (C-contiguous and aligned, of one
    dtype, the result last) and ``others``: True when it ran, False
    (nothing written) where the call must go the general way."""
    try:
        done = entry.run(*arrays, *others)
    except Exception:  # not compiled for these arrays
        done = entry.compile_and_run(arrays, others)
    note_size(arrays[0].nbytes)
    return done


def chunk_backend(backend, meta):
    """The backend name each chunk of a chunked (Dask) array runs on, fixed
    when the graph is built (worker threads see no ``use_backend`` block):
    ``auto`` means one thread per chunk, since Dask already runs chunks in
    parallel.  Unknown or unavailable names fail now, not on a worker."""
    name = backend_name(backend)
    resolve(name, meta)
    if name == registry.AUTO:
        return DEVICE_AUTO if registry.is_device_array(meta) else "numba"
    return name


#: The backend ``auto`` picks for GPU arrays.
DEVICE_AUTO = "cuda"


def auto_backend(array, limits=None):
    """The backend ``auto`` picks for ``array``: ``cuda`` for a device array,
    else by size (``auto_cpu``)."""
    if registry.is_device_array(array):
        return DEVICE_AUTO
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


# --- the short path -----------------------------------------------------------


_MISSING = object()


def public_function(definition, direction, parse_params, labels, name):
    """The public ``f(*arrays, *params, out=None, backend=None, stream=None)``
    of ``definition``'s ``direction`` (``labels``: the arrays' names, one or two).

    The call a training loop makes (ndarrays, default parameters; see
    :class:`FastPath`) runs on the short path written out in ``short``:
    with what it reads bound to the closure, each Python call or global
    lookup saved is a few percent of a small call.  GPU arrays go to their
    backend's ``short_call`` where it has one.  Anything else, or a call
    either declines, takes :func:`elementwise`, which explains errors.
    Host arrays take no stream: ``stream`` only reaches GPU work.
    """
    fast = FastPath(definition, direction)
    entries, params32, params64 = fast.entries, fast.params[_F32], fast.params[_F64]
    limits32, limits64 = fast.limits[_F32], fast.limits[_F64]
    threshold32, threshold64 = limits32[0], limits64[0]
    defaults, arity = fast.defaults, len(labels)
    block_default = registry._block_default
    ndarray, f16, f32, f64, empty, pooled = np.ndarray, _F16, _F32, _F64, np.empty, _buffers.SMALLEST

    two = arity == 2

    def general(arrays, params, out, backend, stream):
        result = device_short_call(backend, stream, definition, direction, arrays, out, params)
        if result is not None:
            return result
        return elementwise(definition, direction, arrays, labels, params, out, backend, name,
                           stream)

    # One body for both arities: ``a`` is x for a forward, grad for a
    # backward (whose x is ``b``).  The arrays are positional, as a ufunc's.
    # b's default: None for a forward (x is a), for a backward a marker that
    # is no array, so that a call without x goes the general way and fails.
    def short(a, b=None if arity == 1 else _MISSING, /, *, out=None, backend=None, stream=None):
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
            return general((a,), parse_params((b,), {}), out, backend, stream)
        params = parse_params((), {}) if defaults is None else defaults
        return general((a, x) if two else (a,), params, out, backend, stream)

    # Apart, because taking ``*args, **kwargs`` costs a small call a tenth of
    # its time: only activations with parameters take them.
    def one_array(x, /, *args, out=None, backend=None, stream=None, **kwargs):
        if args or kwargs:
            return general((x,), parse_params(args, kwargs), out, backend, stream)
        return short(x, out=out, backend=backend, stream=stream)

    def two_arrays(grad, x, /, *args, out=None, backend=None, stream=None, **kwargs):
        if args or kwargs:
            return general((grad, x), parse_params(args, kwargs), out, backend, stream)
        return short(grad, x, out=out, backend=backend, stream=stream)

    function = (one_array if arity == 1 else two_arrays) if definition.params else short
    function.fast_path = fast
    return function


def device_short_call(backend, stream, operand, direction, arrays, out, params=()):
    """The short path of GPU arrays: their backend's ``short_call(operand,
    direction, arrays, out, params)`` (``operand``: an activation, or a
    gated activation's forward), where the call's backend has one and no
    stream is asked for; None where it has none or declines, and the
    general path takes the call."""
    if (stream is not None or not registry.is_device_array(arrays[-1])
            or registry._block_stream.get() is not None):
        return None
    name = backend if backend is not None else registry._block_default.get() or registry._process_default
    try:
        short_call = _device_short_calls[name]
    except (KeyError, TypeError):  # TypeError: an unhashable backend=
        short_call = _find_device_short_call(name)
    if short_call is None:
        return None
    return short_call(operand, direction, arrays, out, params)


# Backend name -> its short_call for GPU arrays (None: it has none).
_device_short_calls: dict = {}


def _find_device_short_call(name):
    """The ``short_call`` of the backend ``name`` stands for on GPU arrays
    (``auto``: DEVICE_AUTO), kept for later calls; None where there is none,
    or the general path must explain the name."""
    if not isinstance(name, str):
        return None
    generation = registry.generation
    try:
        chosen = registry.lookup(DEVICE_AUTO if name == registry.AUTO else name)
    except (ValueError, RuntimeError):  # unknown or unavailable: explained later
        return None
    short_call = getattr(chosen, "short_call", None) if chosen.device else None
    if generation == registry.generation:  # else it may be a replaced backend's
        _device_short_calls[name] = short_call
    return short_call


class _Forget:
    """Empties the short calls found when a backend is registered."""

    def forget(self):
        _device_short_calls.clear()


_FORGET = _Forget()
registry.on_change(_FORGET.forget)


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
        try:
            backend = registry.lookup(name)
        except (ValueError, RuntimeError):  # unknown or unavailable: the general path explains
            return _NO_ENTRY
        if not hasattr(backend, "checked_entry"):  # the loop backends have one
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
#
# Every operation's calls that the short paths do not take come here, to
# ``call``, which does each step once: the stream, chunked and masked
# arrays, conversion, the backend, validation, the results and their
# staging, and the result's kind.  An ``Operation`` says the rest: its
# arrays' names and dtype rule, its other arguments' checks, and how a
# backend runs it.  The arrays a backend gets are of its own kind (its
# ``arrays(...)``: ndarrays on the host, Numba device arrays on the GPU).


class Operation:
    """One operation's own part of the general path (see :func:`call`).

    Subclasses set the attributes and override what differs; an instance
    may carry what the operation is of (an activation and its direction, a
    gated activation)."""

    #: The Backend method that runs it, of ``registry.OPERATIONS``.
    operation = "activation"
    #: The names of its arrays, in call order, for error messages.
    labels: tuple = ("x",)
    #: Its dtype rule (``_validate.check_dtype``) and direction.
    rule: Any = _validate.FLOATS_ONLY
    direction = "forward"
    #: Whose break-even sizes ``auto`` takes (``parallel_limits``).
    cost_of = "relu"
    #: Whether it takes masked arrays (activations: computed on their data).
    takes_masked = False

    def chunked(self, name, arrays, out, backend, others):
        """The call on chunked (Dask) arrays; by default refused, with a clear
        error instead of a silent compute of the whole array."""
        raise TypeError(f"{name} does not take Dask arrays; call it on NumPy arrays, "
                        "or chunk by chunk with map_blocks")

    def others(self, name, kind, arrays, others, compute):
        """The other arguments (parameters, a bias, a weight, a mask),
        checked and in the form the backend takes (arrays of values in the
        ``compute`` dtype the arrays go to it in)."""
        return others

    def results(self, name, kind, arrays, out):
        """The arrays the call returns and writes: ``out`` checked, or new
        ones (``kind.new``).  By default one of the last array's shape."""
        like = arrays[-1]
        if out is None:
            return [kind.new(like.shape, like.dtype)]
        _validate.check_out(name, out, like)
        return [out]

    def run(self, backend, sources, targets, others):
        """Run ``backend``'s method on the staged arrays; returns what it does."""
        raise NotImplementedError

    def returned(self, kind, results, value, others):
        """What the call returns, of the caller's kind."""
        return kind.returned(results[0])


def call(op, name, arrays, out, backend, stream=None, others=()):
    """The general path of ``op`` for the public function ``name``: returns
    what it returns.  ``arrays`` are the array arguments (of one shape and
    dtype), ``others`` its other arguments."""
    if stream is not None:
        with registry.use_stream(stream):
            return call(op, name, arrays, out, backend, None, others)
    everything = (*arrays, *(() if out is None else out if type(out) is tuple else (out,)),
                  *others)
    if not _all_plain(everything):
        if chunked is not None and any(chunked.is_chunked(a) for a in everything):
            return op.chunked(name, arrays, out, backend, others)
        if op.takes_masked and any(isinstance(a, np.ma.MaskedArray) for a in arrays):
            return _masked(op, name, arrays, out, backend, others)
    arrays = _validate.as_arrays(arrays, name)
    lead = arrays[-1]
    limits = (parallel_limits(op.cost_of, op.direction, lead.dtype)
              if type(lead) is np.ndarray else None)
    chosen = backend_for(op.operation, backend, lead, name, *everything, limits=limits)
    kind = chosen.arrays(everything, name)
    arrays = kind.take_all(arrays)
    _validate.check_inputs(name, op.rule, op.direction, arrays, op.labels)
    dtype = arrays[0].dtype
    if not chosen.integers and dtype.kind in "iu":
        raise TypeError(f"{name}: the {chosen.name} backend takes float16, bfloat16, float32 "
                        f"or float64 arrays, not {dtype}")
    compute = chosen.compute_dtype(op, dtype)
    others = op.others(name, kind, arrays, others, compute)
    results = op.results(name, kind, arrays, out)
    value = None
    if arrays[-1].size:  # (the backend's arrays: a PyTorch tensor's size is a method)
        value = stage(kind, compute, chosen.layouts.get(op.operation, "c"), arrays, results,
                      lambda sources, targets: op.run(chosen, sources, targets, others),
                      fresh=out is None)
        if limits is not None:  # a host call: auto's
            note_size(arrays[-1].nbytes, limits)
    return op.returned(kind, results, value, others)


def values_like(name, label, kind, x, values, compute):
    """An operation's array of values beside ``x`` (a bias, a weight): a
    host one (any array-like) cast to x's dtype, a GPU one of x's dtype; as
    the backend takes it (``kind``), C-contiguous, in ``compute``."""
    if not registry.is_device_array(values):
        values = np.asarray(values, dtype=x.dtype)
    values = kind.take(values)
    if values.dtype != x.dtype:
        raise TypeError(f"{name}: {label} is {values.dtype} but x is {x.dtype}")
    return kind.arrange(values, compute, "c")


def _all_plain(objs):
    """Whether every argument is an ndarray, a GPU array or a number: no
    chunked or masked array to look for (a few tenths of a microsecond a
    call)."""
    for obj in objs:
        if type(obj) not in _PLAIN and not registry.is_device_array(obj):
            return False
    return True


_PLAIN = frozenset({np.ndarray, float, int})


def stage(kind, compute, layout, sources, results, run, fresh=False):
    """``run(sources, targets)`` on a backend's terms, written once for every
    operation: the sources in ``compute`` dtype and ``layout`` ("c":
    C-contiguous, "rows": 2-D with each row's elements next to each other,
    "any"), copied only where they are not; each target the result itself
    where the backend can write it so and it is no more than the very same
    view of a source it reads (``fresh``: new results, which overlap
    nothing), else a new array copied into the result afterwards.  Returns
    what ``run`` returns."""
    arranged = [kind.arrange(s, compute, layout) for s in sources]
    targets, staged = [], []
    for result in results:
        target = kind.writable(result, compute, layout)
        if target is not None and not fresh:
            for source in arranged:
                if kind.partly_overlaps(target, source):
                    target = None
                    break
        if target is None:
            target = kind.empty(arranged[0].shape, compute)
            staged.append((target, result))
        targets.append(target)
    value = run(arranged, targets)
    for target, result in staged:
        kind.copy_back(target, result)
    return value


def _masked(op, name, arrays, out, backend, others):
    """An operation on masked arrays: computed on their data, the result
    masked where any input is."""
    if out is not None:
        raise TypeError(f"{name}: out= is not supported with masked arrays; use the returned "
                        "masked array")
    data = call(op, name, [np.ma.getdata(a) for a in arrays], None, backend, None, others)
    mask = np.zeros(np.shape(data), bool)
    for a in arrays:
        mask |= np.ma.getmaskarray(a)
    return np.ma.masked_array(data, mask=mask)


class Elementwise(Operation):
    """An activation's forward or backward (a Definition, or a FromOutput's
    backward): ``others`` are its checked parameters."""

    takes_masked = True

    def __init__(self, activation, direction, labels):
        self.activation, self.direction, self.labels = activation, direction, labels
        self.rule, self.cost_of = activation, activation.name

    def chunked(self, name, arrays, out, backend, others):
        return chunked.elementwise(self.activation, self.direction, arrays, self.labels, others,
                                   out, backend, name)

    def run(self, backend, sources, targets, params):
        out = targets[0]
        dtype = out.dtype
        if dtype.kind == "u":
            # The integer-taking activations (relu) are the identity on unsigned
            # values; Numba would also type uint64 against a literal 0 as float64.
            np.copyto(out, sources[0])
            return None
        params = _dtypes.params_in(dtype, params)
        return backend.run(self.activation, self.direction, sources, out, params)


@functools.lru_cache(maxsize=256)  # users' activations come and go
def elementwise_operation(activation, direction, labels):
    return Elementwise(activation, direction, labels)


def elementwise(activation, direction, arrays, labels, params, out, backend, name=None,
                stream=None):
    """``activation``'s forward or backward on ``arrays`` (``(x,)``, ``(grad,
    x)``, or with a third for a slope per element; ``labels`` their names),
    with the checked scalar ``params``: the general path of the activations.
    ``name``: the public function's (default the activation's, with
    ``_backward`` for the backward)."""
    if name is None:
        name = activation.name if direction == "forward" else activation.name + "_backward"
    return call(elementwise_operation(activation, direction, tuple(labels)), name, arrays, out,
                backend, stream, params)
