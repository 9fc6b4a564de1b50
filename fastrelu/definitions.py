"""Every built-in activation, defined once.

Each activation is a scalar formula and its backward formula, plain Python
that Numba compiles for every backend (serial loop, parallel loop, ufunc, GPU
kernel), plus a NumPy expression of the same function: the ``numpy`` backend
and the reference the tests compare against, and its true value in mpmath
(the accuracy measure's).  Its entry in ``BUILTIN`` says the rest, and the
public functions, fastrelu.torch, the Numba overloads, the accuracy cases
and the API reference are made from it.

Conventions (those of ``torch.nn.functional``):

* ``backward(g, x, *params)`` returns ``g * f'(x)``, with ``x`` the forward
  input. At a kink the derivative is PyTorch's choice (0 for relu at 0).
* NaN propagates through forward. ``relu`` keeps NaN and maps -0 to +0 (the
  select form ``x if not (x <= 0) else 0``).
* Where ``x * f(x)`` would give ``inf * 0 = NaN`` at an infinite input (gelu,
  silu, mish, their gradients), we return the mathematical limit instead.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np

INF = math.inf
SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2)
SQRT_HALF_LOW = -4.833646656726457e-17  # 1 / sqrt(2) - SQRT_HALF
TWO_OVER_SQRT_PI = 1.1283791670955126
INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi)
SQRT_2_OVER_PI = 0.7978845608028654
GELU_TANH_C = 0.044715
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


#: Scalar helpers that formulas call; the compilers register them with Numba
#: (``register_jitable``) before compiling, so this module never imports Numba.
HELPERS: list = []


def helper(func):
    HELPERS.append(func)
    return func


#: The elementary functions the formulas call, by name: plain ``math`` here
#: (for CUDA, the simulator and Python callers), and in the CPU loops
#: vectorisable versions (``cpu/vecmath.py``), swapped in by ``_compiler.register_helpers``.
VECTOR_MATH: dict = {}


def vector_math(func):
    VECTOR_MATH[func.__name__.lstrip("_")] = func
    return func


def _in_precision_of(x, value):
    """``value`` (an argument for exp & co.) in the precision of the input ``x``.

    In the CPU loops this rounds it to float32 when ``x`` is float32, so that
    the vector math runs in float32: twice the lanes of float64 and shorter
    series, as PyTorch computes float32 activations.  Elsewhere (CUDA, the
    simulator, Python) it returns ``value`` as it is.
    """
    return value


@vector_math
def _exp_nonpositive(x):
    """exp(x) for x <= 0, as every formula here calls it (e^-|x|): in float32
    on the CPU one factor 2^n is then enough."""
    return math.exp(x)


@vector_math
def _expm1(x):
    return math.expm1(x)


@vector_math
def _exp_times(x, m):
    """m * exp(x): on the CPU rounded once in float32 (elu's gradient)."""
    return m * math.exp(x)


@vector_math
def _log1p_plus(x, a):
    """a + log1p(x) for 0 <= x <= 1 (softplus): on the CPU rounded once in float32."""
    return a + math.log1p(x)


@vector_math
def _tanh(x):
    return math.tanh(x)


@vector_math
def _normal_cdf_gauss(x):
    """(Phi(x), exp(-x * x / 2)), Phi the standard normal CDF, which the CPU
    loops compute together (from the tail, accurate below 0 too)."""
    return 0.5 * math.erfc(-x * SQRT_HALF), math.exp(-0.5 * x * x)


@dataclass(frozen=True, eq=False)
class Definition:
    """One activation: scalar formulas for the compiled backends, NumPy ones for the reference."""

    name: str
    forward: object  # f(x, *params) -> y, scalar
    backward: object  # b(g, x, *params) -> g * f'(x), scalar
    reference: object  # NumPy f(x, *params) -> array
    reference_backward: object  # NumPy b(g, x, *params) -> array
    params: tuple = ()  # ((name, default), ...) in call order
    # Whether forward takes integer arrays; it must then be the identity on
    # unsigned ones (relu).
    integers: bool = False
    # Optional kernels on the int16 bits of float16 values (Numba cannot do
    # float16 arithmetic on the CPU); without them float16 is computed in float32.
    half_forward: object = None
    half_backward: object = None
    # The same on bfloat16 bits; without them bfloat16 loops compute in float32.
    bfloat16_forward: object = None
    bfloat16_backward: object = None
    torch_equivalent: str = ""
    # --- what the public layers make of it: the one entry of an activation ---
    # Its true value for the accuracy measure (perf/accuracy.py): mpmath
    # ``true(mp, x, *params) -> (f(x), f'(x))``, in forms that do not cancel,
    # with ``mp`` the mpmath context passed in (this module imports no mpmath).
    true: object = None
    # The public function ``fastrelu.NAME`` (and ``NAME_backward``), made by
    # api.make_activation; False: none of its own (gelu_tanh is
    # ``gelu(x, "tanh")``).  ``written_out``: public, but written out by hand
    # in api.py and fastrelu.torch (gelu, whose ``approximate`` picks gelu or
    # gelu_tanh).
    public: bool = True
    written_out: bool = False
    # The docstring's summary (default: "NAME activation (PyTorch: ...)."),
    # and its example's values, forward and backward (grad 1) at
    # x = [-2, 0, 1.5], rounded to 4 digits (_docs.docstring).
    summary: str = ""
    example: tuple = ()
    # fastrelu.torch: the drop-in module named as torch.nn's class, whose
    # signature (and functional's) has ``inplace`` where ``torch_inplace``,
    # shown in its repr unless not ``repr_inplace`` (PyTorch's Hardswish).
    torch_class: str = ""
    torch_inplace: bool = False
    repr_inplace: bool = True
    # Its in-place form and what its gradient comes from there: "output"
    # (the result y, as PyTorch's in-place forms: y > 0 exactly where x > 0;
    # FROM_OUTPUT's gradient where it has one, else the backward applied to
    # y), "input" (a copy of x kept for backward), or "" (no in-place form).
    in_place: str = ""
    # Out of place, autograd keeps the output y and differentiates from it
    # (FROM_OUTPUT), as PyTorch does for sigmoid and tanh: x is not kept.
    saves_output: bool = False

    def __reduce_ex__(self, protocol):
        # Built-ins pickle by name, so that a worker process (Dask) finds its
        # own copy and the kernels it has compiled for it.
        if builtin(self.name) is self:
            return builtin, (self.name,)
        return super().__reduce_ex__(protocol)


# --- the true values ------------------------------------------------------------
# mpmath helpers of the ``true`` formulas (see Definition.true): ``mp`` is the
# mpmath context the caller passes, at its working precision.


def _exp_neg(mp, a):
    """e^-a for a >= 0; 0 beyond 4000, far below any float's smallest subnormal."""
    return mp.mpf(0) if a > 4000 else mp.exp(-a)


def _sigmoid_pair(mp, x):
    """(sigmoid(x), sigmoid(x) sigmoid(-x)) without cancellation."""
    e = _exp_neg(mp, abs(x))
    s = 1 / (1 + e) if x >= 0 else e / (1 + e)
    return s, e / ((1 + e) * (1 + e))


def _normal_cdf_pdf(mp, x):
    if x < -60:  # Phi(-60) < 1e-780
        return mp.mpf(0), mp.mpf(0)
    cdf = mp.mpf(1) if x > 60 else mp.erfc(-x / mp.sqrt(2)) / 2
    return cdf, _exp_neg(mp, x * x / 2) / mp.sqrt(2 * mp.pi)


# --- relu -----------------------------------------------------------------


# "x + 0" where the input passes through: the same value (x is not -0
# there), but a value the loop computes, so that LLVM stores it in full
# instead of turning an in-place loop into masked stores of the zeros
# (vmaskmovps, several times slower on AMD).  Integers lose nothing either.
def relu(x):
    return 0 if x <= 0 else x + 0


def relu_backward(g, x):
    # 0 where x <= 0 (the derivative at 0 is 0); a NaN input passes g, as in PyTorch.
    return 0 if x <= 0 else g


# relu and its gradient are also parts of other formulas (bias_relu).
helper(relu)
helper(relu_backward)


def relu_half(bits):
    # float16 bits as int16: every value below -1024 (0xFC00, -inf) is a
    # negative number or -0, to be zeroed; -1023..-1 are the NaNs with the sign
    # bit set, which must be kept.
    return bits if bits > -1024 else 0


def relu_backward_half(gbits, xbits):
    # x <= 0 for +0 (bits 0) and for -0 .. -inf (bits <= -1024).
    return 0 if (xbits == 0 or xbits <= -1024) else gbits


def relu_bfloat16(bits):
    # bfloat16 bits as int16, as relu_half: -inf is -128 (0xFF80).
    return bits if bits > -128 else 0


def relu_backward_bfloat16(gbits, xbits):
    return 0 if (xbits == 0 or xbits <= -128) else gbits


# --- bfloat16 -----------------------------------------------------------------
# The loops compute bfloat16 in float32: a value's bits (as int16) are the
# top half of its float32 bits, and a float32 result rounds to the nearest
# bfloat16, ties to even, as PyTorch and ml_dtypes round.


# (Numba types uint32 arithmetic as uint64: np.uint32() keeps it 32-bit.)
def bfloat16_to_float32(bits):
    return np.uint32(np.uint32(np.uint16(bits)) << np.uint32(16)).view(np.float32)


def float32_to_bfloat16(value):
    value = np.float32(value)  # first: a formula may give float64 (0.0 if ... else y)
    u = value.view(np.uint32)
    if value != value:  # NaN stays NaN (rounding could carry it into inf): quiet, sign kept
        return np.int16(np.uint16(np.uint32(u >> np.uint32(16)) | np.uint32(0x40)))
    lowest_kept = np.uint32(np.uint32(u >> np.uint32(16)) & np.uint32(1))
    rounded = np.uint32(u + np.uint32(np.uint32(0x7FFF) + lowest_kept))
    return np.int16(np.uint16(np.uint32(rounded >> np.uint32(16))))


def same(value):
    """What the loops on float values apply where bfloat16 ones widen or round."""
    return value


helper(bfloat16_to_float32)
helper(float32_to_bfloat16)
helper(same)


def relu_ref(x):
    return np.where(x <= 0, x.dtype.type(0), x)


def relu_backward_ref(g, x):
    return np.where(x <= 0, g.dtype.type(0), g)


def relu_true(mp, x):
    return (x if x > 0 else mp.mpf(0)), mp.mpf(1 if x > 0 else 0)


# --- leaky relu, relu6, the hard ones ---------------------------------------


def leaky_relu(x, negative_slope):
    return x + 0 if x > 0 else x * negative_slope  # "+ 0": see relu


def leaky_relu_backward(g, x, negative_slope):
    return g if x > 0 else g * negative_slope


def leaky_relu_ref(x, negative_slope):
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward_ref(g, x, negative_slope):
    return np.where(x > 0, g, g * negative_slope)


def leaky_relu_true(mp, x, negative_slope):
    slope = mp.mpf(repr(negative_slope))  # the slope as written (0.01), not its float64
    return (x if x > 0 else slope * x), (mp.mpf(1) if x > 0 else slope)


def relu6(x):
    if x <= 0:
        return 0
    if x >= 6:
        return 6
    return x + 0  # see relu


def relu6_backward(g, x):
    return g if (x > 0 and x < 6) else 0


def relu6_ref(x):
    return np.where(x <= 0, 0, np.where(x >= 6, 6, x)).astype(x.dtype, copy=False)


def relu6_backward_ref(g, x):
    return np.where((x > 0) & (x < 6), g, g.dtype.type(0))


def relu6_true(mp, x):
    return min(max(x, mp.mpf(0)), mp.mpf(6)), mp.mpf(1 if 0 < x < 6 else 0)


# The hard activations compute in x's precision (a Python int or float
# constant would widen float32 to float64 lanes: half the vector width) and
# pick with selects, so that the CPU loops vectorise; the same roundings as
# NumPy's float32 expression.


def hardsigmoid(x):
    # (x + 3) / 6, PyTorch's form: x + 3 is exact near -3, where x / 6 + 0.5
    # would cancel (25% off next to -3 in float32).
    three = _in_precision_of(x, 3.0)
    y = (x + three) / _in_precision_of(x, 6.0)
    y = _in_precision_of(x, 1.0) if x >= three else y
    return _in_precision_of(x, 0.0) if x <= -three else y


def hardsigmoid_backward(g, x):
    three = _in_precision_of(x, 3.0)
    d = g / _in_precision_of(x, 6.0)
    return d if (x > -three) & (x < three) else _in_precision_of(x, 0.0)


def hardsigmoid_ref(x):
    return np.where(x <= -3, 0, np.where(x >= 3, 1, (x + 3) / 6)).astype(x.dtype, copy=False)


def hardsigmoid_backward_ref(g, x):
    return np.where((x > -3) & (x < 3), g / 6, g.dtype.type(0))


def hardsigmoid_true(mp, x):
    y = min(max(x + 3, mp.mpf(0)), mp.mpf(6)) / 6
    return y, (mp.mpf(1) / 6 if -3 < x < 3 else mp.mpf(0))


def hardswish(x):
    three = _in_precision_of(x, 3.0)
    y = x * (x + three) / _in_precision_of(x, 6.0)
    y = x if not (x <= three) else y  # NaN as it came
    return _in_precision_of(x, 0.0) if x < -three else y


def hardswish_backward(g, x):
    # PyTorch's kinks: 0 at -3, g at 3; NaN propagates.  (2x + 3) / 6 rather
    # than PyTorch's x / 3 + 0.5, which cancels next to the zero at -1.5.
    three = _in_precision_of(x, 3.0)
    d = g * ((x + x + three) / _in_precision_of(x, 6.0))
    d = g if x >= three else d
    return _in_precision_of(x, 0.0) if x <= -three else d


def hardswish_ref(x):
    return np.where(x < -3, 0, np.where(x <= 3, x * (x + 3) / 6, x)).astype(x.dtype, copy=False)


def hardswish_backward_ref(g, x):
    d = g * ((2 * x + 3) / 6)
    return np.where(x <= -3, 0, np.where(x >= 3, g, d)).astype(g.dtype, copy=False)


def hardswish_true(mp, x):  # at the kinks PyTorch's derivatives: 0 at -3, 1 at 3
    forward = mp.mpf(0) if x < -3 else x * (x + 3) / 6 if x <= 3 else x
    return forward, mp.mpf(0) if x <= -3 else mp.mpf(1) if x >= 3 else (2 * x + 3) / 6


# --- exponential family -------------------------------------------------------


# The smooth formulas compute every part and pick with a select at the end:
# a branch around exp & co. would stop the CPU loops from vectorising.  The
# parts the select drops get a harmless argument (_not_positive), so that
# Python's math (CUDA simulator) never overflows.


@helper
def _not_positive(x):
    # x where x <= 0 or NaN; else x - x (0, or NaN for +inf: dropped anyway).
    return x if not (x > 0) else x - x


def elu(x, alpha):
    negative = alpha * _expm1(_not_positive(x))
    return x if x > 0 else negative


def elu_backward(g, x, alpha):
    negative = _exp_times(_not_positive(x), g * alpha)
    return g if x > 0 else negative


def elu_ref(x, alpha):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_backward_ref(g, x, alpha):
    return np.where(x > 0, g, g * alpha * np.exp(np.minimum(x, 0)))


def _elu_like_true(mp, x, alpha, scale):
    if x > 0:
        return scale * x, scale
    return scale * alpha * mp.expm1(max(x, mp.mpf(-5000))), scale * alpha * _exp_neg(mp, -x)


def elu_true(mp, x, alpha):
    return _elu_like_true(mp, x, mp.mpf(alpha), mp.mpf(1))


def selu(x):
    negative = SELU_SCALE * SELU_ALPHA * _expm1(_not_positive(x))
    return SELU_SCALE * x if x > 0 else negative


def selu_backward(g, x):
    negative = g * (SELU_SCALE * SELU_ALPHA) * _exp_nonpositive(_not_positive(x))
    return g * SELU_SCALE if x > 0 else negative


def selu_ref(x):
    neg = (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, SELU_SCALE * x, neg).astype(x.dtype, copy=False)


def selu_backward_ref(g, x):
    neg = g * (SELU_SCALE * SELU_ALPHA) * np.exp(np.minimum(x, 0))
    return np.where(x > 0, g * SELU_SCALE, neg).astype(g.dtype, copy=False)


def selu_true(mp, x):
    return _elu_like_true(mp, x, mp.mpf("1.6732632423543772848170429916717"),
                          mp.mpf("1.0507009873554804934193349852946"))


def celu(x, alpha):
    negative = alpha * _expm1(_in_precision_of(x, _not_positive(x) / alpha))
    return x if x > 0 else negative


def celu_backward(g, x, alpha):
    negative = _exp_times(_in_precision_of(x, _not_positive(x) / alpha), g)
    return g if x > 0 else negative


def celu_ref(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


def celu_backward_ref(g, x, alpha):
    return np.where(x > 0, g, g * np.exp(np.minimum(x, 0) / alpha))


def celu_true(mp, x, alpha):
    a = mp.mpf(alpha)
    if x > 0:
        return x, mp.mpf(1)
    return a * mp.expm1(max(x / a, mp.mpf(-5000))), _exp_neg(mp, -x / a)


@helper
def _over_one_plus(x, num, e):
    """num / (1 + e) for 0 <= e <= 1, in x's precision, within a small
    fraction of an ulp of the correctly rounded quotient.

    1 + e is rounded to d; the part it drops, lo, is exact (e <= 1).  With
    r = 1 / d rounded, q = num * r is within about an ulp of num / d; the
    residual num - q d - q lo then corrects it by a term of about an ulp,
    whose first product is exact where num - q * d fuses into one
    multiply-add (the loops' 'contract' flag).  One division, as a
    reciprocal: for sigmoid (num = 1) q is r itself.  In float32 this runs
    1.4x faster than a division in float64.
    """
    one = _in_precision_of(x, 1.0)
    d = one + e
    lo = e - (d - one)
    r = one / d
    q = num * r
    return q + ((num - q * d) - q * lo) * r


@helper
def _sigmoids(x):
    """(sigmoid(x), sigmoid(-x)), each with full relative accuracy, 1 - s
    included where s rounds near 1.  One exp, of -|x| only (no overflow), and
    selects rather than a branch, so that the loops vectorise."""
    e = _exp_nonpositive(-abs(x))
    r = _over_one_plus(x, _in_precision_of(x, 1.0), e)
    big, small = r, e * r
    return (big if x >= 0 else small), (small if x >= 0 else big)


@helper
def _sigmoid(x):
    return _sigmoids(x)[0]


def sigmoid(x):
    return _sigmoid(x)


def sigmoid_backward(g, x):
    s, one_minus_s = _sigmoids(x)
    return g * s * one_minus_s


def _sigmoid_ref(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_ref(x):
    return _sigmoid_ref(x)


def sigmoid_backward_ref(g, x):
    # s (1 - s) = e / (1 + e)^2 with e = e^-|x|: 1 - s would cancel for large x.
    e = np.exp(-np.abs(x))
    return g * (e / ((1 + e) * (1 + e)))


def sigmoid_true(mp, x):
    return _sigmoid_pair(mp, x)


def tanh(x):
    return _tanh(x)


def tanh_backward(g, x):
    # sech(x)**2 = 4 sigmoid(2x) sigmoid(-2x), each factor with full relative
    # accuracy (1 - t * t from a rounded t = tanh(x) loses all its digits for
    # large |x|), in x's precision: 1.8x faster in float32 than 4e / (1 + e)**2
    # in float64, at 2.1 instead of 1.0 float32 eps at most (PyTorch: 7.2).
    s, one_minus_s = _sigmoids(_in_precision_of(x, 2.0 * x))
    return g * (_in_precision_of(x, 4.0) * s * one_minus_s)


def tanh_ref(x):
    return np.tanh(x)


def tanh_backward_ref(g, x):
    # 1 - tanh(x)^2 = 4 e / (1 + e)^2 with e = e^-2|x|, which does not cancel
    # in the tails (1 - t * t is 0 from |x| = 19 in float64, e^-2|x| is not).
    e = np.exp(-2 * np.abs(x))
    return g * (4 * e / ((1 + e) * (1 + e)))


def tanh_true(mp, x):
    a = abs(x)
    if a < mp.mpf("0.5"):
        t = mp.tanh(a)
    else:
        e = _exp_neg(mp, 2 * a)
        t = (1 - e) / (1 + e)
    _, s_one_minus_s = _sigmoid_pair(mp, 2 * x)
    return (t if x >= 0 else -t), 4 * s_one_minus_s


def silu(x):
    # x / (1 + e^-x), or x e^x / (1 + e^x) below 0: one rounding where
    # x * sigmoid(x) has two (PyTorch's 1 ulp against 0.6 here).
    e = _exp_nonpositive(-abs(x))
    y = _over_one_plus(x, x if x >= 0 else x * e, e)
    # NaN as it came (of two NaN operands a product keeps either one's sign:
    # in-place and out-of-place loops could differ), and inf, which the
    # correction term would turn into inf * 0.
    y = x if (x != x) | (x == INF) else y
    return 0.0 if x == -INF else y  # -inf * 0 is NaN: the limit is 0


def silu_backward(g, x):
    s, one_minus_s = _sigmoids(x)
    d = g * s * (_in_precision_of(x, 1.0) + x * one_minus_s)
    d = g if x == INF else d
    return _in_precision_of(x, 0.0) * g if x == -INF else d


def silu_ref(x):
    with np.errstate(invalid="ignore"):
        return np.where(x == -np.inf, 0, x * _sigmoid_ref(x)).astype(x.dtype, copy=False)


def silu_backward_ref(g, x):
    s = _sigmoid_ref(x)
    with np.errstate(invalid="ignore"):
        d = g * s * (1 + x * _sigmoid_ref(-x))  # not 1 - s: it cancels for large x
    d = np.where(x == np.inf, g, d)
    return np.where(x == -np.inf, 0 * g, d).astype(g.dtype, copy=False)


def silu_true(mp, x):
    s, s_one_minus_s = _sigmoid_pair(mp, x)
    return x * s, s + x * s_one_minus_s


@helper
def _softplus(x, beta, threshold):
    z = x * beta
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): exp never overflows, and
    # log1p's argument is at most 1, where it is most accurate.  Above the
    # threshold softplus is x; a select rather than a branch keeps the loop
    # vectorisable.
    positive = z if z > 0 else _in_precision_of(x, 0.0)
    soft = _log1p_plus(_exp_nonpositive(_in_precision_of(x, -abs(z))), positive) / beta
    return x if z > threshold else soft


def softplus(x, beta, threshold):
    return _softplus(x, beta, threshold)


def softplus_backward(g, x, beta, threshold):
    z = x * beta
    d = g * _sigmoid(_in_precision_of(x, z))
    return g if z > threshold else d


def softplus_ref(x, beta, threshold):
    z = x * beta
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(np.minimum(z, threshold))) / beta
    return np.where(z > threshold, x, soft).astype(x.dtype, copy=False)


def softplus_backward_ref(g, x, beta, threshold):
    z = x * beta
    return np.where(z > threshold, g, g * _sigmoid_ref(z)).astype(g.dtype, copy=False)


def softplus_true(mp, x, beta, threshold):  # x above the threshold (PyTorch's definition)
    b = mp.mpf(beta)
    z = b * x
    if z > threshold:
        return x, mp.mpf(1)
    s, _ = _sigmoid_pair(mp, z)
    return (max(z, mp.mpf(0)) + mp.log1p(_exp_neg(mp, abs(z)))) / b, s


@helper
def _mish_parts(x):
    """(sigmoid(x), tanh(softplus(x)), its sech**2) from one exp, e = exp(-|x|).

    exp(-2 softplus(x)) is sigmoid(-x)**2, so tanh(softplus(x)) is
    (1 + 2e) / (1 + 2e + 2e**2) for x >= 0 and (2e + e**2) / (2 + 2e + e**2)
    below, and sech**2 is (2e (1 + e) / D)**2 and (2 (1 + e) / D)**2 with D those
    denominators: sums of positive terms, so no cancellation in either tail
    (1 - t * t from a rounded t loses every digit for large x), and one
    division.
    """
    e = _exp_nonpositive(-abs(x))
    positive = x >= 0
    numerator = (1.0 + 2.0 * e) if positive else e * (2.0 + e)
    w = 1.0 / ((1.0 + 2.0 * e + 2.0 * e * e) if positive else (2.0 + 2.0 * e + e * e))
    k = 2.0 * (1.0 + e) * (e if positive else 1.0)
    sigmoid = (1.0 if positive else e) / (1.0 + e)  # dead code in mish itself
    return sigmoid, numerator * w, (k * w) * (k * w)


def mish(x):
    y = x * _mish_parts(x)[1]
    return 0.0 if x == -INF else y


def mish_backward(g, x):
    s, t, sech2 = _mish_parts(x)
    d = g * (t + x * s * sech2)
    d = g if x == INF else d
    return 0.0 * g if x == -INF else d


def mish_ref(x):
    t = np.tanh(softplus_ref(x, 1.0, 20.0))
    with np.errstate(invalid="ignore"):
        return np.where(x == -np.inf, 0, x * t).astype(x.dtype, copy=False)


def mish_backward_ref(g, x):
    t = np.tanh(softplus_ref(x, 1.0, 20.0))
    # sech^2(softplus(x)) = 4w / (1 + w)^2 with w = e^(-2 softplus(x)) =
    # sigmoid(-x)^2: 1 - t * t would cancel for large x.
    w = _sigmoid_ref(-x) ** 2
    with np.errstate(invalid="ignore"):
        d = g * (t + x * _sigmoid_ref(x) * (4 * w / ((1 + w) * (1 + w))))
    d = np.where(x == np.inf, g, d)
    return np.where(x == -np.inf, 0 * g, d).astype(g.dtype, copy=False)


def mish_true(mp, x):
    # tanh(softplus(x)) = (1 - w) / (1 + w) with w = e^(-2 softplus(x)), in forms
    # with no cancellation (e = e^-|x|).
    e = _exp_neg(mp, abs(x))
    if x >= 0:
        t = (1 + 2 * e) / ((1 + e) ** 2 + e * e)
        w = (e / (1 + e)) ** 2
    else:
        t = e * (2 + e) / ((1 + e) ** 2 + 1)
        w = 1 / (1 + e) ** 2
    sech2 = 4 * w / (1 + w) ** 2
    s, _ = _sigmoid_pair(mp, x)
    return x * t, t + x * s * sech2


# --- gelu ---------------------------------------------------------------------


def gelu(x):
    y = x * _normal_cdf_gauss(x)[0]
    return 0.0 if x == -INF else y  # -inf * 0 would be NaN


def gelu_backward(g, x):
    cdf, gauss = _normal_cdf_gauss(x)
    pdf = _in_precision_of(x, INV_SQRT_2PI) * gauss
    d = g * (cdf + x * pdf)
    d = g if x == INF else d  # inf * 0 would be NaN
    return _in_precision_of(x, 0.0) * g if x == -INF else d


# 0.5 * (1 + tanh(u)) is sigmoid(2u), and 1 - tanh(u)**2 is 4 s (1 - s): the
# sigmoid forms keep full relative accuracy in the left tail, where 1 + tanh(u)
# cancels.


def gelu_tanh(x):
    u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)
    y = x * _sigmoid(_in_precision_of(x, 2.0 * u))
    y = x if x == INF else y
    return 0.0 if x == -INF else y


def gelu_tanh_backward(g, x):
    u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)
    du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * x * x)
    s, one_minus_s = _sigmoids(_in_precision_of(x, 2.0 * u))
    d = s + 2.0 * x * s * one_minus_s * du
    # For huge |x|, s * (1 - s) is 0 while du overflows: the limit is 0 or 1.
    limit = 1.0 if x > 0 else 0.0
    d = limit if (d != d) & (x == x) else d
    d = g if x == INF else g * d
    return 0.0 * g if x == -INF else d


def _product_error(a, b):
    """a * b - fl(a * b), exactly (Dekker's product; |a|, |b| below 1e150)."""
    def halves(v):
        big = v * 134217729.0  # 2^27 + 1
        high = big - (big - v)
        return high, v - high

    ah, al = halves(a)
    bh, bl = halves(b)
    return ((ah * bh - a * b) + ah * bl + al * bh) + al * bl


def _normal_cdf_ref(x64):
    # NumPy has no erfc; math.erfc through frompyfunc is slow but exact enough
    # for a reference, and erfc keeps the left tail that 1 + erf cancels.  Its
    # argument z = -x / sqrt(2) is corrected for its rounding (erfc' = -2/sqrt(pi)
    # e^-z^2): in the left tail erfc multiplies z's relative error by 2 z^2,
    # 1200 float64 ulps at x = -37 without it.
    x64 = np.clip(x64, -60.0, 60.0)  # Phi is 0 or 1 beyond, to far below an ulp
    z = -x64 * SQRT_HALF
    dz = _product_error(-x64, np.float64(SQRT_HALF)) - x64 * SQRT_HALF_LOW
    erfc = np.asarray(np.frompyfunc(math.erfc, 1, 1)(z), np.float64)
    return 0.5 * (erfc - dz * (TWO_OVER_SQRT_PI * np.exp(-z * z)))


def gelu_ref(x):
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        y = x64 * _normal_cdf_ref(x64)
    return np.where(x == -np.inf, 0, y).astype(x.dtype)


def gelu_backward_ref(g, x):
    x64 = x.astype(np.float64)
    # exp(-x^2 / 2) with x^2's rounding corrected (it is multiplied by x^2 / 2:
    # 450 float64 ulps at x = -36 without it).
    square = x64 * x64
    low = _product_error(np.clip(x64, -1e150, 1e150), np.clip(x64, -1e150, 1e150))
    with np.errstate(invalid="ignore"):
        pdf = INV_SQRT_2PI * np.exp(-0.5 * square) * (1 - 0.5 * low)
    with np.errstate(invalid="ignore"):
        d = _normal_cdf_ref(x64) + x64 * pdf
    d = np.where(x == np.inf, 1, np.where(x == -np.inf, 0, d))
    return (g * d).astype(g.dtype)


def gelu_true(mp, x):
    cdf, pdf = _normal_cdf_pdf(mp, x)
    return x * cdf, cdf + x * pdf


def _gelu_tanh_parts(x):
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        u = SQRT_2_OVER_PI * (x64 + GELU_TANH_C * x64**3)
        du = SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_C * x64 * x64)
        s = _sigmoid_ref(2 * u)
        s_minus = _sigmoid_ref(-2 * u)  # 1 - s, which would cancel for large x
    return x64, s, s_minus, du


def gelu_tanh_ref(x):
    x64, s, _, _ = _gelu_tanh_parts(x)
    with np.errstate(invalid="ignore"):
        y = x64 * s
    return np.where(x == -np.inf, 0, y).astype(x.dtype)


def gelu_tanh_backward_ref(g, x):
    x64, s, s_minus, du = _gelu_tanh_parts(x)
    with np.errstate(invalid="ignore"):
        d = s + 2 * x64 * s * s_minus * du
    d = np.where(np.isnan(d) & ~np.isnan(x64), np.where(x64 > 0, 1.0, 0.0), d)
    return (g * d).astype(g.dtype)


def gelu_tanh_true(mp, x):
    c = mp.sqrt(2 / mp.pi)
    k = mp.mpf("0.044715")
    u = c * (x + k * x ** 3)
    s, s_one_minus_s = _sigmoid_pair(mp, 2 * u)  # (1 + tanh(u)) / 2 = sigmoid(2u)
    return x * s, s + 2 * x * s_one_minus_s * c * (1 + 3 * k * x * x)


# --- prelu and rrelu: a slope per element, given as a second array -----------


def prelu(x, slope):
    return x if x > 0 else x * slope


def prelu_backward(g, x, slope):
    return g if x > 0 else g * slope


def prelu_ref(x, slope):
    return np.where(x > 0, x, x * slope)


def prelu_backward_ref(g, x, slope):
    return np.where(x > 0, g, g * slope)


def prelu_weight_gradient(g, x):
    """One element's share of PReLU's weight gradient (summed per channel)."""
    return 0 if x > 0 else x * g


def channel_axis(x):
    """PReLU's channel axis, as PyTorch's: 1, or 0 for 1-D input."""
    return 1 if x.ndim >= 2 else 0


def along_channels(weight, x):
    """``weight`` (one value, or one per channel) shaped to broadcast against ``x``."""
    shape = [1] * x.ndim
    if weight.size > 1:
        shape[channel_axis(x)] = weight.size
    return weight.reshape(shape)


def prelu_weight_gradient_ref(g, x):
    return np.where(x > 0, 0, x * g)


def prelu_weight_gradient_sum_ref(g, x, channels):
    """PReLU's weight gradient: prelu_weight_gradient summed per weight, in float64."""
    return sum_per_channel(prelu_weight_gradient_ref(g, x), channels)


def sum_per_channel(contribution, channels):
    """``contribution`` summed per weight (over every axis but the channel's), in float64."""
    if channels == 1:
        return np.atleast_1d(contribution.sum(dtype=np.float64))
    axis = channel_axis(contribution)
    return contribution.sum(axis=tuple(i for i in range(contribution.ndim) if i != axis),
                            dtype=np.float64)


#: Shared by prelu (weight broadcast to x) and rrelu in training (random slopes).
PER_ELEMENT_SLOPE = Definition("prelu", prelu, prelu_backward, prelu_ref, prelu_backward_ref,
                               torch_equivalent="F.prelu")


# --- relu after a bias, and the relu mask -------------------------------------


def bias_relu(x, b):
    """relu(x + b): a dense layer's output and its bias, in one pass."""
    return relu(x + b)


def bias_relu_backward(g, x, b):
    return relu_backward(g, x + b)


def bias_relu_ref(x, b):
    with np.errstate(invalid="ignore"):
        return relu_ref(x + b)


def bias_relu_backward_ref(g, x, b):
    with np.errstate(invalid="ignore"):
        return relu_backward_ref(g, x + b)


def mask_size(size):
    """Bytes in the relu mask of ``size`` elements: one bit each, rounded up."""
    return (size + 7) // 8


def relu_mask_ref(x):
    """The mask of ``x``: its bits ``x > 0`` in C order, eight to a byte, lowest first."""
    return np.packbits(np.ravel(x) > 0, bitorder="little")


# --- gradients from the output ---------------------------------------------


@dataclass(frozen=True, eq=False)
class FromOutput:
    """An activation's gradient from its output ``y``: ``backward(g, y,
    *params)``, grad times the derivative in terms of y, and its NumPy twin.

    The backends run it as they run a Definition's backward (direction
    ``"backward"``), so it has what they read there; it takes float arrays
    only and has no loops on 16-bit floats' bits.
    """

    name: str
    backward: object  # b(g, y, *params) -> g * f'(x), scalar
    reference_backward: object  # NumPy b(g, y, *params) -> array
    params: tuple = ()  # ((name, default), ...) in call order
    torch_equivalent: str = ""
    formula: str = ""  # the derivative in terms of y, for the docstring
    # Not fields: the rest of what the backends read of a Definition's backward.
    integers = False
    half_backward = None
    bfloat16_backward = None

    __reduce_ex__ = Definition.__reduce_ex__  # by name, as the built-ins


# sigmoid's and tanh's derivatives are functions of the output y:
# sigmoid' = y (1 - y) and tanh' = 1 - y^2.  PyTorch's autograd keeps y and
# differentiates from it, and so can a layer whose output the next layer
# keeps anyway: one array fewer to keep per layer, and a multiply-add per
# element instead of an exp.
# Where y rounds to +-1 (|x| above about 9 in float32) the factor rounds to 0
# (or to a few ulp of the true one), while the gradient from x keeps full
# relative accuracy: the absolute error stays below an ulp of 1.


def sigmoid_backward_from_output(g, y):
    return g * (y * (_in_precision_of(y, 1.0) - y))


def sigmoid_backward_from_output_ref(g, y):
    return g * (y * (1 - y))


def tanh_backward_from_output(g, y):
    return g * (_in_precision_of(y, 1.0) - y * y)


def tanh_backward_from_output_ref(g, y):
    return g * (1 - y * y)


# elu, celu and selu below 0 are alpha (e^x - 1) and the like, whose
# derivative alpha e^x is y + alpha: their in-place forms (PyTorch's
# too) differentiate from y, the only array left.  y > 0 exactly where x > 0.


def elu_backward_from_output(g, y, alpha):
    return g if y > 0 else g * (y + alpha)


def elu_backward_from_output_ref(g, y, alpha):
    return np.where(y > 0, g, g * (y + alpha))


def celu_backward_from_output(g, y, alpha):
    return g if y > 0 else g * (y / alpha + 1)


def celu_backward_from_output_ref(g, y, alpha):
    return np.where(y > 0, g, g * (y / alpha + 1))


def selu_backward_from_output(g, y):
    return g * SELU_SCALE if y > 0 else g * (y + SELU_SCALE * SELU_ALPHA)


def selu_backward_from_output_ref(g, y):
    return np.where(y > 0, g * SELU_SCALE, g * (y + SELU_SCALE * SELU_ALPHA)).astype(g.dtype,
                                                                                  copy=False)


#: By activation name: its gradient from the output.
FROM_OUTPUT = {
    "sigmoid": FromOutput("sigmoid_from_output", sigmoid_backward_from_output,
                          sigmoid_backward_from_output_ref,
                          torch_equivalent="torch.ops.aten.sigmoid_backward", formula="y * (1 - y)"),
    "tanh": FromOutput("tanh_from_output", tanh_backward_from_output,
                       tanh_backward_from_output_ref, torch_equivalent="torch.ops.aten.tanh_backward",
                       formula="1 - y * y"),
    "elu": FromOutput("elu_from_output", elu_backward_from_output, elu_backward_from_output_ref,
                      params=(("alpha", 1.0),), torch_equivalent="torch.ops.aten.elu_backward",
                      formula="1 if y > 0 else y + alpha"),
    "celu": FromOutput("celu_from_output", celu_backward_from_output, celu_backward_from_output_ref,
                       params=(("alpha", 1.0),), torch_equivalent="F.celu's in-place backward",
                       formula="1 if y > 0 else y / alpha + 1"),
    "selu": FromOutput("selu_from_output", selu_backward_from_output, selu_backward_from_output_ref,
                       torch_equivalent="torch.ops.aten.elu_backward (selu)",
                       formula="scale if y > 0 else y + scale * alpha"),
}


# --- gated linear units: act(gate) * up ---------------------------------------
#
# A transformer MLP's hidden layer: two projections of one input, the gate
# through an activation and multiplied by the other.  Forward f(g) * u;
# backward, as autograd composes it: grad_gate = f's backward of
# (grad * u) at g, grad_up = grad * f(g).  GLU (PyTorch's F.glu) is the
# sigmoid one, with the input's second half as the gate.

# The scalar formulas of a gated activation, by attribute of Gated: the
# parameters and the value, of the gate activation's forward f and backward
# f_backward.  Written once for every gate activation: Gated makes each
# one's functions from this text (_source.generated).
GATED_FORMULAS = {
    "forward": (["g", "u"], "f(g) * u"),
    "backward_gate": (["dy", "g", "u"], "f_backward(dy * u, g)"),
    "backward_up": (["dy", "g"], "dy * f(g)"),
}


def _gated_formula(part):
    """The Gated attribute ``part``: its formula from GATED_FORMULAS, made on
    first use (no code is generated at import)."""
    def make(self):
        from . import _source  # a leaf: definitions imports nothing else of fastrelu

        params, value = GATED_FORMULAS[part]
        return _source.generated(f"gated_{part}", params, f"return {value}\n",
                                   {"f": self.activation.forward,
                                    "f_backward": self.activation.backward}, __name__)

    make.__doc__ = f"({', '.join(GATED_FORMULAS[part][0])}) -> {GATED_FORMULAS[part][1]}"
    return functools.cached_property(make)


@dataclass(frozen=True, eq=False)
class Gated:
    """A gated activation: ``forward(g, u)``, and its backward in two
    scalar parts that one loop runs together."""

    name: str
    activation: Definition  # the gate's
    torch_equivalent: str = ""

    forward = _gated_formula("forward")
    backward_gate = _gated_formula("backward_gate")  # -> grad_gate
    backward_up = _gated_formula("backward_up")  # -> grad_up

    @property
    def formulas(self):
        """Every scalar formula the loops of this one call."""
        return (self.forward, self.backward_gate, self.backward_up, self.activation.forward,
                self.activation.backward)

    def reference(self, g, u):
        with np.errstate(all="ignore"):
            return (self.activation.reference(g) * u).astype(g.dtype, copy=False)

    def reference_backward(self, dy, g, u):
        with np.errstate(all="ignore"):
            grad_gate = self.activation.reference_backward(dy * u, g).astype(g.dtype, copy=False)
            grad_up = (dy * self.activation.reference(g)).astype(g.dtype, copy=False)
        return grad_gate, grad_up

    def __reduce_ex__(self, protocol):
        if GATED.get(self.name) is self:  # by name, as the Definitions
            return _gated, (self.name,)
        return super().__reduce_ex__(protocol)


def _gated(name):
    return GATED[name]


# --- the table ----------------------------------------------------------------

# The activations whose CPU loops are bound by memory, not arithmetic:
# under twice relu's serial time per element (perf/bench_auto.py), and the
# gradients from the output (a few multiplications).  Their loops keep
# LLVM's vector width; the others use the widest the CPU has
# (_compiler.njit's wide_vectors).
MEMORY_BOUND = frozenset({"relu", "leaky_relu", "relu6", "prelu", "hardswish", "hardsigmoid",
                          *(gradient.name for gradient in FROM_OUTPUT.values())})

# Formulas whose float32 version computes in float64 (tanh's quotient and
# log1p, for their accuracy): their float32 CPU loops keep LLVM's vector
# width, since 512-bit vectors, which speed up the others, slowed these
# (tanh forward at 1e7 float32: 0.9 ns per element in 256-bit, 3.0 in 512).
FLOAT64_INSIDE = frozenset({tanh, softplus, mish})


# One entry per activation: its formulas, references and true value; its
# parameters and their defaults (checked as real numbers by _validate); the
# dtypes it takes (floats, and integers where ``integers``); its PyTorch
# names and in-place rule.  The public functions, their docstrings,
# fastrelu.__all__, fastrelu.jit, the Numba overloads, fastrelu.torch's
# drop-in modules and functional names, the accuracy measure's cases and
# the API reference are made from it (docs/architecture.md).
BUILTIN = {
    d.name: d
    for d in [
        Definition("relu", relu, relu_backward, relu_ref, relu_backward_ref, integers=True,
                   half_forward=relu_half, half_backward=relu_backward_half,
                   bfloat16_forward=relu_bfloat16, bfloat16_backward=relu_backward_bfloat16,
                   torch_equivalent="F.relu", true=relu_true, torch_class="ReLU",
                   torch_inplace=True, in_place="output",
                   summary="""ReLU: max(x, 0), keeping NaN; -0 gives +0.

Takes float16, bfloat16, float32, float64 and integer arrays.
``relu.backward(grad, x)`` (also ``relu_backward``) gives ``grad`` where
``x > 0`` and 0 where ``x <= 0`` (PyTorch: F.relu).""",
                   example=([0.0, 0.0, 1.5], [0.0, 0.0, 1.0])),
        Definition("leaky_relu", leaky_relu, leaky_relu_backward, leaky_relu_ref,
                   leaky_relu_backward_ref, params=(("negative_slope", 0.01),),
                   torch_equivalent="F.leaky_relu", true=leaky_relu_true,
                   torch_class="LeakyReLU", torch_inplace=True, in_place="output",
                   example=([-0.02, 0.0, 1.5], [0.01, 0.01, 1.0])),
        Definition("relu6", relu6, relu6_backward, relu6_ref, relu6_backward_ref,
                   torch_equivalent="F.relu6", true=relu6_true, torch_class="ReLU6",
                   torch_inplace=True, in_place="output",
                   example=([0.0, 0.0, 1.5], [0.0, 0.0, 1.0])),
        Definition("elu", elu, elu_backward, elu_ref, elu_backward_ref,
                   params=(("alpha", 1.0),), torch_equivalent="F.elu", true=elu_true,
                   torch_class="ELU", torch_inplace=True, in_place="output",
                   example=([-0.8647, 0.0, 1.5], [0.1353, 1.0, 1.0])),
        Definition("selu", selu, selu_backward, selu_ref, selu_backward_ref,
                   torch_equivalent="F.selu", true=selu_true, torch_class="SELU",
                   torch_inplace=True, in_place="output",
                   example=([-1.5202, 0.0, 1.5761], [0.2379, 1.7581, 1.0507])),
        Definition("celu", celu, celu_backward, celu_ref, celu_backward_ref,
                   params=(("alpha", 1.0),), torch_equivalent="F.celu", true=celu_true,
                   torch_class="CELU", torch_inplace=True, in_place="output",
                   example=([-0.8647, 0.0, 1.5], [0.1353, 1.0, 1.0])),
        Definition("gelu", gelu, gelu_backward, gelu_ref, gelu_backward_ref,
                   torch_equivalent="F.gelu", true=gelu_true, written_out=True,
                   torch_class="GELU"),
        Definition("gelu_tanh", gelu_tanh, gelu_tanh_backward, gelu_tanh_ref,
                   gelu_tanh_backward_ref, torch_equivalent="F.gelu(approximate='tanh')",
                   true=gelu_tanh_true, public=False),
        Definition("silu", silu, silu_backward, silu_ref, silu_backward_ref,
                   torch_equivalent="F.silu", true=silu_true, torch_class="SiLU",
                   torch_inplace=True, in_place="input",
                   example=([-0.2384, 0.0, 1.2264], [-0.0908, 0.5, 1.0413])),
        Definition("softplus", softplus, softplus_backward, softplus_ref,
                   softplus_backward_ref, params=(("beta", 1.0), ("threshold", 20.0)),
                   torch_equivalent="F.softplus", true=softplus_true, torch_class="Softplus",
                   example=([0.1269, 0.6931, 1.7014], [0.1192, 0.5, 0.8176])),
        Definition("mish", mish, mish_backward, mish_ref, mish_backward_ref,
                   torch_equivalent="F.mish", true=mish_true, torch_class="Mish",
                   torch_inplace=True, in_place="input",
                   example=([-0.2525, 0.0, 1.4034], [-0.1084, 0.6, 1.0885])),
        Definition("hardswish", hardswish, hardswish_backward, hardswish_ref,
                   hardswish_backward_ref, torch_equivalent="F.hardswish", true=hardswish_true,
                   torch_class="Hardswish", torch_inplace=True, repr_inplace=False,
                   in_place="input", example=([-0.3333, 0.0, 1.125], [-0.1667, 0.5, 1.0])),
        Definition("hardsigmoid", hardsigmoid, hardsigmoid_backward, hardsigmoid_ref,
                   hardsigmoid_backward_ref, torch_equivalent="F.hardsigmoid",
                   true=hardsigmoid_true, torch_class="Hardsigmoid", torch_inplace=True,
                   repr_inplace=False, in_place="input",
                   example=([0.1667, 0.5, 0.75], [0.1667, 0.1667, 0.1667])),
        Definition("sigmoid", sigmoid, sigmoid_backward, sigmoid_ref, sigmoid_backward_ref,
                   torch_equivalent="torch.sigmoid", true=sigmoid_true, torch_class="Sigmoid",
                   in_place="output", saves_output=True,
                   example=([0.1192, 0.5, 0.8176], [0.105, 0.25, 0.1491])),
        Definition("tanh", tanh, tanh_backward, tanh_ref, tanh_backward_ref,
                   torch_equivalent="torch.tanh", true=tanh_true, torch_class="Tanh",
                   in_place="output", saves_output=True,
                   example=([-0.964, 0.0, 0.9051], [0.0707, 1.0, 0.1807])),
    ]
}


_FROM_OUTPUT_BY_NAME = {d.name: d for d in FROM_OUTPUT.values()}


def builtin(name):
    """The built-in Definition (or FromOutput) called ``name`` (prelu: the
    per-element slope one), or None."""
    if name == "prelu":
        return PER_ELEMENT_SLOPE
    return BUILTIN.get(name) or _FROM_OUTPUT_BY_NAME.get(name)


GATED = {
    g.name: g
    for g in [
        Gated("reglu", BUILTIN["relu"], "F.relu(gate) * up"),
        Gated("geglu", BUILTIN["gelu"], "F.gelu(gate) * up"),
        Gated("geglu_tanh", BUILTIN["gelu_tanh"], "F.gelu(gate, approximate='tanh') * up"),
        Gated("swiglu", BUILTIN["silu"], "F.silu(gate) * up"),
        Gated("glu", BUILTIN["sigmoid"], "F.glu: first half * sigmoid(second half)"),
    ]
}
