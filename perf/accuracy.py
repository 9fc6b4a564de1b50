"""Worst error of every activation, forward and backward, in ulps of the true value.

    python perf/accuracy.py [--random 20000] [--backends numpy numba ...] [--no-save]

The true value comes from mpmath at 160 bits (cancellation-free forms, so
the float64 value is exact to far below an ulp).  Error is
``|result - true| / ulp(true)``, with ulp the spacing of the dtype at the
correctly rounded true value: a relative error everywhere, the tails
included (a sigmoid that returned 0 at x = -20 would be 2^24 ulps off in
float32).  Subnormal and zero results have the smallest subnormal as their
ulp, so there the measure is an absolute error in units of it.

Near an interior zero z of a derivative (gelu, gelu_tanh, silu and mish
gradients) the gradient is a difference of terms of about 1/4 whose exact
cancellation no formula in working precision avoids: within 1/4 of z the
backward error is measured in ulps of max(|true|, |g| / 4), an absolute
error relative to the terms that cancel.  Everywhere else, relative.

Inputs (``inputs``): the special finite values of each dtype (signed zeros,
smallest and largest subnormals and normals, the largest finite value,
kinks and thresholds), magnitudes log-spaced over the whole exponent range
of both signs (both tails down to where results underflow), a dense grid
on [-12, 12], the neighbourhoods of the derivative zeros, and ``--random``
random values of random exponent and sign.  Infinities and NaN are exact
limits, checked by tests/test_family.py.  Parameters are the defaults.

NumPy, Numba and glibc pick their exp, log and erf code by what the CPU
has, so the errors are measured under each CPU configuration of
perf/as_cpu.py (the machine as it is, AVX2, SSE4.2) and the stated figure
is the worst over them: a figure measured on one CPU alone fails on another.

The tests (tests/test_accuracy.py) measure the same way on a part of this
sample (every third or fourth fixed point and the first 200 random ones) and hold every
backend to the worst error stated in docs/accuracy.md and the README,
which this script writes from perf/results/accuracy.json.
"""

import argparse
import functools
import json
import math
import multiprocessing
import os
import pathlib
import re
import sys
import textwrap

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import as_cpu  # noqa: E402  (perf/as_cpu.py)
import fastrelu  # noqa: E402
from fastrelu import _dtypes  # noqa: E402

RESULTS = ROOT / "perf" / "results" / "accuracy.json"
DOCS = ROOT / "docs" / "accuracy.md"
README = ROOT / "README.md"
BACKENDS = ["numpy", "numba", "numba-parallel", "numba-ufunc"]
TEST_RANDOM = 200  # random inputs in the tests' sample (the start of the script's)
PRECISION_BITS = 160

# --- the true values ------------------------------------------------------------


def activations():
    """The activations measured: every one of definitions.BUILTIN, each with
    its true value (its Definition's ``true``); one without is an error, not
    a case left out."""
    missing = [d.name for d in fastrelu.definitions.BUILTIN.values() if d.true is None]
    if missing:
        raise ValueError(f"no true value (Definition.true) for {', '.join(missing)}: "
                         "the accuracy measure needs one for every activation")
    return list(fastrelu.definitions.BUILTIN)


ACTIVATIONS = activations()

# Interior zeros of the derivatives (gelu' etc. are sums of terms that cancel there).
DERIVATIVE_ZEROS = {"gelu": -0.7517915247, "gelu_tanh": -0.7524614221, "silu": -1.2784645428,
                    "mish": -1.1924312145}
NEAR_ZERO = 0.25  # how near z the gradient's error is measured against |g| / 4


def _split(value):
    """An mpf as float64 hi + lo (the float64 pair exact to ~106 bits)."""
    hi = float(value)
    if not math.isfinite(hi):
        return hi, 0.0
    return hi, float(value - hi)


def true_values(name, x, g):
    """float64 (forward hi, lo, backward hi, lo) of activation ``name`` at x, g,
    at its default parameters."""
    import mpmath

    mp = mpmath.mp
    definition = fastrelu.definitions.BUILTIN[name]
    defaults = [default for _, default in definition.params]
    out = np.empty((4, x.size))
    with mpmath.workprec(PRECISION_BITS):
        for i, (xi, gi) in enumerate(zip(x.tolist(), g.tolist())):
            f, d = definition.true(mp, mp.mpf(xi), *defaults)
            out[0, i], out[1, i] = _split(f)
            out[2, i], out[3, i] = _split(mp.mpf(gi) * d)
    return out


# --- the inputs -------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def float_format(dtype):
    """(precision in bits with the implicit one, smallest normal exponent)."""
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        return 8, -126
    info = np.finfo(dtype)
    return info.nmant + 1, info.minexp


def _exact_in(dtype, values):
    """The finite values, rounded to dtype, unique and sorted."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        x = np.asarray(values, np.float64).astype(dtype)
    x = x[np.isfinite(x.astype(np.float64))]
    # -0.0 and 0.0 are both kept: unique() on the bits
    bits = np.unique(x.view(np.uint16 if x.itemsize == 2 else
                            np.uint32 if x.itemsize == 4 else np.uint64))
    return bits.view(x.dtype)


def inputs(dtype, random=TEST_RANDOM, thin=True, seed=0):
    """x and g for the accuracy measure in ``dtype``: the fixed points (with
    ``thin``, every third or fourth of the log-spaced, grid and window
    points: the tests' sample) and ``random`` random ones.  The tests'
    sample is a part of the script's."""
    p, emin = float_format(dtype)
    emax = 1 - emin  # IEEE: emax = 1 - emin
    smallest = 2.0 ** (emin - p + 1)
    largest = (2 - 2.0 ** (1 - p)) * 2.0 ** emax
    special = [0.0, -0.0, smallest, 2.0 ** emin - smallest, 2.0 ** emin, largest, 1.0, 0.5,
               1e-8, 20.0, 3.0, 6.0, 100.0, 1000.0]
    special += [np.nextafter(v, np.inf) for v in (3.0, 6.0, 20.0)]
    special += [np.nextafter(v, -np.inf) for v in (3.0, 6.0, 20.0)]
    special += [-v for v in special]
    step = (3, 4) if thin else (1, 1)
    magnitudes = (2.0 ** np.linspace(emin - p + 1, emax, 601))[::step[0]]
    grid = np.linspace(-12, 12, 961)[::step[1]]
    windows = [(z + np.linspace(-NEAR_ZERO, NEAR_ZERO, 101))[::step[1]]
               for z in DERIVATIVE_ZEROS.values()]
    rng = np.random.default_rng(seed)
    u = rng.random((random, 3))
    exponents = emin - p + 1 + u[:, 0] * (emax - (emin - p + 1))
    wide = np.where(u[:, 1] < 0.5, -1, 1) * 2.0 ** exponents
    narrow = (u[:, 2] * 80 - 40)  # where most activations change
    randoms = np.where(np.arange(random) % 2 == 0, wide, narrow)
    x = _exact_in(dtype, np.concatenate([special, magnitudes, -magnitudes, grid, *windows,
                                         randoms]))
    return x, gradients(x)


def gradients(x):
    """A gradient for each x of magnitude 1/2 to 2 and either sign (so that
    g * f' stays in range), exact in x's dtype, a function of x alone: the
    tests' sample is then a part of the script's, gradients included."""
    bits = x.astype(np.float64).view(np.uint64)
    mixed = bits * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits vary
    sign = np.where((mixed >> np.uint64(63)) == 1, -1.0, 1.0)
    u = ((mixed >> np.uint64(10)) & np.uint64(2**53 - 1)).astype(np.float64) / 2.0**53
    return (sign * 2.0 ** (2 * u - 1)).astype(x.dtype)


# --- the measure ------------------------------------------------------------------


def ulp(values, dtype):
    """Spacing of ``dtype`` at each float64 value, rounded to dtype first;
    the smallest subnormal below the normal range; NaN where it overflows."""
    p, emin = float_format(dtype)
    with np.errstate(over="ignore"):
        rounded = np.asarray(values, np.float64).astype(dtype).astype(np.float64)
    _, exponent = np.frexp(np.abs(rounded))  # |v| = m 2^exponent, 1/2 <= m < 1
    exponent = np.where(rounded == 0, emin, np.maximum(exponent - 1, emin))
    spacing = np.ldexp(1.0, exponent - p + 1)
    return np.where(np.isfinite(rounded), spacing, np.nan)


def ulp_error(actual, hi, lo, dtype, floor=None):
    """|actual - true| in ulps of the true value (true = hi + lo); where the
    true value overflows dtype, 0 for the right infinity, else inf."""
    a = np.asarray(actual).astype(np.float64)
    unit = ulp(hi, dtype)
    if floor is not None:
        unit = np.maximum(unit, ulp(floor, dtype))
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs((a - hi) - lo) / unit
        overflow = np.isnan(unit)
        error[overflow] = np.where(a[overflow] == np.copysign(np.inf, hi[overflow]), 0, np.inf)
    return np.where(np.isnan(error), np.inf, error)


def call(name, direction, x, g, backend):
    if direction == "forward":
        if name == "gelu_tanh":
            return fastrelu.gelu(x, "tanh", backend=backend)
        return getattr(fastrelu, name)(x, backend=backend)
    if name == "gelu_tanh":
        return fastrelu.gelu_backward(g, x, "tanh", backend=backend)
    return getattr(fastrelu, name + "_backward")(g, x, backend=backend)


def errors(name, dtype, backend, x, g, truth):
    """(forward errors, backward errors) in ulps at every x."""
    with np.errstate(all="ignore"):
        forward = ulp_error(call(name, "forward", x, g, backend), truth[0], truth[1], dtype)
        floor = None
        if name in DERIVATIVE_ZEROS:
            near = np.abs(x.astype(np.float64) - DERIVATIVE_ZEROS[name]) <= NEAR_ZERO
            floor = np.where(near, np.abs(g.astype(np.float64)) / 4, 0.0)
        backward = ulp_error(call(name, "backward", x, g, backend), truth[2], truth[3], dtype,
                             floor)
    return forward, backward


def split_subnormal(error, true, dtype):
    """(errors where the true value is normal, errors where it is below the
    smallest normal: subnormal or rounding to zero), 0 elsewhere in each."""
    _, emin = float_format(dtype)
    subnormal = np.abs(true) < 2.0 ** emin
    return np.where(subnormal, 0.0, error), np.where(subnormal, error, 0.0)


def dtypes():
    """The dtypes measured: float64, float32, float16, and bfloat16 with ml_dtypes."""
    found = [np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16)]
    bfloat16 = _dtypes.bfloat16()
    return found if bfloat16 is None else found + [bfloat16]


# --- the table --------------------------------------------------------------------


def round_up(value):
    """Two decimals, rounded up: a figure that is never below the measurement."""
    figure = round(value, 2)
    return figure if figure >= value else round(figure + 0.01, 2)


def group(backend):
    """The compiled backends share their loops' formulas; the numpy backend
    runs the NumPy expressions (the reference the other tests use)."""
    return "numpy" if backend == "numpy" else "compiled"


def limits(results, key="max"):
    """{(activation, direction, dtype, group): worst error over the group's
    backends}: where the true value is normal (key "max") or subnormal
    ("max_subnormal")."""
    worst = {}
    for row in results["rows"]:
        where = (row["activation"], row["direction"], row["dtype"], group(row["backend"]))
        worst[where] = max(worst.get(where, 0.0), row[key])
    return worst


DTYPE_ORDER = ["float64", "float32", "float16", "bfloat16"]
LABELS = {"gelu_tanh": "gelu (tanh)"}


def render_table(results, which):
    worst = {k[:3]: v for k, v in limits(results).items() if k[3] == which}
    subnormal = {k[:3]: v for k, v in limits(results, "max_subnormal").items() if k[3] == which}
    names = [d for d in DTYPE_ORDER if any(k[2] == d for k in worst)]
    lines = ["| activation | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for name in results["activations"]:
        for direction in ("forward", "backward"):
            label = LABELS.get(name, name) + (" backward" if direction == "backward" else "")
            cells = [_cell(worst[(name, direction, d)], subnormal[(name, direction, d)])
                     for d in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(normal, subnormal):
    """The error on normal results, and on subnormal ones where it is larger."""
    if not subnormal > max(normal, 1):
        return f"{normal:.2f}"
    return f"{normal:.2f} (sub {subnormal:.1f})" if subnormal < 10 else (
        f"{normal:.2f} (sub {subnormal:.0f})")


def render_summary(results):
    worst = limits(results)
    parts = []
    for dtype in [d for d in DTYPE_ORDER if any(k[2] == d for k in worst)]:
        values = {k[:2]: v for k, v in worst.items() if k[2] == dtype and k[3] == "compiled"}
        # gelu (tanh) is the one ill-conditioned exception (docs/accuracy.md)
        usual = max(v for k, v in values.items() if k[0] != "gelu_tanh")
        parts.append(f"{dtype} {usual:.2f}")
    text = ("Accuracy (`python perf/accuracy.py`, mpmath): every activation, forward and "
            "backward, on the compiled CPU backends, within " + ", ".join(parts)
            + " ulps of the true value where it is a normal number, except gelu (tanh) "
            "in its ill-conditioned left tail, on every CPU configuration of "
            "`perf/as_cpu.py` (" + ", ".join(results["cpus"]) + "); per activation, "
            "subnormal results and the numpy backend in [Accuracy](docs/accuracy.md).")
    return textwrap.fill(text, 76, subsequent_indent="  ")  # a README list item


TABLE_MARKERS = {which: (f"<!-- accuracy table ({which}): perf/accuracy.py -->",
                         f"<!-- end accuracy table ({which}) -->")
                 for which in ("compiled", "numpy")}
SUMMARY_MARKERS = ("<!-- accuracy summary: perf/accuracy.py -->", "<!-- end accuracy summary -->")


def between(text, markers):
    """The text between a pair of markers, stripped."""
    pattern = re.escape(markers[0]) + r"\n(.*?)\n" + re.escape(markers[1])
    match = re.search(pattern, text, re.S)
    return None if match is None else match.group(1).strip()


def replace_between(text, markers, body):
    pattern = re.escape(markers[0]) + r"\n.*?\n" + re.escape(markers[1])
    if not re.search(pattern, text, re.S):
        raise SystemExit(f"markers {markers[0]!r} not found")
    return re.sub(pattern, lambda _: f"{markers[0]}\n{body}\n{markers[1]}", text, flags=re.S)


# --- the run ------------------------------------------------------------------------


def dump(results):
    """The results as JSON with one row a line: a diff shows which figures moved."""
    head = json.dumps({k: v for k, v in results.items() if k != "rows"}, indent=1)[:-2]
    rows = ",\n  ".join(json.dumps(row) for row in results["rows"])
    return f'{head},\n "rows": [\n  {rows}\n ]\n}}\n'


def _measure_case(args):
    name, dtype_name, backends, random, cpu = args
    dtype = next(d for d in dtypes() if d.name == dtype_name)
    x, g = inputs(dtype, random, thin=False)
    truth = true_values(name, x.astype(np.float64), g.astype(np.float64))
    rows = []
    for backend in backends:
        for direction, err in zip(("forward", "backward"), errors(name, dtype, backend, x, g,
                                                                   truth)):
            row = {"activation": name, "direction": direction, "dtype": dtype.name,
                   "backend": backend, "cpu": cpu, "points": int(x.size)}
            true = truth[0] if direction == "forward" else truth[2]
            for key, part in zip(("max", "max_subnormal"), split_subnormal(err, true, dtype)):
                worst = int(np.argmax(part))
                row[key] = round_up(float(part[worst]))
                row[key.replace("max", "at")] = float(x[worst])
            rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=20000,
                        help="random inputs per dtype beside the fixed ones (default 20000)")
    parser.add_argument("--backends", nargs="+", default=BACKENDS)
    parser.add_argument("--activations", nargs="+", default=ACTIVATIONS)
    parser.add_argument("--cpus", nargs="+", default=list(as_cpu.CONFIGURATIONS),
                        help="CPU configurations (perf/as_cpu.py) to measure under; the "
                             "stated figure is the worst over them (default: all)")
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--no-save", action="store_true",
                        help="print only; do not write the json, docs and README")
    args = parser.parse_args(argv)
    rows, cpus = [], {}
    for cpu in args.cpus:
        cases = [(name, d.name, args.backends, args.random, cpu)
                 for name in args.activations for d in dtypes()]
        # Spawned workers start with the configuration's variables, before
        # NumPy, Numba and PyTorch choose their code paths.
        saved = dict(os.environ)
        os.environ.update(as_cpu.environment(cpu))
        try:
            with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
                cpus[cpu] = pool.apply(as_cpu.describe)
                rows += [row for part in pool.map(_measure_case, cases, chunksize=1)
                         for row in part]
        finally:
            os.environ.clear()
            os.environ.update(saved)
    results = {"command": "python perf/accuracy.py " + " ".join(argv or sys.argv[1:]),
               "random": args.random, "backends": args.backends,
               "activations": args.activations, "cpus": cpus, "rows": rows}
    for which in TABLE_MARKERS:
        print(which, render_table(results, which), sep="\n")
    print(render_summary(results))
    worst = sorted(rows, key=lambda r: -r["max"])[:10]
    print("worst:", *(f"{r['activation']} {r['direction']} {r['dtype']} {r['backend']} {r['cpu']} "
                      f"{r['max']} at x={r['at']!r}" for r in worst), sep="\n  ")
    if not args.no_save:
        RESULTS.write_text(dump(results))
        docs = DOCS.read_text()
        for which, markers in TABLE_MARKERS.items():
            docs = replace_between(docs, markers, render_table(results, which))
        DOCS.write_text(docs)
        README.write_text(replace_between(README.read_text(), SUMMARY_MARKERS,
                                          render_summary(results)))
        print(f"wrote {RESULTS.relative_to(ROOT)}, docs/accuracy.md, README.md")


if __name__ == "__main__":
    main()
