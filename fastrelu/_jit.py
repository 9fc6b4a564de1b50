"""The one place that owns Numba options.

Numba is imported here lazily, so ``import fastrelu`` stays light.
"""

import sys
import threading

# Fast-math flags that keep IEEE special values: 'nnan' and 'ninf' are left out
# on purpose, since with them LLVM may fold NaN away (relu(nan) would become 0).
# 'arcp' is left out too: it turns x / 3 into x * (1/3), which fused with the
# next add gives 2.8e-17 where hardswish's gradient is exactly 0 (x = -1.5).
FASTMATH = frozenset({"contract"})


_registered: set = set()
_lock = threading.Lock()


def jitable(func):
    """Make a plain scalar function callable from compiled code on every
    target (CPU and CUDA), once; returns the function itself."""
    if func not in _registered:
        with _lock:
            if func not in _registered:
                from numba.extending import register_jitable

                register_jitable(func)
                _registered.add(func)
    return func


def register_helpers():
    """Make the scalar helpers of the built-in formulas callable from compiled code."""
    from .definitions import HELPERS

    for helper in HELPERS:
        jitable(helper)


def cacheable(func):
    """Whether Numba can cache a loop closing over ``func`` across processes.

    Its cache keys on the pickled closure, which is stable only for functions
    pickled by reference: importable module-level functions (the built-in
    formulas), not lambdas or functions made inside other functions.
    """
    module = sys.modules.get(func.__module__)
    return "<" not in func.__qualname__ and getattr(module, func.__qualname__, None) is func


def code_stamp(*funcs):
    """A short hash of the functions' bytecode and constants.

    Numba invalidates a cached loop when the loop's own file changes, not
    when a formula it inlines from another file does: naming each cached loop
    after this stamp of its formula (and the helpers) keeps the cache honest.
    """
    import hashlib

    digest = hashlib.sha1()
    for func in funcs:
        code = func.__code__
        digest.update(code.co_code)
        digest.update(repr(code.co_consts).encode())
        digest.update(repr(code.co_names).encode())
    return digest.hexdigest()[:12]


def njit(func, *, parallel=False, cache=False):
    """Compile a generated CPU loop, cached on disk where possible.

    Numba raises at decoration time where it cannot write a cache (a
    read-only install, a function typed at the prompt); we then compile
    without one.
    """
    import numba

    options = dict(parallel=parallel, fastmath=set(FASTMATH))
    if cache:
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError:
            pass
    return numba.njit(**options)(func)


def vectorize(func):
    """A lazily compiled ufunc; signatures are added per dtype on first use."""
    import numba

    return numba.vectorize(fastmath=set(FASTMATH))(func)
