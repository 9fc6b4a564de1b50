"""The CPU loops' own exp, expm1, log1p, tanh and erf: accuracy and special values.

perf/vecmath_accuracy.py runs the same checks on millions of float64 inputs
and on every float32 input; here a sample keeps CI fast.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))
import vecmath_accuracy as accuracy  # noqa: E402

from fastrelu import _vecmath  # noqa: E402


@pytest.mark.parametrize("name", sorted(_vecmath.FUNCTIONS))
def test_float64_within_a_few_ulp_of_numpy(name):
    row = accuracy.check_float64(name, 200_000)
    assert row["special_value_mismatches"] == 0
    assert row["max_ulp"] <= 4


@pytest.mark.parametrize("name", sorted(_vecmath.FUNCTIONS))
def test_float32_results_round_to_numpys(name):
    x = np.random.default_rng(1).standard_normal(500_000).astype(np.float32) * 30
    if name == "log1p":
        x = np.abs(x) - np.float32(0.99)
    out = np.empty(x.size, np.float64)
    accuracy.loop(_vecmath.FUNCTIONS[name])(x, out)
    with np.errstate(all="ignore"):
        expected = accuracy.REFERENCE[name](x.astype(np.float64)).astype(np.float32)
        actual = out.astype(np.float32)  # overflows to inf where NumPy's does
    worst, mismatched = accuracy.ulp_error(actual, expected)
    assert mismatched == 0 and worst <= 1
