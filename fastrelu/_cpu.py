"""CPU backends: the NumPy reference and three Numba code generators.

Each Numba backend turns an activation's scalar formula into a compiled
kernel on first use (one per activation and direction, specialised per dtype
by Numba) and runs it on flat views of the arrays.
"""

import os
import threading

import numpy as np

from . import _jit
from .registry import Backend


class NumpyBackend(Backend):
    """The plain NumPy expression of each activation: always available, and the reference."""

    name = "numpy"

    def run(self, activation, direction, inputs, out, params):
        formula = activation.reference if direction == "forward" else activation.reference_backward
        with np.errstate(all="ignore"):
            result = formula(*inputs, *params)
        np.copyto(out, result, casting="unsafe")


def _numba_missing():
    try:
        import numba  # noqa: F401
    except ImportError as exc:  # pragma: no cover - numba is a hard dependency
        return f"numba cannot be imported ({exc})"
    return None


def scalar_formula(activation, direction, bits):
    """The scalar function a kernel applies."""
    if direction == "forward":
        return activation.half_forward if bits else activation.forward
    return activation.half_backward if bits else activation.backward


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
    """Numba could not compile an activation's scalar formula."""


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
        self._kernels = {}
        self._compile_lock = threading.Lock()

    def unavailable_reason(self):
        return _numba_missing()

    def kernel(self, activation, direction, arity, bits=False):
        key = (activation, direction, arity, bits)
        kernel = self._kernels.get(key)
        if kernel is None:
            with self._compile_lock:
                kernel = self._kernels.get(key)
                if kernel is None:
                    formula = scalar_formula(activation, direction, bits)
                    kernel = self._kernels[key] = self.compile(formula, arity)
        return kernel

    def compile(self, formula, arity):
        raise NotImplementedError

    def run(self, activation, direction, inputs, out, params):
        bits = out.dtype == np.float16  # only reaches here with bit kernels
        if bits:
            inputs = [a.view(np.int16) for a in inputs]
            out = out.view(np.int16)
        kernel = self.kernel(activation, direction, len(inputs), bits)
        try:
            self.launch(kernel, inputs, out, params)
        except Exception as exc:
            raise_compile_error(exc, activation, direction, self.name, out.dtype)


class _LoopBackend(_NumbaBackend):
    parallel = False

    def compile(self, formula, arity):
        from .definitions import HELPERS, VECTOR_MATH

        _jit.register_helpers()
        loop = _make_loop(_jit.jitable(formula), arity, self.parallel)
        cache = _jit.cacheable(formula)
        if cache:  # one cache file per formula, renamed when the formula changes
            stamp = _jit.code_stamp(formula, *HELPERS, *VECTOR_MATH.values(), *_vecmath_functions())
            loop.__qualname__ = f"{formula.__name__}_loop_{'parallel' if self.parallel else 'serial'}_{stamp}"
        return _jit.njit(loop, parallel=self.parallel, cache=cache)

    def launch(self, kernel, inputs, out, params):
        if out.size == 0:
            return
        flat = flat_views([*inputs, out])
        if flat is not None:
            self.call(kernel, *flat, *params)
            return
        # Mixed or strided layouts: run on contiguous copies, then scatter.
        tmp = np.empty(out.shape, out.dtype)
        self.call(kernel, *(np.ascontiguousarray(a).reshape(-1) for a in inputs),
                  tmp.reshape(-1), *params)
        out[...] = tmp

    def call(self, kernel, *args):
        kernel(*args)


def _vecmath_functions():
    import inspect

    from . import _vecmath

    return [f for _, f in inspect.getmembers(_vecmath, inspect.isfunction)
            if f.__module__ == _vecmath.__name__]


def _make_loop(formula, arity, parallel):
    """The loop applying ``formula`` element by element.

    One spelling per number of arrays and of scalar parameters: Numba can
    inline ``formula`` into the loop (which lets LLVM vectorise it) only
    when it is called with its arguments written out, not with ``*params``.
    """
    import inspect

    import numba

    loop_range = numba.prange if parallel else range
    nparams = len(inspect.signature(formula).parameters) - arity
    key = (arity, nparams)
    if key == (1, 0):
        def loop(x, out):
            for i in loop_range(out.size):
                out[i] = formula(x[i])
    elif key == (1, 1):
        def loop(x, out, p):
            for i in loop_range(out.size):
                out[i] = formula(x[i], p)
    elif key == (1, 2):
        def loop(x, out, p, q):
            for i in loop_range(out.size):
                out[i] = formula(x[i], p, q)
    elif key == (1, 3):
        def loop(x, out, p, q, r):
            for i in loop_range(out.size):
                out[i] = formula(x[i], p, q, r)
    elif key == (2, 0):
        def loop(a, b, out):
            for i in loop_range(out.size):
                out[i] = formula(a[i], b[i])
    elif key == (2, 1):
        def loop(a, b, out, p):
            for i in loop_range(out.size):
                out[i] = formula(a[i], b[i], p)
    elif key == (2, 2):
        def loop(a, b, out, p, q):
            for i in loop_range(out.size):
                out[i] = formula(a[i], b[i], p, q)
    elif key == (2, 3):
        def loop(a, b, out, p, q, r):
            for i in loop_range(out.size):
                out[i] = formula(a[i], b[i], p, q, r)
    elif key == (3, 0):
        def loop(a, b, c, out):
            for i in loop_range(out.size):
                out[i] = formula(a[i], b[i], c[i])
    else:
        raise ValueError(f"no loop for {arity} arrays and {nparams} parameters")
    return loop


class SerialBackend(_LoopBackend):
    """``@njit`` loops on one thread: the lowest overhead per call."""

    name = "numba"


class ParallelBackend(_LoopBackend):
    """``@njit(parallel=True)`` loops with ``prange`` over Numba's thread pool."""

    name = "numba-parallel"
    parallel = True

    def __init__(self):
        super().__init__()
        self._serial = SerialBackend()
        self._pool = _ThreadPoolGuard()

    def call(self, kernel, *args):
        if self._pool.usable():
            self._pool.run(kernel, args)
        else:
            # After fork() GNU OpenMP would abort the child: run serially there.
            self._serial_twin(kernel)(*args)

    def _serial_twin(self, kernel):
        for key, k in self._kernels.items():
            if k is kernel:
                return self._serial.kernel(*key)
        raise KeyError("unknown kernel")


class _ThreadPoolGuard:
    """Makes Numba's thread pool safe to call from many threads and after fork.

    The ``workqueue`` threading layer aborts the process when two threads
    enter it at once, so calls are serialised until we know the layer in use
    (it is fixed at the first parallel call) and for as long as it is
    ``workqueue``. GNU OpenMP cannot be used in a child after ``fork()``.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._layer = None
        self._pid = None

    def usable(self):
        return not (self._layer == "omp" and self._pid != os.getpid())

    def run(self, kernel, args):
        if self._layer is not None and self._layer != "workqueue":
            kernel(*args)
            return
        with self._lock:
            kernel(*args)
            if self._layer is None:
                import numba

                self._layer = numba.threading_layer()
                self._pid = os.getpid()


class UfuncBackend(_NumbaBackend):
    """Numba ``@vectorize`` ufuncs (single-threaded ``target='cpu'``).

    They are real NumPy ufuncs, so they handle any layout themselves.
    ``target='parallel'`` is not used: under the OpenMP layer it calls its
    inner loop once per element and runs at a few GB/s at every size.
    """

    name = "numba-ufunc"

    def compile(self, formula, arity):
        return _Ufunc(formula)

    def launch(self, kernel, inputs, out, params):
        kernel(inputs, out, params)


class _Ufunc:
    """A lazily compiled ufunc whose loops are added per dtype on first use."""

    def __init__(self, formula):
        self._formula = formula
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
                    self._ufunc = _jit.vectorize(self._formula)
                t = numba.from_dtype(dtype)
                self._ufunc.add(t(*([t] * (len(inputs) + len(params)))))
                self._signatures.add(signature)
        # The loop is named exactly: NumPy would otherwise take the first
        # loop the inputs cast to safely (int8 data through a float32 loop).
        loop = (dtype,) * (len(inputs) + len(params) + 1)
        # NaN compares raise the FP 'invalid' flag, which ufuncs would report.
        with np.errstate(all="ignore"):
            self._ufunc(*inputs, *params, out=out, signature=loop)
