"""float16 relu and relu_backward against a copy and NumPy (#5 goal 8).

    python perf/bench_float16.py [--sizes 1e6 1e7 5e7] [--rounds 5] [--no-save]

Numba has no float16 arithmetic on the CPU, so relu and relu_backward run
on the int16 bits of the values (definitions.relu_half).  GB/s counts bytes
read plus written; the copy is the faster of np.copyto and a 2-thread Numba
copy loop, measured in the same rounds.  Goal: at least 0.9x the copy and
50x NumPy's float16 ``maximum`` (and ``grad * (x > 0)``).  Writes
perf/results/cpu_float16.json.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fastrelu  # noqa: E402
from bench_regret import best_times, parallel_copy  # noqa: E402
from fastrelu.bench import environment  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def measure(n, rounds, copy2):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float16)
    grad = rng.standard_normal(n).astype(np.float16)
    return relu_rows(n, x, grad, np.empty_like(x), rounds, copy2)


def relu_rows(n, x, grad, y, rounds, copy2):
    """relu and relu_backward on 16-bit arrays (float16 or bfloat16) beside
    a copy of the same bytes and NumPy's own expressions, in GB/s."""
    xbits, ybits = x.view(np.int16), y.view(np.int16)  # Numba cannot type 16-bit float arrays
    copies = {"copy": lambda: np.copyto(y, x), "copy 2 threads": lambda: copy2(xbits, ybits)}
    forward = {"relu": lambda: fastrelu.relu(x, out=y), "numpy": lambda: np.maximum(x, 0, out=y),
               **copies}
    backward = {"relu_backward": lambda: fastrelu.relu_backward(grad, x, out=y),
                "numpy": lambda: np.multiply(grad, x > 0, out=y), **copies}
    rows = []
    for name, impls, streams in (("relu", forward, 2), ("relu_backward", backward, 3)):
        t = best_times(impls, streams * x.nbytes, rounds)
        copy_gbs = 2 * x.nbytes / min(t["copy"], t["copy 2 threads"]) / 1e9
        ours = streams * x.nbytes / t[name] / 1e9
        rows.append({"call": name, "n": n, "fastrelu GB/s": round(ours, 2),
                     "numpy GB/s": round(streams * x.nbytes / t["numpy"] / 1e9, 2),
                     "copy GB/s": round(copy_gbs, 2), "vs copy": round(ours / copy_gbs, 3),
                     "vs numpy": round(t["numpy"] / t[name], 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 5e7])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    copy2 = parallel_copy()
    rows = [r for n in args.sizes for r in measure(int(n), args.rounds, copy2)]
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "cpu_float16.json"
        path.write_text(json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
