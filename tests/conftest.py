import numpy as np
import pytest

import fastrelu

CPU_BACKENDS = ["numpy", "numba", "numba-parallel", "numba-ufunc", "auto"]
COMPILED_BACKENDS = ["numba", "numba-parallel", "numba-ufunc"]
FLOATS = [np.float32, np.float64]

# Values every backend must get right: signed zeros, infinities, NaN,
# subnormals and values near the float32 limits.
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 5e-324, -5e-324, 1e38, -1e38,
           1.0, -1.0, 3.0, -3.0, 6.0, 20.0, -20.0, 1e-8, -1e-8, 0.5, -0.5, 100.0, -100.0]


def special_values(dtype):
    with np.errstate(over="ignore", under="ignore"):
        return np.array(SPECIAL, dtype=np.float64).astype(dtype)


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=FLOATS, ids=lambda t: np.dtype(t).name)
def float_dtype(request):
    return request.param


def torch_or_skip():
    return pytest.importorskip("torch")


def random_normal(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def assert_same(actual, expected):
    """Equal values, NaN where NaN (bitwise up to the sign of zero)."""
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def random_gradient(shape, seed, dtype=np.float64):
    """Gradients of either sign and magnitude 1/2 to 2 (as perf/accuracy.py's),
    so that g * f'(x) neither underflows nor overflows where f'(x) does not."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1.0, 1.0], shape) * 2.0 ** rng.uniform(-1, 1, shape)).astype(dtype)


def stated_limits():
    """perf/accuracy.py's module and the worst errors (ulps) docs/accuracy.md
    states: where the true value is normal, and where it is subnormal."""
    global _STATED
    if _STATED is None:
        import json
        import pathlib
        import sys

        pytest.importorskip("mpmath")
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "perf"))
        import accuracy

        results = json.loads(accuracy.RESULTS.read_text())
        _STATED = accuracy, accuracy.limits(results), accuracy.limits(results, "max_subnormal")
    return _STATED


_STATED = None


def assert_within_stated_error(name, backend, x, g, y, dx, factor=2):
    """``y`` = f(x) and ``dx`` = g f'(x) of activation ``name`` (default
    parameters; x and g finite) within ``factor`` times the worst error that
    docs/accuracy.md states for the backend, against mpmath's true values
    (perf/accuracy.py, 160 bits), measured as perf/accuracy.py measures it."""
    accuracy, normal_limits, subnormal_limits = stated_limits()
    dtype = np.dtype(y.dtype).newbyteorder("=")
    xs, gs = (np.asarray(a, np.float64).ravel() for a in (x, g))
    truth = accuracy.true_values(name, xs, gs)
    for direction, actual, hi, lo in (("forward", y, *truth[:2]), ("backward", dx, *truth[2:])):
        floor = None
        if direction == "backward" and name in accuracy.DERIVATIVE_ZEROS:
            near = np.abs(xs - accuracy.DERIVATIVE_ZEROS[name]) <= accuracy.NEAR_ZERO
            floor = np.where(near, np.abs(gs) / 4, 0.0)
        actual = np.asarray(actual).astype(dtype).ravel()
        with np.errstate(all="ignore"):
            error = accuracy.ulp_error(actual, hi, lo, dtype, floor)
        normal, subnormal = accuracy.split_subnormal(error, hi, dtype)
        key = (name, direction, dtype.name, accuracy.group(backend))
        for part, limit in ((normal, normal_limits[key]), (subnormal, subnormal_limits[key])):
            worst = int(np.argmax(part)) if part.size else 0
            assert not part.size or part[worst] <= factor * limit, (
                f"{name} {direction} {dtype.name} on {backend}: {part[worst]:.3g} ulps at "
                f"x = {xs[worst]!r}, g = {gs[worst]!r} (stated: {limit})")


__all__ = ["fastrelu"]


def _use_the_cuda_simulator_without_a_gpu():
    """Run the cuda tests under Numba's simulator unless a real GPU is present."""
    import os
    import shutil

    if "NUMBA_ENABLE_CUDASIM" in os.environ:
        return
    has_gpu = shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")
    if not has_gpu:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"


_use_the_cuda_simulator_without_a_gpu()


# On CI (.ci/run sets FASTRELU_REQUIRE_EXTRAS=1, with every optional test
# dependency installed) a test skipped because a package could not be
# imported fails the run: a comparison that stops running must not go
# unnoticed.  Skips for other reasons (no GPU, a platform's limits) stay.
_MISSING_PACKAGE = ("could not import", "is not installed")
_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        _skipped.append((report.nodeid, str(report.longrepr[2])))


def pytest_sessionfinish(session, exitstatus):
    import os

    if os.environ.get("FASTRELU_REQUIRE_EXTRAS") != "1":
        return
    missing = [(node, reason) for node, reason in _skipped
               if any(phrase in reason for phrase in _MISSING_PACKAGE)]
    if missing:
        lines = "\n".join(f"  {node}: {reason}" for node, reason in missing[:20])
        print(f"\nFASTRELU_REQUIRE_EXTRAS=1 but {len(missing)} test(s) skipped for a missing "
              f"package:\n{lines}")
        session.exitstatus = 1
