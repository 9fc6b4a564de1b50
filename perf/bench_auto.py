"""Measure what ``auto`` weighs, and write it to fastrelu/_costs.py.

    python perf/bench_auto.py [--no-save]

``auto`` runs a call on several threads where the time they save is more
than the time waking them costs.  This script measures both sides on this
machine:

* each activation's serial time per element, forward and backward, float32
  and float64, at 65536 elements (in cache: the compute, not the memory);
* the fixed cost of a parallel loop whose workers are awake (a call right
  after another, best of many) and of one whose workers sleep (right after
  a matrix product of a few milliseconds, median of 40): a parallel relu
  on 1024 elements against the serial one.

It writes them as fastrelu/_costs.py (a module of plain dictionaries, read
by ``dispatch.parallel_limits``) and prints the break-even sizes they give.
Run it with 2 or more Numba threads.
"""

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fastrelu  # noqa: E402
from fastrelu import dispatch  # noqa: E402
from fastrelu.definitions import BUILTIN  # noqa: E402

COSTS = ROOT / "fastrelu" / "_costs.py"
SIZE = 65536


def best(call, inner, rounds=7):
    call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        times.append((time.perf_counter() - start) / inner)
    return min(times)


def serial_costs():
    """{(activation, direction, dtype name): serial ns per element}."""
    found = {}
    for dtype in (np.float32, np.float64):
        x = np.random.default_rng(0).standard_normal(SIZE).astype(dtype)
        g = np.random.default_rng(1).standard_normal(SIZE).astype(dtype)
        y = np.empty_like(x)
        for name in list(BUILTIN):
            if name in ("prelu", "rrelu"):  # their own operations, with a weight or slopes
                continue
            public = {"gelu": fastrelu.api._gelu_exact,
                      "gelu_tanh": fastrelu.api._gelu_tanh}.get(name) or getattr(fastrelu, name)
            forward = best(lambda: public(x, out=y, backend="numba"), 20)
            backward = best(lambda: public.backward(g, x, out=y, backend="numba"), 20)
            key = np.dtype(dtype).name
            found[(name, "forward", key)] = round(forward / SIZE * 1e9, 4)
            found[(name, "backward", key)] = round(backward / SIZE * 1e9, 4)
    return found


def wake_costs():
    """(seconds a parallel loop costs beyond the serial one with its workers
    awake, and with them asleep)."""
    x = np.ones(1024, np.float32)
    y = np.empty_like(x)

    def serial():
        fastrelu.relu(x, out=y, backend="numba")

    def parallel():
        fastrelu.relu(x, out=y, backend="numba-parallel")

    awake = best(parallel, 200, rounds=15) - best(serial, 200, rounds=15)
    # Asleep as in a program: after a matrix product (BLAS on every core)
    # of a few milliseconds, longer than the workers spin.
    a = np.random.default_rng(0).standard_normal((384, 384))
    asleep = []
    for _ in range(40):
        a @ a
        start = time.perf_counter()
        parallel()
        asleep.append(time.perf_counter() - start)
    return max(awake, 0.0), float(np.median(asleep)) - best(serial, 200)


def write(costs, awake, asleep):
    import numba

    from fastrelu.bench import environment

    env = environment()
    lines = [
        '"""What ``auto`` weighs (``dispatch.parallel_limits``), measured by',
        "``python perf/bench_auto.py`` on "
        f"{env['cpu']}, {numba.get_num_threads()} Numba threads, {env['when'][:10]}.",
        "",
        "Written by that script: rerun it rather than edit by hand.",
        '"""',
        "",
        "#: The fixed cost of a parallel loop beyond the serial one, in seconds:",
        "#: with its workers awake (a call right after another), and asleep.",
        f"PARALLEL_AWAKE_SECONDS = {awake:.3g}",
        f"PARALLEL_ASLEEP_SECONDS = {asleep:.3g}",
        "",
        "#: (activation, direction, dtype) -> serial nanoseconds per element, in cache.",
        "SERIAL_NS_PER_ELEMENT = {",
    ]
    lines += [f"    {key!r}: {value}," for key, value in sorted(costs.items())]
    lines += ["}", ""]
    COSTS.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    costs = serial_costs()
    awake, asleep = wake_costs()
    print(f"parallel loop's own cost: awake {awake * 1e6:.1f} us, asleep {asleep * 1e6:.1f} us")
    for key, value in sorted(costs.items()):
        print(f"  {' '.join(key):32} {value:7.3f} ns/element")
    if not args.no_save:
        write(costs, awake, asleep)
        print("wrote", COSTS.relative_to(ROOT))
    import importlib

    from fastrelu import _costs
    importlib.reload(_costs)
    dispatch.parallel_limits.cache_clear()
    for name in ("relu", "gelu", "silu"):
        for dtype in (np.float32, np.float64):
            warm, cold = dispatch.parallel_limits(name, "forward", np.dtype(dtype))
            print(f"{name} {np.dtype(dtype).name}: parallel from {warm / 1024:.0f} KiB "
                  f"awake, {cold / 1024:.0f} KiB asleep")


if __name__ == "__main__":
    main()
