"""Accuracy of fastrelu's vectorisable exp, expm1, log1p, tanh and erf (fastrelu/cpu/vecmath.py),
and of the float32 normal CDF that gelu uses.

    python perf/vecmath_accuracy.py                      # float64: 4 million samples per function
    python perf/vecmath_accuracy.py --float32-exhaustive # float32: every one of the 2^32 inputs
    python perf/vecmath_accuracy.py --functions erf      # some of them

float64: the error in float64 ulp against the reference function evaluated
on the same input (NumPy's; for erf, which NumPy lacks, SciPy's or else the
C library's through ``math.erf``; the reference's own error, about 1 ulp, is
included).  float32: the float32 version (``vecmath.FUNCTIONS_F32``, what
the CPU kernels call for float32 arguments) against the float64 reference
rounded to float32: the error in float32 ulp (a whole number: how many
float32 values apart), over every finite float32 input.
Writes perf/results/vecmath_accuracy.json unless --no-save.
"""

import argparse
import json
import pathlib
import sys
import time

import numba
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from fastrelu import _compiler  # noqa: E402
from fastrelu.cpu import vecmath

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _erf(x):
    try:
        from scipy.special import erf
    except ImportError:  # the C library's erf, one element at a time
        import math
        return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)
    return erf(x)


def _normal_cdf(x):
    try:
        from scipy.special import ndtr
    except ImportError:  # from the C library's erfc, accurate in both tails
        import math
        return np.frompyfunc(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)), 1, 1)(x).astype(np.float64)
    return ndtr(x)


def _normal_cdf_float64(x):
    """Phi from mpmath (needs it installed), for the float64 check: SciPy's
    ndtr is off by up to 1700 float64 ulp in the left tail (it rounds
    x / sqrt(2) first) and gives 0 below -37.5, where Phi is still a
    subnormal number."""
    import mpmath

    mpmath.mp.dps = 30
    return np.array([float(mpmath.ncdf(v)) for v in x.tolist()])


REFERENCE = {"exp": np.exp, "expm1": np.expm1, "log1p": np.log1p, "tanh": np.tanh, "erf": _erf,
             "normal_cdf": _normal_cdf}


def loop(function):
    def apply(x, out):
        for i in numba.prange(x.size):
            out[i] = function(x[i])
    return numba.njit(parallel=True, fastmath=set(_compiler.FASTMATH),
                      error_model=_compiler.ERROR_MODEL)(apply)


def ulp_error(actual, expected):
    """Errors in ulp of the expected value's type where both are finite;
    counts the inputs where NaN, infinity or the sign of zero differ."""
    finite = np.isfinite(expected) & np.isfinite(actual)
    spacing = np.spacing(np.abs(expected[finite]).astype(expected.dtype))
    spacing = np.where(spacing == 0, np.finfo(expected.dtype).smallest_subnormal, spacing)
    errors = np.abs(actual[finite].astype(np.float64) - expected[finite]) / spacing
    special = ~finite & ~((actual == expected) | (np.isnan(actual) & np.isnan(expected)))
    zero = (expected == 0) & (actual == 0) & (np.signbit(actual) != np.signbit(expected))
    return (float(errors.max()) if errors.size else 0.0), int(special.sum() + zero.sum())


def float64_samples(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([
        rng.uniform(-750, 750, n // 4), rng.uniform(-3, 3, n // 4),
        np.copysign(10.0 ** rng.uniform(-320, 3, n // 2), rng.uniform(-1, 1, n // 2)),
        [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 709.78, 709.79, -745.13, -745.14]])


def check_float64(name, n):
    reference = REFERENCE[name]
    if name == "normal_cdf":  # mpmath, one value at a time: fewer inputs
        n, reference = min(n, 10_000), _normal_cdf_float64
    x = float64_samples(n)
    if name == "log1p":
        x = np.abs(x) - 0.999999
    if name == "normal_cdf":
        x = np.concatenate([x, np.linspace(-38.7, 0, 2000)])  # the tail gelu keeps
    out = np.empty_like(x)
    loop(vecmath.FUNCTIONS[name])(x, out)
    with np.errstate(all="ignore"):
        expected = reference(x)
    worst, mismatched = ulp_error(out, expected)
    return {"function": name, "dtype": "float64", "inputs": int(x.size), "max_ulp": worst,
            "special_value_mismatches": mismatched}


def check_float32_exhaustive(name, chunk=1 << 24):
    kernel = loop(vecmath.FUNCTIONS_F32[name])
    worst, mismatched, count = 0.0, 0, 0
    for start in range(0, 1 << 32, chunk):
        x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
        actual = np.empty(x.size, np.float32)
        kernel(x, actual)
        with np.errstate(all="ignore"):
            expected = REFERENCE[name](x.astype(np.float64)).astype(np.float32)
        w, m = ulp_error(actual, expected)
        worst, mismatched, count = max(worst, w), mismatched + m, count + x.size
    return {"function": name, "dtype": "float32", "inputs": count, "max_ulp": worst,
            "special_value_mismatches": mismatched}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4_000_000)
    parser.add_argument("--float32-exhaustive", action="store_true")
    parser.add_argument("--functions", nargs="+")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    if args.functions is None:
        args.functions = list(vecmath.FUNCTIONS_F32 if args.float32_exhaustive else vecmath.FUNCTIONS)
    rows = []
    for name in args.functions:
        started = time.perf_counter()
        row = check_float32_exhaustive(name) if args.float32_exhaustive else check_float64(name, args.samples)
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"vecmath_accuracy{'_float32' if args.float32_exhaustive else ''}.json"
        if path.exists():  # keep the other functions' rows
            kept = [r for r in json.loads(path.read_text()) if r["function"] not in args.functions]
            rows = kept + rows
        path.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
