"""The one place that owns Numba options.

Numba is imported here lazily, so ``import fastrelu`` stays light.
"""

import functools
import inspect
import sys
import threading
import types

# Fast-math flags that keep IEEE special values: 'nnan' and 'ninf' are left out
# on purpose, since with them LLVM may fold NaN away (relu(nan) would become 0).
# 'arcp' is left out too: it turns x / 3 into x * (1/3), which fused with the
# next add gives 2.8e-17 where hardswish's gradient is exactly 0 (x = -1.5).
FASTMATH = frozenset({"contract"})

# Loops that add up a sum may also reorder its additions ('reassoc'), which
# lets LLVM keep several partial sums in vector lanes: a serial chain of
# float64 adds behind a data-dependent select ran PReLU's weight gradient at
# 6.5 ns per element, vectorised 0.3.  It changes only the order of rounding.
REDUCTION_FASTMATH = FASTMATH | {"reassoc"}

# Division by zero gives inf or NaN, as in NumPy, instead of raising
# ZeroDivisionError: the check is a branch in every loop that divides, and
# it stops LLVM from vectorising the loop (sigmoid, silu, celu, ...).
ERROR_MODEL = "numpy"

# Options of the scalar functions called from CPU loops: with no exception
# path to keep and LLVM's alwaysinline mark (forceinline: cheap, unlike
# Numba's own inline='always'), LLVM inlines them into the loop and can
# vectorise it.  Without the mark the serial loops called exp, expm1, ...
# once per element (elu at 1e6 float32: 25-30 ns per element, now 6).
CPU_HELPER_OPTIONS = {"fastmath": set(FASTMATH), "error_model": ERROR_MODEL,
                      "forceinline": True}


class Memo:
    """Values made once per key and kept, for every thread: the compiled
    loops and kernels, and what else is made once per process.

    One lock per memo, held while a value is made: making one defines a
    Numba dispatcher but compiles nothing (Numba compiles at the first call,
    under its own lock for the whole process), so a lock per key would let
    nothing run sooner.  Re-entrant, since a maker may take another value
    of the same memo (a checked entry, its loops).
    """

    def __init__(self):
        self._values = {}
        self._lock = threading.RLock()

    def get(self, key, make, *args):
        """The value of ``key``, made by ``make(*args)`` the first time (it
        must not be None)."""
        value = self._values.get(key)  # read without the lock: a value, once there, stays
        if value is None:
            with self._lock:
                value = self._values.get(key)
                if value is None:
                    value = self._values[key] = make(*args)
        return value

    def items(self):
        with self._lock:
            return list(self._values.items())


_registered = Memo()  # what is callable from compiled code, by function
_lock = threading.Lock()


def jitable(func):
    """Make a plain scalar function callable from compiled code on every
    target (CPU and CUDA), once; returns the function itself.

    On the CPU it compiles with the loops' options (no ZeroDivisionError
    check, hence no exception path), which lets LLVM inline it into a loop
    and, where the inlined code is small enough, vectorise the loop.
    """
    return _registered.get(func, _register, func)


def _register(func):
    from numba.extending import overload, register_jitable

    register_jitable(func)  # every target, CUDA included

    def _cpu(*args):
        return func

    # The typer takes func's own signature: with a bare *args the smooth
    # loops stop vectorising (elu at 1e7: 0.95 vs 2.0 GB/s).
    _cpu.__signature__ = inspect.signature(func)
    overload(func, target="cpu", jit_options=CPU_HELPER_OPTIONS)(_cpu)
    return func


def register_helpers():
    """Make the scalar helpers of the built-in formulas callable from compiled
    code; on the CPU, the ``VECTOR_MATH`` helpers (exp and friends) become
    the vectorisable versions of ``cpu.vecmath``, in float32 for float32
    arguments (CUDA keeps ``math``'s)."""
    from .definitions import HELPERS, VECTOR_MATH, _in_precision_of

    for helper in HELPERS:
        jitable(helper)
    _registered.get(_in_precision_of, _register_cpu_precision, _in_precision_of)
    for name, func in VECTOR_MATH.items():
        _registered.get(func, _register_cpu_version, func, name)


def _register_cpu_version(func, name):
    from numba import types
    from numba.extending import overload, register_jitable

    from .cpu import vecmath

    register_jitable(func)  # every target: the math module's function
    float64_version, float32_version = vecmath.CPU_VERSIONS[name]

    def _cpu(x, *more):  # by the first argument's type
        return float32_version if x == types.float32 else float64_version

    _cpu.__signature__ = inspect.signature(func)  # as in jitable
    overload(func, target="cpu", jit_options=CPU_HELPER_OPTIONS)(_cpu)  # the CPU target prefers its own
    return func


def _register_cpu_precision(func):
    from numba import types
    from numba.extending import overload, register_jitable

    from .cpu import vecmath

    register_jitable(func)  # every target: value as it is

    @overload(func, target="cpu", jit_options=CPU_HELPER_OPTIONS)
    def _cpu(x, value):
        return vecmath.to_float32 if x == types.float32 else vecmath.same_value

    return func


def options_stamp():
    """The compiler options that change generated code, for cache names."""
    from . import _config

    return repr((sorted(FASTMATH), sorted(REDUCTION_FASTMATH), ERROR_MODEL,
                 CPU_HELPER_OPTIONS["forceinline"], _config.PREFER_VECTOR_BITS))


# Numba has no option for LLVM's preferred vector width, and its CPU target
# takes the host's tuning (256 bits on Intel's AVX-512 CPUs) for all code in
# the process.  LLVM reads the width from each function's attribute
# "prefer-vector-width", though: fastrelu's loops get it as Numba lowers them
# (the loop, its prange body, the helpers it inlines), set for the thread
# that compiles; the user's own functions keep Numba's choice.
_compiling = threading.local()
_vector_width_installed = False


def _install_vector_width():
    global _vector_width_installed
    if _vector_width_installed:
        return
    with _lock:
        if _vector_width_installed:
            return
        from numba.core.cpu import CPUContext

        numba_post_lowering = CPUContext.post_lowering

        def post_lowering(self, module, library):
            numba_post_lowering(self, module, library)
            bits = getattr(_compiling, "vector_bits", None)
            if bits is not None:
                attribute = f'"prefer-vector-width"="{bits}"'
                for function in module.functions:
                    if not function.is_declaration:
                        # llvmlite's attribute set knows only LLVM's named
                        # attributes, not string ones: added past its check.
                        set.add(function.attributes, attribute)

        CPUContext.post_lowering = post_lowering
        _vector_width_installed = True


def _with_vector_width(dispatcher, except_float32):
    """Compile ``dispatcher``'s loops with ``_config.PREFER_VECTOR_BITS``,
    but those over float32 arrays with LLVM's own width if ``except_float32``."""
    from numba import types

    from . import _config

    _install_vector_width()
    numba_compile = dispatcher.compile

    def compile(signature):
        float32 = any(getattr(arg, "dtype", None) == types.float32 for arg in signature)
        bits = None if except_float32 and float32 else _config.PREFER_VECTOR_BITS
        outer = getattr(_compiling, "vector_bits", None)
        _compiling.vector_bits = bits
        try:
            return numba_compile(signature)
        finally:
            _compiling.vector_bits = outer

    dispatcher.compile = compile
    return dispatcher


def cacheable(func):
    """Whether a loop that inlines ``func`` may be cached on disk, for other
    processes to load.

    The loop's cache name (``stamped_name``) covers the code of the
    formulas it inlines, the files that define them, and the helpers that
    fastrelu's formulas call, not code a user's function may call in other
    files: so fastrelu's own importable module-level functions (the
    built-in formulas), and functions generated from such ones (gated
    formulas: see ``generated``), not users' functions, lambdas or
    closures.
    """
    inlined = getattr(func, "inlines", None)
    if inlined is not None:
        return all(cacheable(f) for f in inlined)
    module_name = func.__module__ or ""
    module = sys.modules.get(module_name)
    return (module_name.partition(".")[0] == __name__.partition(".")[0]
            and "<" not in func.__qualname__ and getattr(module, func.__qualname__, None) is func)


def code_stamp(*funcs):
    """A short hash of the functions' bytecode and constants.

    Numba invalidates a cached loop when the loop's own file changes, not
    when a formula it inlines from another file does: naming each cached loop
    after this stamp of its formula (and the helpers) keeps the cache honest.
    """
    import hashlib

    digest = hashlib.sha1(options_stamp().encode())

    def add(code):
        digest.update(code.co_code)
        digest.update(repr(code.co_names).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):  # a nested function: its repr holds an address
                add(const)
            else:
                digest.update(repr(const).encode())

    # Numba intrinsics (code generators written in Python) by their function.
    funcs = tuple(getattr(func, "_defn", func) for func in _with_inlined(funcs))
    for func in funcs:
        add(func.__code__)
    # Constants the functions read as globals (coefficients, SELU's alpha)
    # are not in their bytecode: the source files that define them are.
    for path in sorted({_source_file(func) for func in funcs} - {None}):
        with open(path, "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()[:12]


def _with_inlined(funcs):
    """``funcs`` and what the generated ones among them inline, in order."""
    for func in funcs:
        yield func
        yield from _with_inlined(getattr(func, "inlines", ()))


@functools.lru_cache(maxsize=None)
def loop_stamp(*funcs):
    """The stamp of a CPU loop over formulas ``funcs``: their code and all a
    formula may inline (the helpers, exp & co. in both versions)."""
    import inspect

    from .cpu import vecmath
    from .definitions import HELPERS, VECTOR_MATH, _in_precision_of

    vecmath_functions = [f for _, f in inspect.getmembers(vecmath, inspect.isfunction)
                         if f.__module__ == vecmath.__name__]
    return code_stamp(*funcs, _in_precision_of, *HELPERS, *VECTOR_MATH.values(), *vecmath_functions)


def stamped_name(func, name, *inlined):
    """Name ``func`` (a loop about to be compiled with a disk cache) ``name``
    and a stamp of the code it inlines, ``inlined``, the ``inlines`` of a
    generated loop, and all a formula may (``loop_stamp``); returns ``func``.

    Numba's cache keys on the loop's name and invalidates it when the
    loop's own file changes, not when a formula it inlines from another
    file does: the stamp in the name keeps the cache honest.  Every cached
    loop is named here.
    """
    func.__qualname__ = f"{name}_{loop_stamp(*inlined, *getattr(func, 'inlines', ()))}"
    return func


def _source_file(func):
    path = getattr(sys.modules.get(func.__module__), "__file__", None)
    return path if path and path.endswith(".py") else None


def njit(func, *, parallel=False, cache=False, reduction=False, wide_vectors=False,
         except_float32=False):
    """Compile a generated CPU loop, cached on disk where possible;
    ``reduction=True`` for loops that add up sums (``REDUCTION_FASTMATH``);
    ``wide_vectors=True`` for loops bound by arithmetic rather than memory,
    which then use ``_config.PREFER_VECTOR_BITS`` (memory-bound loops gain
    nothing from wider vectors, and small calls of relu lost 3-8% with
    them); ``except_float32=True`` keeps LLVM's width for their float32
    versions (formulas that compute float32 in float64,
    ``definitions.FLOAT64_INSIDE``: wider vectors slowed them).

    Numba raises at decoration time where it cannot write a cache (a
    read-only install, a function typed at the prompt); we then compile
    without one.
    """
    import numba

    fastmath = REDUCTION_FASTMATH if reduction else FASTMATH
    options = dict(parallel=parallel, fastmath=set(fastmath), error_model=ERROR_MODEL)

    def compiled(**cache_option):
        dispatcher = numba.njit(**cache_option, **options)(func)
        return _with_vector_width(dispatcher, except_float32) if wide_vectors else dispatcher

    if cache:
        try:
            return compiled(cache=True)
        except RuntimeError:
            pass
    return compiled()


def vectorize(func, *calls):
    """A lazily compiled ufunc; signatures are added per dtype on first use.

    Cached on disk where Numba can (``cacheable``): under a name
    stamped with all it inlines (``loop_stamp``, and ``calls``, the
    formulas it calls), as the loops are.  Without the cache every process
    compiled each ufunc again: 9-11 s for every activation's in four dtypes.
    """
    import numba

    options = {"fastmath": set(FASTMATH)}  # ufuncs use the numpy error model already
    if cacheable(func) and all(cacheable(called) for called in calls):
        named = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                                   func.__defaults__, func.__closure__)
        named.__module__ = func.__module__
        stamped_name(named, f"{func.__name__}_ufunc", func, *calls)
        try:
            return numba.vectorize(cache=True, **options)(named)
        except RuntimeError:  # nowhere to write a cache
            pass
    return numba.vectorize(**options)(func)
