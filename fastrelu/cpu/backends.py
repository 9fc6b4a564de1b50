"""CPU backends: the NumPy reference and three Numba code generators.

Each Numba backend turns an activation's scalar formula into a compiled
kernel on first use (one per activation and direction, specialised per dtype
by Numba) and runs it on flat views of the arrays.
"""

import functools
import threading

import numpy as np

from .. import _compiler, _dtypes, _source, definitions
from . import streaming
from .pool import POOL, run_parallel
from .._arrays import partly_overlaps_flat
from ..registry import OPERATIONS, Backend


class NumpyBackend(Backend):
    """The plain NumPy expression of each operation: always available, and the reference."""

    name = "numpy"
    operations = frozenset(OPERATIONS)

    def run(self, activation, direction, inputs, out, params):
        formula = activation.reference if direction == "forward" else activation.reference_backward
        with np.errstate(all="ignore"):
            result = formula(*inputs, *params)
        np.copyto(out, result, casting="unsafe")

    def relu_mask(self, x, out, mask):
        mask[...] = definitions.relu_mask_ref(x)  # before out may overwrite x
        np.copyto(out, x if x.dtype.kind == "u" else definitions.relu_ref(x))

    def relu_backward_mask(self, grad, mask, out):
        keep = np.unpackbits(mask, count=grad.size, bitorder="little").reshape(grad.shape)
        np.copyto(out, np.where(keep.astype(bool), grad, grad.dtype.type(0)))

    def bias_relu(self, x, bias, out):
        np.copyto(out, definitions.bias_relu_ref(x, bias))

    def bias_relu_backward(self, grad, x, bias, grad_x):
        np.copyto(grad_x, definitions.bias_relu_backward_ref(grad, x, bias))

    def prelu(self, x, weight, out):
        np.copyto(out, definitions.prelu_ref(x, definitions.along_channels(weight, x)), casting="unsafe")

    def gated(self, gated, gate, up, out):
        np.copyto(out, gated.reference(gate, up))

    def gated_backward(self, gated, grad, gate, up, grad_gate, grad_up):
        _gated_backward_reference(gated, grad, gate, up, grad_gate, grad_up)

    def prelu_backward(self, grad, x, weight, grad_x):
        with np.errstate(invalid="ignore"):
            np.copyto(grad_x, definitions.prelu_backward_ref(grad, x, definitions.along_channels(weight, x)),
                      casting="unsafe")
            return definitions.prelu_weight_gradient_sum_ref(grad, x, weight.size)


def _gated_backward_reference(gated, grad, gate, up, grad_gate, grad_up):
    gradients = gated.reference_backward(grad, gate, up)  # both, before either is written
    np.copyto(grad_gate, gradients[0])
    np.copyto(grad_up, gradients[1])


@functools.cache  # asked at every call that resolves a backend
def _numba_missing():
    try:
        import numba  # noqa: F401
    except ImportError as exc:  # pragma: no cover - numba is a hard dependency
        return f"numba cannot be imported ({exc})"
    return None


def scalar_formula(activation, direction, bits=None):
    """``(formula, widen, narrow)``: a kernel's element ``i`` is
    ``narrow(formula(widen(a[i]), ..., *params))``.  ``bits``: None for
    float values, or the 16-bit float ("float16", "bfloat16") whose int16
    bits the kernel takes: through the activation's formula on the bits
    where it has one (relu), else for bfloat16 through its float32 formula."""
    same = definitions.same
    if bits is not None:
        on_bits = getattr(activation, f"{_BIT_FORMULAS[bits]}_{direction}")
        if on_bits is not None:
            return on_bits, same, same
        if bits == "bfloat16":
            return (getattr(activation, direction), definitions.bfloat16_to_float32,
                    definitions.float32_to_bfloat16)
        raise ValueError(f"{activation.name} has no {direction} loop on {bits} bits")
    return getattr(activation, direction), same, same


_BIT_FORMULAS = {"float16": "half", "bfloat16": "bfloat16"}


def flat_views(arrays):
    """1-D views of equally shaped arrays that walk them in the same element
    order, or None when their layouts differ (or any is not contiguous)."""
    if arrays[0].ndim == 1 and all(a.strides[0] == a.itemsize for a in arrays):
        return arrays
    for order, flag in (("C", "C_CONTIGUOUS"), ("F", "F_CONTIGUOUS")):
        if all(a.flags[flag] for a in arrays):
            return [a.reshape(-1, order=order) for a in arrays]
    return None


class CompileError(TypeError):
    """Numba could not compile an activation's scalar formula (a user's:
    the built-ins always compile); the message names the function, the
    direction, the backend, the dtype and Numba's reason.

    Examples:
        >>> import numpy as np, fastrelu
        >>> @fastrelu.activation
        ... def broken(x):
        ...     return x.no_such_attribute
        >>> try:
        ...     broken(np.ones(2))
        ... except fastrelu.CompileError as error:
        ...     print(str(error)[:43])
        cannot compile activation 'broken' (forward
    """


def raise_compile_error(exc, activation, direction, backend, dtype):
    """Re-raise a Numba compilation failure as a CompileError naming the function."""
    from numba.core.errors import NumbaError

    if not isinstance(exc, NumbaError):
        raise exc
    formula = activation.forward if direction == "forward" else activation.backward
    what = getattr(formula, "__qualname__", activation.name)
    reason = str(exc).strip().splitlines()
    reason = next((line for line in reason if line.strip()), "unknown reason")
    raise CompileError(f"cannot compile activation {activation.name!r} ({direction}, {what}) "
                       f"for backend {backend!r} on {dtype}: {reason}") from exc


class _NumbaBackend(Backend):
    """Shared plumbing: kernel cache, float16 bit views, layouts."""

    def __init__(self):
        self._kernels = _compiler.Memo()

    def unavailable_reason(self):
        return _numba_missing()

    #: Whether ``run`` uses a loop over ``out`` alone (arity 0) when the one
    #: input is ``out`` itself: LLVM vectorises a loop over two arrays after
    #: a run-time check that they do not overlap, and falls back to a scalar
    #: loop when they are the same (2-3x slower in cache).
    in_place_loops = False

    def kernel(self, activation, direction, arity, bits=None):
        """The compiled loop over ``arity`` input arrays and ``out`` (arity 0:
        ``out`` alone, read and written in place); ``bits``: see scalar_formula."""
        return self._kernels.get((activation, direction, arity, bits), self._make_kernel,
                                 activation, direction, arity, bits)

    def _make_kernel(self, activation, direction, arity, bits):
        formulas = scalar_formula(activation, direction, bits)
        return self.compile(formulas, arity, activation.name not in definitions.MEMORY_BOUND)

    def compile(self, formulas, arity, wide_vectors):
        """The kernel of ``formulas`` over ``arity`` arrays; ``wide_vectors``:
        whether it computes enough to gain from the widest vectors."""
        raise NotImplementedError

    #: Whether ``run`` takes bfloat16 arrays (computing in float32 on their bits).
    bfloat16_kernels = True

    def run(self, activation, direction, inputs, out, params):
        # float16 only reaches here with loops on its bits
        bits = _dtypes.bits_format(out.dtype)
        if self.in_place_loops and len(inputs) == 1 and inputs[0] is out:
            inputs = []
        if bits is not None:
            inputs = [a.view(np.int16) for a in inputs]
            out = out.view(np.int16)
        kernel = self.kernel(activation, direction, len(inputs), bits)
        try:
            self.launch(kernel, inputs, out, params)
        except Exception as exc:
            raise_compile_error(exc, activation, direction, self.name, out.dtype)


class _LoopBackend(_NumbaBackend):
    """Compiled loops: every operation, the activations through loops
    generated from their formulas, the others through the loops of
    mask_loops, fused_loops and channel_loops."""

    parallel = False
    in_place_loops = True
    operations = frozenset(OPERATIONS)

    def compile(self, formulas, arity, wide_vectors):
        _compiler.register_helpers()
        formula, widen, narrow = formulas
        loop = _make_loop(_compiler.jitable(formula), widen, narrow, arity, self.parallel)
        cache = _compiler.cacheable(formula)
        if cache:  # one cache file per formula, renamed when the formula changes
            kind = "in_place" if arity == 0 else "loop"
            threads = "parallel" if self.parallel else "serial"
            lifted = "" if widen is definitions.same else "_" + widen.__name__
            _compiler.stamped_name(loop, f"{formula.__name__}{lifted}_{kind}_{threads}")
        return _compiler.njit(loop, parallel=self.parallel, cache=cache, wide_vectors=wide_vectors,
                              except_float32=formula in definitions.FLOAT64_INSIDE)

    def launch(self, kernel, inputs, out, params):
        if out.size == 0:
            return
        flat = flat_views([*inputs, out])
        if flat is not None:
            self.call(kernel, *flat, *params)
            return
        # Mixed or strided layouts: run on contiguous copies, then scatter.
        tmp = np.empty(out.shape, out.dtype) if inputs else out.copy(order="C")
        self.call(kernel, *(np.ascontiguousarray(a).reshape(-1) for a in inputs),
                  tmp.reshape(-1), *params)
        out[...] = tmp

    def call(self, kernel, *args):
        kernel(*args)

    def relu_mask(self, x, out, mask):
        if x.dtype.kind == "u":  # relu is the identity on unsigned values
            mask[...] = definitions.relu_mask_ref(x)
            np.copyto(out, x)
        elif x.size:
            from . import mask_loops

            mask_loops.forward(self.parallel, x, out, mask)

    def relu_backward_mask(self, grad, mask, out):
        if grad.size:
            from . import mask_loops

            mask_loops.backward(self.parallel, grad, out, mask)

    def bias_relu(self, x, bias, out):
        if x.size:
            from . import fused_loops

            columns = x.shape[-1]
            fused_loops.forward(self.parallel, x.reshape(-1, columns), bias,
                                   out.reshape(-1, columns))

    def bias_relu_backward(self, grad, x, bias, grad_x):
        if x.size:
            from . import fused_loops

            columns = x.shape[-1]
            fused_loops.backward(self.parallel, grad.reshape(-1, columns),
                                    x.reshape(-1, columns), bias, grad_x.reshape(-1, columns))

    def prelu(self, x, weight, out):
        if x.size:
            from . import channel_loops

            channel_loops.forward(x, weight, out, self.parallel)

    def prelu_backward(self, grad, x, weight, grad_x):
        if not x.size:
            return np.zeros(weight.size)
        from . import channel_loops

        return channel_loops.backward(grad, x, weight, grad_x, self.parallel)

    def loop(self, name):
        """The compiled loop ``name`` of mask_loops for this backend's threads
        (``dispatch.loop_entry``: the relu masks' short path)."""
        from .mask_loops import LOOPS

        return LOOPS[self.parallel][name]

    def streams(self, name, out):
        """Whether the mask loop ``name`` stores ``out`` (C-contiguous)
        past the caches: large results of the parallel loops."""
        if not self.parallel:
            return False
        if name == "backward_checked":
            return streaming.applies_to_mask_backward(out)
        return streaming.applies_to_mask(out)

    def gated(self, gated, gate, up, out):
        if out.size:
            from . import gated_loops

            gated_loops.forward(self.parallel, gated, gate, up, out)

    def gated_backward(self, gated, grad, gate, up, grad_gate, grad_up):
        if grad.size:
            from . import gated_loops

            gated_loops.backward(self.parallel, gated, grad, gate, up, grad_gate, grad_up)

    def checked_entry(self, activation, direction, arity, bits=None):
        """This backend's loop behind a compiled check of the common call
        (see ``dispatch.FastPath``): it returns False, having written nothing,
        when the arrays' shapes differ or ``out`` partly overlaps an input.
        ``bits``: see scalar_formula.  Call it through
        ``entry_runner``."""
        return self._kernels.get((activation, direction, arity, bits, "checked"),
                                 self._make_checked_entry, activation, direction, arity, bits)

    def _make_checked_entry(self, activation, direction, arity, bits):
        # The entry calls the very loops the general path runs (their
        # dispatchers), so each loop compiles once per process, not once
        # for each path (a parallel loop: 0.4-1 s).
        loop = self.kernel(activation, direction, arity, bits)
        in_place = self.kernel(activation, direction, 0, bits) if arity == 1 else None
        _compiler.jitable(partly_overlaps_flat)
        entry = _checked_entry(loop, in_place, arity)
        cache = _compiler.cacheable(scalar_formula(activation, direction, bits)[0])
        if cache:
            _compiler.stamped_name(entry, loop.py_func.__qualname__ + "_checked")
        return _compiler.njit(entry, cache=cache)

    def entry_runner(self, entry):
        """What runs a checked entry: the entry itself, on this thread."""
        return entry

    def checked_entry_largest(self, activation, bits=None):
        """None, or the size in bytes from which a result goes the general
        way instead of through the checked entry (see ParallelBackend)."""
        return None


def _make_loop(formula, widen, narrow, arity, parallel):
    """The loop applying ``narrow(formula(widen(x), ...))`` element by element
    (``definitions.same`` for both on float values: no code), over
    ``arity`` arrays and then ``out``, then the formula's scalar parameters.

    Arity 0 is the in-place loop: one array, read and written.  Generated
    with the arguments written out, for Numba to inline ``formula`` into
    the loop (which lets LLVM vectorise it): a call with ``*params`` is not
    inlined.
    """
    import inspect

    import numba

    arrays = [f"x{k}" for k in range(arity)]
    params = [f"p{k}" for k in range(len(inspect.signature(formula).parameters) - max(arity, 1))]
    values = ", ".join([f"widen({a}[i])" for a in arrays or ["out"]] + params)
    body = (f"for i in {'numba.prange' if parallel else 'range'}(out.size):\n"
            f"    out[i] = narrow(formula({values}))\n")
    return _source.generated("loop", [*arrays, "out", *params], body,
                               {"numba": numba, "formula": formula, "widen": widen,
                                "narrow": narrow}, __name__)


class SerialBackend(_LoopBackend):
    """``@njit`` loops on one thread: the lowest overhead per call."""

    name = "numba"


def _checked_entry(loop, in_place, arity):
    """Shape and overlap checks, then ``loop`` on flat views: compiled, this
    costs a fraction of the same checks in Python.  The arrays are
    C-contiguous (the caller makes sure), so the flat views are free, and
    ``x`` at ``out``'s address is ``out`` itself: ``in_place`` runs then.

    ``loop`` and ``in_place`` are compiled loops (dispatchers), which the
    entry reads as globals: Numba's disk cache keys a function on the
    pickled values of its closure, and a dispatcher pickles with an id new
    in every process, so an entry closing over one would never be loaded.
    The parameters are written out: Numba's dispatcher takes about 0.1 us
    longer to type a ``*params``.
    """
    import inspect

    arrays = [f"x{k}" for k in range(arity)]
    params = [f"p{k}" for k in range(len(inspect.signature(loop.py_func).parameters) - arity - 1)]
    flat = [f"{a}.reshape(-1)" for a in [*arrays, "out"]]
    body = ("if (" + " or ".join([f"{a}.shape != out.shape" for a in arrays]
                                 + [f"partly_overlaps_flat({a}, out)" for a in arrays]) + "):\n"
            "    return False\n")
    if arity == 1:
        body += ("if x0.ctypes.data == out.ctypes.data:\n"
                 f"    in_place({', '.join(['out.reshape(-1)', *params])})\n"
                 "    return True\n")
    body += f"loop({', '.join(flat + params)})\nreturn True\n"
    return _source.generated("entry", [*arrays, "out", *params], body,
                               {"loop": loop, "in_place": in_place,
                                "partly_overlaps_flat": partly_overlaps_flat}, __name__)


class ParallelBackend(_LoopBackend):
    """``@njit(parallel=True)`` loops with ``prange`` over Numba's thread pool."""

    name = "numba-parallel"
    parallel = True

    def __init__(self):
        super().__init__()
        self._serial = SerialBackend()

    def call(self, kernel, *args):
        run_parallel(kernel, args, lambda: self._serial_twin(kernel))

    def run(self, activation, direction, inputs, out, params):
        if streaming.applies(activation, direction, inputs, out):
            from .streaming_kernel import relu_backward_streaming, relu_streaming

            loop = relu_streaming if direction == "forward" else relu_backward_streaming
            # Its serial twin, where the pool cannot run: relu's plain loop.
            run_parallel(loop, (*(a.reshape(-1) for a in inputs), out.reshape(-1)),
                         lambda: self._serial.kernel(activation, direction, len(inputs)))
            return
        super().run(activation, direction, inputs, out, params)

    def checked_entry_largest(self, activation, bits=None):
        # Large relu results are streamed past the caches (run, above), on
        # the general path.
        if activation is definitions.BUILTIN["relu"] and bits is None:
            return streaming.SMALLEST
        return None

    def entry_runner(self, entry):
        """What runs a checked entry: through the guard of the thread pool."""
        return functools.partial(self._run_entry, entry)

    def _run_entry(self, entry, *args):
        # False (nothing written) where the pool cannot run: a forked child
        # under GNU OpenMP; the general path then runs the serial loop.
        if not POOL.usable():
            return False
        return POOL.run(entry, args)

    def _serial_twin(self, kernel):
        for key, k in self._kernels.items():
            if k is kernel:
                return self._serial.kernel(*key)
        raise KeyError("unknown kernel")


class UfuncBackend(_NumbaBackend):
    """Numba ``@vectorize`` ufuncs (single-threaded ``target='cpu'``).

    They are real NumPy ufuncs, so they handle any layout themselves.
    ``target='parallel'`` is not used: under the OpenMP layer it calls its
    inner loop once per element and runs at a few GB/s at every size.
    """

    name = "numba-ufunc"
    # The masks pack bits across elements: no ufunc does that.
    operations = frozenset({"activation", "bias_relu", "bias_relu_backward", "prelu",
                            "prelu_backward", "gated", "gated_backward"})

    # A ufunc's loops are typed by dtype, and Numba has none for bfloat16:
    # the caller computes it in float32.
    bfloat16_kernels = False

    def compile(self, formulas, arity, wide_vectors):
        return _Ufunc(formulas[0])  # only float values come here: no widening

    def launch(self, kernel, inputs, out, params):
        kernel(inputs, out, params)

    # The others are ufuncs too, of the operations' formulas, broadcasting
    # the bias or the weight as NumPy broadcasts: no array the size of x.
    def _ufunc(self, formula, arity, calls=()):
        """A ufunc of ``formula``; ``calls``: the formulas it calls."""
        for called in calls:
            _compiler.jitable(called)
        return self._kernels.get((formula, "ufunc", arity), _Ufunc, formula, calls)

    def bias_relu(self, x, bias, out):
        self._ufunc(definitions.bias_relu, 2)([x, bias], out, ())

    def bias_relu_backward(self, grad, x, bias, grad_x):
        self._ufunc(definitions.bias_relu_backward, 3)([grad, x, bias], grad_x, ())

    def prelu(self, x, weight, out):
        self._ufunc(definitions.prelu, 2)([x, definitions.along_channels(weight, x)], out, ())

    def prelu_backward(self, grad, x, weight, grad_x):
        slopes = definitions.along_channels(weight, x)
        self._ufunc(definitions.prelu_backward, 3)([grad, x, slopes], grad_x, ())
        contribution = np.empty_like(x)
        self._ufunc(definitions.prelu_weight_gradient, 2)([grad, x], contribution, ())
        return definitions.sum_per_channel(contribution, weight.size)

    def gated(self, gated, gate, up, out):
        self._ufunc(gated.forward, 2, gated.formulas)([gate, up], out, ())

    def gated_backward(self, gated, grad, gate, up, grad_gate, grad_up):
        # Two ufuncs, two passes (a ufunc has one output): grad_up first,
        # apart, since grad_gate may be written over gate or up.
        staged = np.empty(grad_up.shape, grad_up.dtype)
        self._ufunc(gated.backward_up, 2, gated.formulas)([grad, gate], staged, ())
        self._ufunc(gated.backward_gate, 3, gated.formulas)([grad, gate, up], grad_gate, ())
        np.copyto(grad_up, staged)


class _Ufunc:
    """A lazily compiled ufunc whose loops are added per dtype on first use."""

    def __init__(self, formula, calls=()):
        self._formula, self._calls = formula, tuple(calls)
        self._ufunc = None
        self._signatures = set()
        self._lock = threading.Lock()

    def __call__(self, inputs, out, params):
        import numba

        dtype = out.dtype
        signature = (dtype, len(inputs), len(params))
        if signature not in self._signatures:
            with self._lock:
                if self._ufunc is None:
                    _compiler.register_helpers()
                    self._ufunc = _compiler.vectorize(self._formula, *self._calls)
                if signature not in self._signatures:  # another thread may have added it
                    t = numba.from_dtype(dtype)
                    self._ufunc.add(t(*([t] * (len(inputs) + len(params)))))
                    self._signatures.add(signature)
        # The loop is named exactly: NumPy would otherwise take the first
        # loop the inputs cast to safely (int8 data through a float32 loop).
        loop = (dtype,) * (len(inputs) + len(params) + 1)
        # NaN compares raise the FP 'invalid' flag, which ufuncs would report.
        with np.errstate(all="ignore"):
            self._ufunc(*inputs, *params, out=out, signature=loop)
