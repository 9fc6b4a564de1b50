"""The one place that owns Numba options.

Numba is imported here lazily, so ``import fastrelu`` stays light.
"""

# Fast-math flags that keep IEEE special values: 'nnan' and 'ninf' are left out
# on purpose, since with them LLVM may fold NaN away (relu(nan) would become 0).
# 'arcp' is left out too: it turns x / 3 into x * (1/3), which fused with the
# next add gives 2.8e-17 where hardswish's gradient is exactly 0 (x = -1.5).
FASTMATH = frozenset({"contract"})


_helpers_registered = False


def register_helpers():
    """Make the scalar helpers of the built-in formulas callable from compiled code."""
    global _helpers_registered
    if not _helpers_registered:
        from numba.extending import register_jitable

        from .definitions import HELPERS

        for helper in HELPERS:
            register_jitable(helper)
        _helpers_registered = True


def scalar(func):
    """Compile a scalar formula for use inside CPU kernels.

    It is cached on disk where Numba can write a cache; Numba raises at
    decoration time where it cannot (a read-only install, a function typed
    at the prompt), and we then compile without the cache.
    """
    import numba

    register_helpers()
    try:
        return numba.njit(cache=True, fastmath=set(FASTMATH))(func)
    except RuntimeError:
        return numba.njit(fastmath=set(FASTMATH))(func)


def njit(func, *, parallel=False):
    """Compile a generated CPU loop.

    Generated loops are closures over a scalar formula; Numba's on-disk cache
    keys on the closure's contents and misses for them on every new process,
    so they are compiled once per process instead (lazily, per dtype).
    """
    import numba

    return numba.njit(parallel=parallel, fastmath=set(FASTMATH))(func)


def vectorize(func):
    """A lazily compiled ufunc; signatures are added per dtype on first use."""
    import numba

    return numba.vectorize(fastmath=set(FASTMATH))(func)
