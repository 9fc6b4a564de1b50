"""Start-up costs (#5 goal 9): import, the first call with a warm cache, and
cold compile times.

    python perf/bench_startup.py [--runs 5]

Each figure comes from new interpreters (the median and range of ``--runs``):
``import fastrelu``; ``import numba`` alone, for reference; the first
``relu`` on 1000 float32 elements in a process whose kernels are already in
Numba's disk cache (goal: at most 0.2 s); and, with an empty cache
directory, the time of the first call of a few activations, forward and
backward, which is when they compile.  Writes perf/results/cpu_startup.json
unless --no-save.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
ROOT = pathlib.Path(__file__).resolve().parent.parent

IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
FIRST_CALL = """
import time, numpy as np, fastrelu
x = np.ones(1000, np.float32)
t = time.perf_counter()
fastrelu.relu(x)
print(time.perf_counter() - t)
"""
COMPILE = """
import json, time, numpy as np, fastrelu
x = np.linspace(-3, 3, 1000, dtype=np.float32)
times = {}
for name in ("relu", "leaky_relu", "gelu", "silu"):
    f = getattr(fastrelu, name)
    t = time.perf_counter(); f(x); times[name] = time.perf_counter() - t
    t = time.perf_counter(); f.backward(x, x); times[name + "_backward"] = time.perf_counter() - t
t = time.perf_counter(); fastrelu.relu(x.astype(np.float64)); times["relu float64"] = time.perf_counter() - t
print(json.dumps(times))
"""


def run(code, env=None):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT, env=env)
    return result.stdout.strip().splitlines()[-1]


def summary(values):
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    run(FIRST_CALL)  # warm the cache
    result = {
        "import fastrelu s": summary([float(run(IMPORT.format(module="fastrelu")))
                                      for _ in range(args.runs)]),
        "import numba s": summary([float(run(IMPORT.format(module="numba")))
                                   for _ in range(args.runs)]),
        "first relu, warm cache, s": summary([float(run(FIRST_CALL)) for _ in range(args.runs)]),
    }
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        result["first call with an empty cache (compiles), s"] = {
            k: round(v, 3) for k, v in json.loads(run(COMPILE, env)).items()}
    print(json.dumps(result, indent=1))
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cpu_startup.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
