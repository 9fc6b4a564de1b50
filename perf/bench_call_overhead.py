"""Time of one small public call against NumPy's (#5 goal 2).

    python perf/bench_call_overhead.py [--n 1000] [--rounds 30] [--no-save]

At 1e3 elements the arithmetic is a few tens of nanoseconds: what is
measured is the Python side of each call.  The calls run interleaved, in
short batches, for ``--rounds`` rounds; each call's figure is its best batch
(the least disturbed by other work on the machine), and the ratios compare
figures from the same rounds.  Writes perf/results/cpu_call_overhead.json.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fastrelu  # noqa: E402
from fastrelu.bench import environment  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def calls(n, dtype):
    """Pairs of (fastrelu call, the NumPy call it is compared with)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(dtype)
    grad = rng.standard_normal(n).astype(dtype)
    y = np.empty_like(x)
    inplace = x.copy()
    return {
        "relu(x, out=y)": (lambda: fastrelu.relu(x, out=y), lambda: np.maximum(x, 0, out=y)),
        "relu(x)": (lambda: fastrelu.relu(x), lambda: np.maximum(x, 0)),
        "relu(x, out=x)": (lambda: fastrelu.relu(inplace, out=inplace),
                           lambda: np.maximum(inplace, 0, out=inplace)),
        "relu_backward(g, x, out=y)": (lambda: fastrelu.relu_backward(grad, x, out=y),
                                       lambda: np.multiply(grad, x > 0, out=y)),
        "leaky_relu(x, out=y)": (lambda: fastrelu.leaky_relu(x, out=y),
                                 lambda: np.where(x > 0, x, 0.01 * x)),
    }


def best_batch(fn, inner):
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def measure(n, dtype, rounds, inner=2000):
    rows = []
    for name, (ours, theirs) in calls(n, dtype).items():
        ours(), theirs()  # compile, warm the caches
        best_ours, best_theirs = np.inf, np.inf
        for _ in range(rounds):
            best_ours = min(best_ours, best_batch(ours, inner))
            best_theirs = min(best_theirs, best_batch(theirs, inner))
        rows.append({"call": name, "dtype": np.dtype(dtype).name, "n": n,
                     "fastrelu_us": round(best_ours * 1e6, 3),
                     "numpy_us": round(best_theirs * 1e6, 3),
                     "ratio": round(best_ours / best_theirs, 3)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    rows = [r for dtype in (np.float32, np.float64) for r in measure(args.n, dtype, args.rounds)]
    print("| call | dtype | fastrelu us | NumPy us | ratio (goal <= 0.6 for relu(x, out=y)) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['call']} | {r['dtype']} | {r['fastrelu_us']} | {r['numpy_us']} | {r['ratio']} |")
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "cpu_call_overhead.json"
        path.write_text(json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
