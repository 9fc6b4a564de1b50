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

from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, register_jitable


_INT_OF = {types.float64: types.int64, types.float32: types.int32}


@intrinsic
def _bits(typingctx, x):
    """The bit pattern of a float64 (as an int64) or a float32 (an int32)."""
    if x not in _INT_OF:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))

    return _INT_OF[x](x), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 (float32) whose bit pattern is the int64 (int32) ``i``."""
    floats = {v: k for k, v in _INT_OF.items()}
    if i not in floats:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))

    return floats[i](i), codegen


LOG2E = 1.4426950408889634
# ln 2 in two parts (fdlibm's): n * LN2_HI is exact for |n| < 2^11.
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
# Adding and subtracting 1.5 * 2^52 rounds a float64 of magnitude < 2^51 to
# an integer (round to nearest even), with no call and no branch.
ROUNDER = 6755399441055744.0
POW2_BIAS = 4503599627371519.0  # 2^52 + 1023
SQRT2 = 1.4142135623730951
SQRT_HALF = 0.7071067811865476
LN2 = 0.6931471805599453
TWO_M64 = 2.0 ** -64

# 1/k!: float32's exp series below takes them to k = 8 (within 2^-30 on
# |r| <= ln(2)/2).
_INV_FACT = [1.0 / float(np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(2, 18)]

# expm1(r) = r + r^2 P(r) on |r| <= 0.5 (exp after reduction, and expm1 near
# 0), P of degree 11 fitted in relative error from mpmath at 40 digits
# (perf/fit_vecmath.py): largest error 3.9e-19, about 2^-61, where the
# Taylor series it replaces needed degree 15 for 2^-60; evaluated in
# float64 both give 1.34e-16 at most.  Four multiply-adds fewer in every
# float64 exp, expm1 and tanh.
_EXPM1_FIT = (
    0.5, 0.16666666666666669, 0.04166666666666764, 0.008333333333332613,
    0.0013888888888574189, 0.0001984126984250005, 2.480158773532976e-05,
    2.7557318359060564e-06, 2.7557028963333364e-07, 2.5052335165208607e-08,
    2.0969890065266907e-09, 1.6064159592698403e-10,
)
(E0, E1, E2, E3, E4, E5, E6, E7, E8, E9, E10, E11) = _EXPM1_FIT


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _pow2(n):
    """2.0 ** n for an integer-valued float64 n in [-1022, 1023]."""
    # n + 2^52 + 1023 holds n + 1023 exactly in its low mantissa bits; moved
    # up to the exponent field they make 2^n.  No float-to-int64 conversion:
    # AVX2 has no vector instruction for it, and the loops went scalar there.
    return _from_bits(_bits(n + POW2_BIAS) << 52)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _expm1_series(r):
    """exp(r) - 1 for |r| <= 0.5, to a few ulp."""
    p = E11
    p = p * r + E10
    p = p * r + E9
    p = p * r + E8
    p = p * r + E7
    p = p * r + E6
    p = p * r + E5
    p = p * r + E4
    p = p * r + E3
    p = p * r + E2
    p = p * r + E1
    p = p * r + E0
    return r + (r * r) * p


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _reduce(x):
    """(n, r) with x = n ln2 + r, n an integer-valued float64, |r| <= ln(2)/2
    (NaN gives n = 0, r = NaN)."""
    finite = x if x == x else 0.0
    n = (finite * LOG2E + ROUNDER) - ROUNDER
    return n, (x - n * LN2_HI) - n * LN2_LO


@register_jitable(fastmath={"contract"}, error_model="numpy")
def exp(x):
    x = np.float64(x)
    # Clamp (keeping NaN) to where the result is certain to overflow to inf
    # or underflow to 0; the arithmetic below then gets both right.
    xc = 710.0 if x > 710.0 else x
    xc = -746.0 if xc < -746.0 else xc
    n, r = _reduce(xc)
    p = 1.0 + _expm1_series(r)
    # 2^n in two factors, each a normal number: results down to the
    # subnormals are rounded once, by the last multiplication.
    half = (n * 0.5 + ROUNDER) - ROUNDER
    return (p * _pow2(half)) * _pow2(n - half)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def exp_nonpositive(x):
    """exp for x <= 0 (NaN kept), as the activations call it: e^-|x|.
    Computed times 2^64, a normal number down to the clamp, so one factor
    2^n serves where exp needs two; the last product by 2^-64 rounds a
    subnormal result once, as exp does (exp_nonpositive_f32's form)."""
    x = np.float64(x)
    xc = -746.0 if x < -746.0 else x
    n, r = _reduce(xc)
    return ((1.0 + _expm1_series(r)) * _pow2(n + 64.0)) * TWO_M64


@register_jitable(fastmath={"contract"}, error_model="numpy")
def expm1(x):
    x = np.float64(x)
    # Below -38 the result rounds to -1; above 710 it overflows (NaN is kept).
    xc = 710.0 if x > 710.0 else x
    xc = -38.0 if xc < -38.0 else xc
    n, r = _reduce(xc)
    # exp(x) - 1 = 2 (s p + (s - 1/2)) with s = 2^(n-1), as expm1_f32: one
    # series for every x, exact where n = 0 (it gives p itself); this took
    # two (the series near 0, exp beyond) and a select: tanh's float64 loop
    # ran 1.8x faster at 1e6 elements.
    s = _pow2(n - 1.0)
    y = 2.0 * (s * _expm1_series(r) + (s - 0.5))
    return x if x == 0.0 else y  # keeps the sign of zero


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _log_reduce(u):
    """(k, f, s, z) for a finite, normal float64 u > 0: u = 2^k (1 + f) with
    1 + f in [sqrt(1/2), sqrt(2)], and log(1 + f) = 2 atanh(s) for
    s = f / (2 + f), |s| <= 0.1716, z = s * s."""
    bits = _bits(u)
    k = np.float64((bits >> 52) - 1023)
    m = _from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > SQRT2
    m = m * 0.5 if big else m
    k = k + 1.0 if big else k
    f = m - 1.0
    s = f / (2.0 + f)
    return k, f, s, s * s


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _log(u):
    """log(u) for a finite u > 0 that is a normal number."""
    k, f, s, z = _log_reduce(u)
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


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma: one instruction where the CPU has it)."""
    if not (a == b == c and a in _INT_OF):
        return None

    def codegen(context, builder, signature, args):
        real = context.get_value_type(signature.return_type)
        fma = builder.module.declare_intrinsic("llvm.fma", [real], ir.FunctionType(real, [real] * 3))
        return builder.call(fma, args)

    return a(a, a, a), codegen


# erf(x) = x * sum(c[n] x^(2n)), c[n] = 2/sqrt(pi) (-1)^n / (n! (2n+1)), for |x| < 1:
# the first term left out is below 2^-61 of the sum there.
_ERF_TAYLOR = (
    1.1283791670955126, -0.37612638903183754, 0.11283791670955126,
    -0.026866170645131252, 0.005223977625442188, -0.0008548327023450853,
    0.00012055332981789664, -1.492565035840625e-05, 1.6462114365889248e-06,
    -1.6365844691234924e-07, 1.4807192815879218e-08, -1.2290555301717928e-09,
    9.422759064650411e-11, -6.7113668551641105e-12, 4.4632242632864775e-13,
    -2.7835162072109215e-14, 1.6342614095367152e-15, -9.063970842808673e-17,
    4.763348040515068e-18, -2.3784598852774293e-19,
)

# Chebyshev coefficients of erfcx(x) = exp(x^2) erfc(x) on 1 <= x <= 6 (in u = (2x - 7) / 5),
# from mpmath at 50 digits (perf/fit_vecmath.py prints them); the
# first left out is below 5e-20, against erfcx >= 0.09 there.
_ERFCX_CHEBYSHEV = (
    0.20196598791223083, -0.147884835533987, 0.05188222158351389,
    -0.017525709964867527, 0.005721802417478219, -0.0018109803028142997,
    0.0005570714353927344, -0.00016689473052528832, 4.878565911493746e-05,
    -1.3935932859822488e-05, 3.895514595190115e-06, -1.0668392337070025e-06,
    2.865502572057316e-07, -7.555861081756622e-08, 1.957586342968354e-08,
    -4.987110132992565e-09, 1.2501871239431183e-09, -3.0858852312872416e-10,
    7.504484747602075e-11, -1.7990193064432053e-11, 4.25347830122088e-12,
    -9.92315607537652e-13, 2.285294689027943e-13, -5.197545128838963e-14,
    1.1678402647273797e-14, -2.593300539647079e-15, 5.693144752523706e-16,
    -1.2360008955300707e-16, 2.65449529106721e-17, -5.641103352342304e-18,
    1.1865358108872195e-18, -2.4708256387281944e-19,
)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _erf_taylor(x):
    """erf(x) for |x| < 1 in float64 (the sign of -0 is kept)."""
    z = x * x
    p = _ERF_TAYLOR[19]
    p = p * z + _ERF_TAYLOR[18]
    p = p * z + _ERF_TAYLOR[17]
    p = p * z + _ERF_TAYLOR[16]
    p = p * z + _ERF_TAYLOR[15]
    p = p * z + _ERF_TAYLOR[14]
    p = p * z + _ERF_TAYLOR[13]
    p = p * z + _ERF_TAYLOR[12]
    p = p * z + _ERF_TAYLOR[11]
    p = p * z + _ERF_TAYLOR[10]
    p = p * z + _ERF_TAYLOR[9]
    p = p * z + _ERF_TAYLOR[8]
    p = p * z + _ERF_TAYLOR[7]
    p = p * z + _ERF_TAYLOR[6]
    p = p * z + _ERF_TAYLOR[5]
    p = p * z + _ERF_TAYLOR[4]
    p = p * z + _ERF_TAYLOR[3]
    p = p * z + _ERF_TAYLOR[2]
    p = p * z + _ERF_TAYLOR[1]
    p = p * z + _ERF_TAYLOR[0]
    return x * p


@register_jitable(fastmath={"contract"}, error_model="numpy")
def erf(x):
    x = np.float64(x)
    a = abs(x)
    small = _erf_taylor(x)
    # 1 <= |x| < 6: erf = 1 - exp(-x^2) erfcx(|x|), with x^2 = hi + lo exactly
    # (the lo part shifts exp by up to 36 ulp at |x| = 6).  Elsewhere the
    # argument is 1, harmless.
    m = a if (a >= 1.0 and a < 6.0) else 1.0
    u = (2.0 * m - 7.0) / 5.0
    # Clenshaw's recurrence, written out (a loop would not vectorise).
    u2 = 2.0 * u
    b2 = _ERFCX_CHEBYSHEV[31]
    b1 = u2 * b2 + _ERFCX_CHEBYSHEV[30]
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[29], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[28], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[27], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[26], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[25], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[24], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[23], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[22], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[21], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[20], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[19], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[18], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[17], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[16], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[15], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[14], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[13], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[12], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[11], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[10], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[9], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[8], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[7], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[6], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[5], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[4], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[3], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[2], b1
    b1, b2 = u2 * b1 - b2 + _ERFCX_CHEBYSHEV[1], b1
    erfcx = u * b1 - b2 + _ERFCX_CHEBYSHEV[0]
    hi = m * m
    lo = _fma(m, m, -hi)
    large = 1.0 - (exp(-hi) * erfcx) * (1.0 - lo)
    large = 1.0 if a >= 6.0 else large  # erfc(6) < 2^-56: erf rounds to 1
    large = large if x > 0 else -large
    out = small if a < 1.0 else large
    return x if x != x else out


# --- float32 ------------------------------------------------------------------
#
# The same functions for float32 arguments, computed in float32 throughout:
# AVX2 holds 8 float32 lanes against 4 float64 ones, and float32 needs far
# shorter series.  Every constant is a float32 (a Python float would make
# Numba widen the expression to float64).  Each is within a few float32 ulp
# of the float64 function rounded to float32 over all 2^32 inputs
# (``perf/vecmath_accuracy.py --float32-exhaustive``).

F32 = np.float32
F32_ZERO, F32_HALF, F32_ONE, F32_TWO = F32(0.0), F32(0.5), F32(1.0), F32(2.0)
F32_INF, F32_NAN = F32(np.inf), F32(np.nan)
F32_LOG2E = F32(LOG2E)
# ln 2 in two float32 parts: n * F32_LN2_HI is exact for |n| < 2^15.
F32_LN2_HI = F32(0.693359375)
F32_LN2_LO = F32(LN2 - 0.693359375)
F32_ROUNDER = F32(12582912.0)  # 1.5 * 2^23: rounds a float32 below 2^22 to an integer
F32_SQRT2 = F32(SQRT2)
F32_MANTISSA_BITS = F32(8388608.0)  # 2^23
# exp(x) 2^64 is a normal float32 for every x >= -104 (exp underflows to 0
# below): one factor 2^n then, and one rounding when scaled back.
F32_64, F32_TWO_M64 = F32(64.0), F32(2.0 ** -64)
# 1/k!, k = 2 .. 8: exp's series on |r| <= ln(2)/2 is within 2^-30 after r^8/8!.
(F2, F3, F4, F5, F6, F7, F8) = (F32(c) for c in _INV_FACT[:7])


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _pow2_f32(n):
    """2.0 ** n as a float32, for an integer-valued float32 n in [-126, 127]:
    the exponent field (n + 127) * 2^23 is built in float32 arithmetic (exact)
    and converted once, keeping the whole computation in 32-bit lanes."""
    return _from_bits(np.int32((n + F32(127.0)) * F32_MANTISSA_BITS))


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _reduce_f32(x):
    """(n, r) with x = n ln2 + r, n an integer-valued float32, |r| <= ln(2)/2
    (NaN gives n = 0, r = NaN)."""
    finite = x if x == x else F32_ZERO
    n = (finite * F32_LOG2E + F32_ROUNDER) - F32_ROUNDER
    return n, (x - n * F32_LN2_HI) - n * F32_LN2_LO


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _expm1_series_f32(r):
    """exp(r) - 1 for |r| <= ln(2)/2."""
    p = F8
    p = p * r + F7
    p = p * r + F6
    p = p * r + F5
    p = p * r + F4
    p = p * r + F3
    p = p * r + F2
    return r + (r * r) * p


@register_jitable(fastmath={"contract"}, error_model="numpy")
def exp_f32(x):
    # Clamp (keeping NaN) to where the result surely overflows or underflows.
    xc = F32(89.0) if x > F32(89.0) else x
    xc = F32(-104.0) if xc < F32(-104.0) else xc
    n, r = _reduce_f32(xc)
    p = F32_ONE + _expm1_series_f32(r)
    # 2^n in two normal factors: subnormal results are rounded once, at the end.
    half = (n * F32_HALF + F32_ROUNDER) - F32_ROUNDER
    return (p * _pow2_f32(half)) * _pow2_f32(n - half)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def exp_nonpositive_f32(x):
    """exp_f32 for x <= 0 (NaN kept), as the activations call it: e^-|x|.
    Computed times 2^64, a normal number down to the clamp, so one factor
    2^n serves where exp_f32 needs two; the last product by 2^-64 rounds a
    subnormal result once, as exp_f32 does: the same bits, fewer vector
    instructions."""
    xc = F32(-104.0) if x < F32(-104.0) else x
    n, r = _reduce_f32(xc)
    return ((F32_ONE + _expm1_series_f32(r)) * _pow2_f32(n + F32_64)) * F32_TWO_M64


@register_jitable(fastmath={"contract"}, error_model="numpy")
def exp_times_f32(x, m):
    """m * exp(x), the product rounded once (but for subnormal results):
    m + m (e^r - 1) in one fused multiply-add, then scaled by 2^n.  exp_f32
    times m rounds twice, and loses all accuracy where exp(x) is subnormal
    but the product is not (tests/test_vecmath.py measures both)."""
    xc = F32(89.0) if x > F32(89.0) else x
    xc = F32(-104.0) if xc < F32(-104.0) else xc
    n, r = _reduce_f32(xc)
    half = (n * F32_HALF + F32_ROUNDER) - F32_ROUNDER
    y = (_fma(m, _expm1_series_f32(r), m) * _pow2_f32(half)) * _pow2_f32(n - half)
    # Beyond the clamps exp(x) is 0 or inf in float32, and so is the product.
    y = m * F32_ZERO if x < F32(-104.0) else y
    return m * F32_INF if x > F32(89.0) else y


@register_jitable(fastmath={"contract"}, error_model="numpy")
def expm1_f32(x):
    # Below -18 the result rounds to -1; above 89 it overflows (NaN is kept).
    xc = F32(89.0) if x > F32(89.0) else x
    xc = F32(-18.0) if xc < F32(-18.0) else xc
    n, r = _reduce_f32(xc)
    p = _expm1_series_f32(r)
    # exp(x) - 1 = 2 (s p + (s - 1/2)) with s = 2^(n-1): one fused multiply-add,
    # no cancellation for n = 0 (it gives p itself), and s stays finite at n = 128.
    s = _pow2_f32(n - F32_ONE)
    y = F32_TWO * (s * p + (s - F32_HALF))
    return x if x == F32_ZERO else y  # keeps the sign of zero


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _log_series_f32(k, f, s, z):
    """log(2^k (1 + f)) from _log_reduce's parts, with the series cut for a
    float32 result (the first term left out is below 2^-31)."""
    p = 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    return k * LN2 + (f - s * (f - 2.0 * z * p))  # f - s f + 2 s z p = 2 s (1 + z p)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def _log1p_in_float64(x):
    # In float64, with the series cut for float32: a float32 version
    # measured 2 ulp, which made softplus less accurate than PyTorch's.
    x = np.float64(x)
    u = 1.0 + x
    safe = u if (u > 0.0 and u < np.inf) else 1.0
    log_u = _log_series_f32(*_log_reduce(safe))
    # 1 + x is exact in float64 for a float32 x of magnitude 2^-29 or more
    # (no correction, no division); below, log1p(x) = x to within 2^-30.
    out = x if abs(x) < 1.862645149230957e-09 else log_u
    out = np.inf if x == np.inf else out
    out = -np.inf if u == 0.0 else out
    return np.nan if (x < -1.0 or x != x) else out


@register_jitable(fastmath={"contract"}, error_model="numpy")
def log1p_f32(x):
    return F32(_log1p_in_float64(x))


@register_jitable(fastmath={"contract"}, error_model="numpy")
def log1p_plus_f32(x, a):
    """a + log1p(x) for 0 <= x <= 1 or NaN (softplus: max(z, 0) + log1p(e^-|z|)),
    rounded to float32 once.

    As _log1p_in_float64, but 1 + x lies in [1, 2]: reaching [sqrt(1/2),
    sqrt(2)] is a halving or nothing, with no exponent bits to take apart
    and no special cases (a NaN passes through the arithmetic).  Softplus
    ran 218 vector instructions per 8 elements with the general log1p."""
    x = np.float64(x)
    u = 1.0 + x
    big = u > SQRT2
    f = (0.5 * u if big else u) - 1.0
    s = f / (2.0 + f)
    log_u = _log_series_f32(1.0 if big else 0.0, f, s, s * s)
    return F32(np.float64(a) + (x if x < 1.862645149230957e-09 else log_u))


# expm1(r) = r + r^2 P(r) on |r| <= ln(2)/2, P of degree 6 fitted in relative
# error (perf/fit_vecmath.py): largest error 5.7e-12, about 2^-37, as the
# Taylor series to r^10 that it replaces, with three terms fewer.
_EXPM1_TAIL_TANH = (
    0.5000000000179605, 0.16666666755570986, 0.041666665556594, 0.00833328873958828,
    0.0013889044219287106, 0.00019905068743594442, 2.4770178231066538e-05,
)
T0, T1, T2, T3, T4, T5, T6 = _EXPM1_TAIL_TANH


@register_jitable(fastmath={"contract"}, error_model="numpy")
def tanh_f32(x):
    # Computed in float64 with a polynomial fitted for float32: in float32
    # the quotient -m / (2 + m) doubles expm1's error near |t| = 1, and tanh
    # is the activation where PyTorch's float32 result is closest to
    # correctly rounded (0.26 ulp measured).
    a = abs(np.float64(x))
    n, r = _reduce(-2.0 * (a if a < 10.0 else 10.0))
    # Estrin's scheme: the loop is bound by its chains of dependent
    # operations, which this cuts from seven multiply-adds to three.
    r2 = r * r
    r4 = r2 * r2
    p = (T0 + T1 * r) + (T2 + T3 * r) * r2 + ((T4 + T5 * r) + T6 * r2) * r4
    scale = _pow2(n)
    m = scale * (r + r2 * p) + (scale - 1.0)  # expm1(-2|x|), n >= -29
    magnitude = F32(-m / (2.0 + m))
    return magnitude if x > F32_ZERO else (-magnitude if x < F32_ZERO else x)


# erf(x) / x on |x| <= 1 as a polynomial in x^2, and erfcx on 1 <= x <= 4 in
# powers of u = (2x - 5) / 3, both fitted from mpmath at 50 digits
# (perf/fit_vecmath.py): largest relative errors 1.3e-9 and 1.4e-9, against
# float32's 6e-8.  Horner's rule in powers rather than Clenshaw's recurrence:
# half the chain of dependent operations, which bounds this loop's speed.
# erf rounds to +-1 in float32 from |x| = 3.92.
_ERF_SMALL_F32 = tuple(F32(c) for c in (
    1.1283791656893227, -0.3761262556739928, 0.11283582247994073, -0.02685369109977187,
    0.0051880988895211255, -0.0008008189324326398, 7.847259131149587e-05,
))
_ERFCX_F32 = tuple(F32(c) for c in (
    0.21080636427594102, -0.11152102074917346, 0.05611047258428677, -0.02700527578357725,
    0.012489703671458846, -0.005570928958827953, 0.002401701695498621,
    -0.0010047884624158224, 0.000414508097802788, -0.00016449745105465494,
    5.494724823364619e-05, -2.0489641032795245e-05, 1.3819089002367909e-05,
    -5.058179245400006e-06,
))


@register_jitable(fastmath={"contract"}, error_model="numpy")
def erf_f32(x):
    a = abs(x)
    z = x * x
    c = _ERF_SMALL_F32
    p = c[6]
    p = p * z + c[5]
    p = p * z + c[4]
    p = p * z + c[3]
    p = p * z + c[2]
    p = p * z + c[1]
    p = p * z + c[0]
    small = x * p  # |x| < 1; keeps the sign of -0
    # 1 <= |x| < 4: erf = 1 - exp(-x^2) erfcx(|x|), x^2 = hi + lo exactly.
    m = a if (a >= F32_ONE and a < F32(4.0)) else F32_ONE
    u = m * F32(2.0 / 3.0) - F32(5.0 / 3.0)  # (2m - 5) / 3 without a division
    b = _ERFCX_F32
    q = b[13]
    q = q * u + b[12]
    q = q * u + b[11]
    q = q * u + b[10]
    q = q * u + b[9]
    q = q * u + b[8]
    q = q * u + b[7]
    q = q * u + b[6]
    q = q * u + b[5]
    q = q * u + b[4]
    q = q * u + b[3]
    q = q * u + b[2]
    q = q * u + b[1]
    q = q * u + b[0]
    t = a if a < F32(11.0) else F32(11.0)  # exp(-121) is 0 in float32
    hi = t * t
    lo = _fma(t, t, -hi)
    gauss = exp_f32(-hi) * (F32_ONE - lo)
    large = F32_ONE - gauss * q
    large = F32_ONE if a >= F32(4.0) else large
    large = large if x > F32_ZERO else -large
    out = small if a < F32_ONE else large
    return x if x != x else out


# Phi(-y) = exp(-y^2 / 2) M(y) for y >= 0, with M(y) (y + 3) a polynomial in
# t = (y - 3) / (y + 3), fitted on y in [0, 14.5] (t in [-1, 0.657]):
# perf/fit_vecmath.py.  Beyond 14.5, Phi(-y) and exp(-y^2 / 2) round to 0.
_NORMAL_TAIL_F32 = tuple(F32(c) for c in (
    0.729083691208482, -0.509332169638093, 0.2300177301756698, -0.04725810719699415,
    -0.01046266232724151, 0.006937051664665168, 0.0010177954094034158, -0.000945882658728435,
    -0.0002045279169658465, 5.116228246383053e-05))
F32_NORMAL_TOP = F32(14.5)
F32_THREE = F32(3.0)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def normal_cdf_gauss_f32(x):
    """(Phi(x), exp(-x^2 / 2)), Phi the standard normal CDF, from one exp
    and one division.  Below 0 Phi is the tail itself, so it keeps its
    relative accuracy where 1 + erf(x / sqrt(2)) cancels; above, 1 - tail."""
    y = abs(x)
    y = y if y < F32_NORMAL_TOP else F32_NORMAL_TOP  # NaN too: returned as it came
    inv = F32_ONE / (y + F32_THREE)
    t = (y - F32_THREE) * inv
    c = _NORMAL_TAIL_F32
    p = c[9]
    p = p * t + c[8]
    p = p * t + c[7]
    p = p * t + c[6]
    p = p * t + c[5]
    p = p * t + c[4]
    p = p * t + c[3]
    p = p * t + c[2]
    p = p * t + c[1]
    p = p * t + c[0]
    # exp(-y^2 / 2) with y^2 = hi + lo exactly: hi / 2 is exact, and lo
    # shifts the result by up to 7 ulp at y = 14.  Computed times 2^64, a
    # normal number for every y up to the clamp, with one factor 2^n (no
    # clamps, no split of 2^n); the last product by 2^-64 rounds a subnormal
    # result once, and makes it 0 at the clamp (for inf and NaN too).  The
    # form of exp_nonpositive_f32, written out: through a helper shared with
    # it, LLVM reloaded constants inside this loop (70 instead of 63 vector
    # instructions per 8 elements).
    hi = y * y
    lo = _fma(y, y, -hi)
    n, r = _reduce_f32(-F32_HALF * hi)
    gauss_up = ((F32_ONE + _expm1_series_f32(r)) * _pow2_f32(n + F32_64)
                * (F32_ONE - F32_HALF * lo))
    tail = (gauss_up * (p * inv)) * F32_TWO_M64
    phi = tail if x < F32_ZERO else F32_ONE - tail
    return (x if x != x else phi), gauss_up * F32_TWO_M64


@register_jitable(fastmath={"contract"}, error_model="numpy")
def normal_cdf_f32(x):
    return normal_cdf_gauss_f32(x)[0]


# Phi(-y) = exp(-y^2 / 2) M(y) for y >= 0 in float64, with M(y) (y + 5) as 24
# Chebyshev coefficients in u, the map of t = (y - 5) / (y + 5) from
# [-1, 33.6 / 43.6] onto [-1, 1], for y in [0, 38.6] (perf/fit_vecmath.py: 5.8e-16
# relative in float64 arithmetic; the first left out is below 5e-18).  Beyond
# 38.6, Phi(-y) rounds to 0.
_NORMAL_TAIL_CHEBYSHEV = (
    1.145849952137368, -0.9381651162976475, 0.31101010523223604,
    -0.08373950970557462, 0.01799075749786377, -0.002930067265946296,
    0.0003115595993167921, -7.4215586952977965e-06, -3.9360622364591614e-06,
    5.834948396286873e-07, 1.697309797013926e-08, -1.307757588893111e-08,
    4.957856107550464e-10, 2.685681579017645e-10, -2.2003606693525566e-11,
    -6.057238463523851e-12, 6.541918402268031e-13, 1.5936563174210974e-13,
    -1.7060378157529067e-14, -4.832186711155887e-15, 3.7989036899476577e-16,
    1.5956490011579682e-16, -5.041692721900424e-18, -5.356207876486603e-18,
)
NORMAL_TOP = 38.6
_TAIL_T_TOP = (NORMAL_TOP - 5.0) / (NORMAL_TOP + 5.0)
_TAIL_U_SCALE = 2.0 / (_TAIL_T_TOP + 1.0)
_TAIL_U_SHIFT = (1.0 - _TAIL_T_TOP) / (_TAIL_T_TOP + 1.0)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def normal_cdf_gauss(x):
    """(Phi(x), exp(-x^2 / 2)) in float64, as normal_cdf_gauss_f32: Phi from
    the tail, so that it keeps its relative accuracy below 0 (from 1 + erf
    it lost every digit from about x = -8.3)."""
    x = np.float64(x)
    y = abs(x)
    y = y if y < NORMAL_TOP else NORMAL_TOP  # NaN too: returned as it came
    inv = 1.0 / (y + 5.0)
    u = ((y - 5.0) * inv) * _TAIL_U_SCALE + _TAIL_U_SHIFT
    # Clenshaw's recurrence, written out (a loop would not vectorise).
    u2 = 2.0 * u
    b2 = _NORMAL_TAIL_CHEBYSHEV[23]
    b1 = u2 * b2 + _NORMAL_TAIL_CHEBYSHEV[22]
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[21], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[20], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[19], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[18], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[17], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[16], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[15], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[14], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[13], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[12], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[11], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[10], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[9], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[8], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[7], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[6], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[5], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[4], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[3], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[2], b1
    b1, b2 = u2 * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[1], b1
    m = u * b1 - b2 + _NORMAL_TAIL_CHEBYSHEV[0]
    # exp(-y^2 / 2) with y^2 = hi + lo exactly.
    hi = y * y
    lo = _fma(y, y, -hi)
    gauss = exp(-0.5 * hi) * (1.0 - 0.5 * lo)
    gauss = gauss if abs(x) < NORMAL_TOP else 0.0
    tail = gauss * (m * inv)
    phi = tail if x < 0.0 else 1.0 - tail
    # Near 0 the tail's roundings add up to 6 ulp; erf's series there gives 1.
    central = 0.5 + 0.5 * _erf_taylor(x * SQRT_HALF)
    phi = central if y < 1.0 else phi
    return (x if x != x else phi), gauss


@register_jitable(fastmath={"contract"}, error_model="numpy")
def normal_cdf(x):
    return normal_cdf_gauss(x)[0]


@register_jitable(fastmath={"contract"}, error_model="numpy")
def exp_times(x, m):
    return m * exp(x)


@register_jitable(fastmath={"contract"}, error_model="numpy")
def log1p_plus(x, a):
    return a + log1p(x)


@register_jitable
def same_value(x, value):
    return value


@register_jitable
def to_float32(x, value):
    return np.float32(value)


#: name -> implementation, for the helpers in ``definitions``.
FUNCTIONS = {"exp": exp, "expm1": expm1, "log1p": log1p, "tanh": tanh, "erf": erf,
             "normal_cdf": normal_cdf}
#: name -> float32 implementation, for float32 arguments.
FUNCTIONS_F32 = {"exp": exp_f32, "expm1": expm1_f32, "log1p": log1p_f32, "tanh": tanh_f32,
                 "erf": erf_f32, "normal_cdf": normal_cdf_f32}


#: name -> (float64 version, float32 version): what the CPU loops call for
#: each of the formulas' ``VECTOR_MATH`` helpers.
CPU_VERSIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    name: (FUNCTIONS[name], FUNCTIONS_F32[name]) for name in FUNCTIONS}
CPU_VERSIONS["normal_cdf_gauss"] = (normal_cdf_gauss, normal_cdf_gauss_f32)
CPU_VERSIONS["exp_times"] = (exp_times, exp_times_f32)
CPU_VERSIONS["exp_nonpositive"] = (exp_nonpositive, exp_nonpositive_f32)
CPU_VERSIONS["log1p_plus"] = (log1p_plus, log1p_plus_f32)

