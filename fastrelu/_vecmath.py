"""Vectorisable exp, expm1, log1p and tanh for the CPU loops.

Without Intel's SVML, Numba lowers ``math.exp`` and friends to scalar libm
calls, which stop LLVM from vectorising a loop: the smooth activations then
run one element at a time.  These versions are plain arithmetic (range
reduction, a polynomial, exponent bits put in place by a bitcast) with no
call and no branch, so that a loop calling them can vectorise once LLVM has
inlined them (it does for most formulas: see perf/results).  They compute in
float64 (a float32 argument is widened, and the result rounded once by the
caller), with errors of a few float64 ulp (measured in
``perf/vecmath_accuracy.py``), and keep IEEE special values: NaN in, NaN
out; exp(inf) = inf, exp(-inf) = 0; subnormal results are rounded once.

Imported (it imports Numba) only when a CPU kernel is compiled; the formulas
in ``definitions`` call ``math.exp`` and friends through thin helpers, which
CUDA and the simulator still run as they are.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, register_jitable


@intrinsic
def _bits(typingctx, x):
    """The int64 bit pattern of a float64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 whose bit pattern is the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


LOG2E = 1.4426950408889634
# ln 2 in two parts (fdlibm's): n * LN2_HI is exact for |n| < 2^11.
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
# Adding and subtracting 1.5 * 2^52 rounds a float64 of magnitude < 2^51 to
# an integer (round to nearest even), with no call and no branch.
ROUNDER = 6755399441055744.0
SQRT2 = 1.4142135623730951

# 1/k! for the Taylor series of exp(r) - 1 - r on |r| <= ln(2)/2 (and of
# expm1 on |x| < 0.5): the first neglected term is below 2^-60 relative.
_INV_FACT = [1.0 / float(np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(2, 18)]
(C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17) = _INV_FACT


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _pow2(n):
    """2.0 ** n for an integer-valued float64 n in [-1022, 1023]."""
    return _from_bits((np.int64(n) + 1023) << 52)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _expm1_series(r):
    """exp(r) - 1 for |r| < 0.5, to a few ulp."""
    p = C17
    p = p * r + C16
    p = p * r + C15
    p = p * r + C14
    p = p * r + C13
    p = p * r + C12
    p = p * r + C11
    p = p * r + C10
    p = p * r + C9
    p = p * r + C8
    p = p * r + C7
    p = p * r + C6
    p = p * r + C5
    p = p * r + C4
    p = p * r + C3
    p = p * r + C2
    return r + (r * r) * p


@register_jitable(fastmath={"contract"}, error_model="numpy")
def exp(x):
    x = np.float64(x)
    # Clamp (keeping NaN) to where the result is certain to overflow to inf
    # or underflow to 0; the arithmetic below then gets both right.
    xc = 710.0 if x > 710.0 else x
    xc = -746.0 if xc < -746.0 else xc
    finite = xc if xc == xc else 0.0  # NaN takes the polynomial path only
    n = (finite * LOG2E + ROUNDER) - ROUNDER
    r = (xc - n * LN2_HI) - n * LN2_LO  # |r| <= ln(2) / 2
    p = 1.0 + _expm1_series(r)
    # 2^n in two factors, each a normal number: results down to the
    # subnormals are rounded once, by the last multiplication.
    half = (n * 0.5 + ROUNDER) - ROUNDER
    return (p * _pow2(half)) * _pow2(n - half)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def expm1(x):
    x = np.float64(x)
    small = _expm1_series(x)  # accurate near 0, where exp(x) - 1 cancels
    small = x if x == 0.0 else small  # keeps the sign of zero
    large = exp(x) - 1.0
    return small if abs(x) < 0.5 else large


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _log(u):
    """log(u) for a finite u > 0 that is a normal number."""
    bits = _bits(u)
    e = (bits >> 52) - 1023
    m = _from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    # log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716.
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    k = np.float64(e)
    # f - 2s(f/2 - ...) keeps the leading term exact (fdlibm's arrangement).
    hf = 0.5 * f * f
    return k * LN2_HI + ((f - hf) + (s * (hf + 2.0 * z * p) + k * LN2_LO))


@register_jitable(fastmath={"contract"}, error_model="numpy")
def log1p(x):
    x = np.float64(x)
    u = 1.0 + x
    # log(u) * x / (u - 1) corrects the rounding of 1 + x (Goldberg's trick).
    safe = u if (u > 0.0 and u < np.inf) else 1.0
    d = safe - 1.0
    corrected = _log(safe) * (x / d) if d != 0.0 else x
    out = corrected
    out = np.inf if x == np.inf else out
    out = -np.inf if u == 0.0 else out
    return np.nan if (x < -1.0 or x != x) else out


@register_jitable(fastmath={"contract"}, error_model="numpy")
def tanh(x):
    x = np.float64(x)
    # t = expm1(-2|x|) lies in (-1, 0]: tanh|x| = -t / (t + 2), with no
    # overflow and no cancellation; large |x| gives 1 (and NaN stays NaN).
    a = abs(x)
    t = expm1(-2.0 * (a if a < 40.0 else 40.0))
    magnitude = -t / (t + 2.0)
    return magnitude if x > 0 else (-magnitude if x < 0 else x)  # +-0 and NaN as they are


#: name -> implementation, for the helpers in ``definitions``.
FUNCTIONS = {"exp": exp, "expm1": expm1, "log1p": log1p, "tanh": tanh}

