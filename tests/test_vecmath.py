"""The CPU loops' own exp, expm1, log1p, tanh and erf (and float32's normal
CDF, for gelu): accuracy and special values.

perf/vecmath_accuracy.py runs the same checks on millions of float64 inputs
and on every float32 input; here a sample keeps CI fast.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))
import vecmath_accuracy as accuracy  # noqa: E402

from fastrelu import _compiler  # noqa: E402
from fastrelu.cpu import vecmath


@pytest.mark.parametrize("name", sorted(vecmath.FUNCTIONS))
def test_float64_within_a_few_ulp_of_numpy(name):
    if name == "normal_cdf":  # the reference: mpmath (NumPy has none, SciPy's is inexact)
        pytest.importorskip("mpmath")
    row = accuracy.check_float64(name, 200_000)
    assert row["special_value_mismatches"] == 0
    assert row["max_ulp"] <= 4


# The float32 versions' largest error over all 2^32 inputs, in float32 ulp
# (perf/vecmath_accuracy.py --float32-exhaustive; perf/results).
FLOAT32_MAX_ULP = {"exp": 1, "expm1": 1, "log1p": 1, "tanh": 1, "erf": 2, "normal_cdf": 6}


@pytest.mark.parametrize("name", sorted(vecmath.FUNCTIONS_F32))
def test_float32_versions_within_their_measured_ulp(name):
    rng = np.random.default_rng(1)
    scale = {"erf": 3, "normal_cdf": 5}.get(name, 30)
    x = np.concatenate([rng.standard_normal(500_000) * scale, accuracy.float64_samples(4000)])
    x = x.astype(np.float32)
    if name == "log1p":
        x = np.abs(x) - np.float32(0.99)
    actual = np.empty(x.size, np.float32)
    accuracy.loop(vecmath.FUNCTIONS_F32[name])(x, actual)
    with np.errstate(all="ignore"):
        expected = accuracy.REFERENCE[name](x.astype(np.float64)).astype(np.float32)
    worst, mismatched = accuracy.ulp_error(actual, expected)
    assert mismatched == 0 and worst <= FLOAT32_MAX_ULP[name]


@pytest.mark.parametrize("name", sorted(vecmath.FUNCTIONS_F32))
def test_float32_versions_compute_in_float32(name):
    """No float64 lanes where the function is meant to run in float32: a
    Python float constant would silently widen the whole expression."""
    import numba

    function = vecmath.FUNCTIONS_F32[name]

    @numba.njit
    def kernel(x, out):  # arrays in and out: no float boxing in the wrapper
        out[0] = function(x[0])

    x = np.full(1, 0.5, np.float32)
    kernel(x, np.empty(1, np.float32))
    scalar = numba.njit(lambda v: function(v))
    scalar(x[0])
    assert scalar.nopython_signatures[0].return_type == numba.float32
    (signature,) = kernel.signatures
    in_float64 = {"tanh", "log1p"}  # computed in float64 on purpose (see cpu/vecmath.py)
    if name not in in_float64:
        assert "fpext" not in kernel.inspect_llvm(signature)


def test_corrected_float32_division_is_nearly_correctly_rounded():
    """definitions._over_one_plus (sigmoid, silu): num / (1 + e) in float32,
    corrected for the rounding of 1 + e and of the quotient, is the correctly
    rounded quotient but where the exact one lies within a sliver of a
    rounding boundary, and never off by more than one ulp."""
    import numba

    from fastrelu import _compiler, definitions

    _compiler.register_helpers()
    over_one_plus = _compiler.jitable(definitions._over_one_plus)

    @numba.njit(fastmath=set(_compiler.FASTMATH), error_model=_compiler.ERROR_MODEL)
    def divide(num, e, out):
        for i in range(out.size):
            out[i] = over_one_plus(num[i], num[i], e[i])

    rng = np.random.default_rng(3)
    e = np.concatenate([rng.uniform(0, 1, 400_000), 10.0 ** rng.uniform(-30, 0, 100_000)])
    e = e.astype(np.float32)
    num = (rng.standard_normal(e.size) * 10).astype(np.float32)
    out = np.empty_like(num)
    divide(num, e, out)
    exact = num.astype(np.float64) / (1.0 + e.astype(np.float64))
    ulps = np.abs(out - exact) / np.spacing(np.abs(exact).astype(np.float32))
    assert ulps.max() <= 1.0
    assert np.mean(out == exact.astype(np.float32)) > 0.9999


# name -> (largest error in ulp, least share correctly rounded), from 1e6 samples.
ROUNDED_ONCE = {"exp_times": (1.2, 0.9), "log1p_plus": (1.0, 0.999)}


@pytest.mark.parametrize("name", sorted(ROUNDED_ONCE))
def test_float32_products_and_sums_are_rounded_once(name):
    """exp_times_f32(x, m) = m * exp(x) (elu's and celu's gradients) and
    log1p_plus_f32(x, a) = a + log1p(x) (softplus) round the result once.
    exp_times' range reduction in float32 leaves it off by up to 1.13 ulp
    and correctly rounded for 94% of these inputs; m * exp_f32(x), rounded
    twice, measured 5.7 ulp (exp(x) subnormal, m * exp(x) not) and 72%."""
    import numba

    function = vecmath.CPU_VERSIONS[name][1]

    @numba.njit(fastmath=set(_compiler.FASTMATH), error_model=_compiler.ERROR_MODEL)
    def apply(x, m, out):
        for i in range(out.size):
            out[i] = function(x[i], m[i])

    rng = np.random.default_rng(4)
    if name == "exp_times":
        x = rng.uniform(-100, 0, 1_000_000).astype(np.float32)
        m = (rng.standard_normal(x.size) * 3).astype(np.float32)
        exact = m.astype(np.float64) * np.exp(x.astype(np.float64))
    else:
        x = np.exp(rng.uniform(-80, 0, 1_000_000)).astype(np.float32)
        m = np.abs(rng.standard_normal(x.size) * 3).astype(np.float32)
        exact = m.astype(np.float64) + np.log1p(x.astype(np.float64))
    out = np.empty_like(x)
    apply(x, m, out)
    normal = np.abs(exact) > np.finfo(np.float32).tiny
    ulps = np.abs(out[normal] - exact[normal]) / np.spacing(np.abs(exact[normal]).astype(np.float32))
    largest, correct = ROUNDED_ONCE[name]
    assert ulps.max() <= largest
    assert np.mean(out[normal] == exact[normal].astype(np.float32)) > correct


def test_float32_exp_of_nonpositive_arguments_matches_the_general_one_bit_for_bit():
    """exp_nonpositive_f32 (one factor 2^n, scaled by 2^64 and back) gives
    exp_f32's bits for x <= 0: subnormal results, the clamp, -0, -inf and
    NaN included (checked over every such float32 by hand; a sample here)."""
    rng = np.random.default_rng(3)
    bits = rng.integers(0x80000000, 0x100000000, 2_000_000, dtype=np.uint64).astype(np.uint32)
    others = np.concatenate([-np.abs(rng.standard_normal(200_000) * 30), np.linspace(-110, 0, 100_001),
                             [0.0, -0.0, -np.inf, np.nan, -87.3, -103.9, -104.0, -104.1]])
    x = np.concatenate([bits.view(np.float32), others.astype(np.float32)])  # NaN bits kept
    general, nonpositive = np.empty_like(x), np.empty_like(x)
    accuracy.loop(vecmath.exp_f32)(x, general)
    accuracy.loop(vecmath.exp_nonpositive_f32)(x, nonpositive)
    np.testing.assert_array_equal(nonpositive.view(np.uint32), general.view(np.uint32))
    assert (general[(x < -87.4) & (x > -103)] < np.finfo(np.float32).tiny).all()  # subnormals seen


def test_float64_exp_of_nonpositive_arguments_matches_the_general_one_bit_for_bit():
    """exp_nonpositive (float64's, as float32's) gives exp's bits for x <= 0:
    subnormal results, the clamp, -0, -inf and NaN included."""
    rng = np.random.default_rng(4)
    bits = rng.integers(1 << 63, 1 << 64, 1_000_000, dtype=np.uint64, endpoint=False)
    others = np.concatenate([-np.abs(rng.standard_normal(200_000) * 200), np.linspace(-760, 0, 100_001),
                             [0.0, -0.0, -np.inf, np.nan, -708.4, -745.1, -746.0, -746.1]])
    x = np.concatenate([bits.view(np.float64), others])
    general, nonpositive = np.empty_like(x), np.empty_like(x)
    accuracy.loop(vecmath.exp)(x, general)
    accuracy.loop(vecmath.exp_nonpositive)(x, nonpositive)
    np.testing.assert_array_equal(nonpositive.view(np.uint64), general.view(np.uint64))
    assert (general[(x < -708.5) & (x > -744)] < np.finfo(np.float64).tiny).all()  # subnormals seen
