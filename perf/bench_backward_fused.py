"""relu_backward against a copy and NumPy (#5 goal 4), and the fused bias_relu
against NumPy's two passes (goal 6).

    python perf/bench_backward_fused.py [--sizes 1e7 5e7] [--rounds 5]

float32, ``auto`` backend, best of interleaved rounds.  relu_backward reads
two arrays and writes one: "vs copy" is its GB/s (all three streams) over the
faster of ``np.copyto`` and a 2-thread copy loop, counted the same way (goal:
at least 1.0 at 1e7 and beyond); "vs numpy" is the time of NumPy's
``grad * (x > 0)`` over ours (goal: at least 3).  bias_relu
runs on a (n / 1000, 1000) matrix with ``out=``, against
``np.maximum(x + b, 0)``, and its backward (input and bias gradients)
against ``np.where(x + b > 0, g, 0)`` and its column sum (goal: at least 4x
both ways; the backward allocates its gradients, as NumPy does).  Writes
perf/results/cpu_backward_fused.json and .md unless --no-save.
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
    x = rng.standard_normal(n, dtype=np.float32)
    grad = rng.standard_normal(n, dtype=np.float32)
    out = np.empty_like(x)
    t = best_times({
        "relu_backward": lambda: fastrelu.relu_backward(grad, x, out=out),
        "numpy grad * (x > 0)": lambda: grad * (x > 0),
        "copy": lambda: np.copyto(out, x),
        "copy 2 threads": lambda: copy2(x, out),
    }, 3 * x.nbytes, rounds)
    copy_seconds_per_byte = min(t["copy"], t["copy 2 threads"]) / (2 * x.nbytes)
    backward = {
        "n": n,
        "relu_backward GB/s": round(3 * x.nbytes / t["relu_backward"] / 1e9, 2),
        "vs copy": round(copy_seconds_per_byte * 3 * x.nbytes / t["relu_backward"], 3),
        "vs numpy": round(t["numpy grad * (x > 0)"] / t["relu_backward"], 2),
    }

    rows, cols = n // 1000, 1000
    m, g = x[:rows * cols].reshape(rows, cols), grad[:rows * cols].reshape(rows, cols)
    bias = rng.standard_normal(cols, dtype=np.float32)
    y = np.empty_like(m)

    def numpy_backward():
        gx = np.where(m + bias > 0, g, 0)
        return gx, gx.sum(axis=0)

    t = best_times({
        "bias_relu": lambda: fastrelu.bias_relu(m, bias, out=y),
        "numpy maximum(x + b, 0)": lambda: np.maximum(m + bias, 0),
        "bias_relu_backward": lambda: fastrelu.bias_relu_backward(g, m, bias),
        "numpy backward": numpy_backward,
    }, 2 * m.nbytes, rounds)
    fused = {
        "shape": f"{rows}x{cols}",
        "bias_relu ms": round(t["bias_relu"] * 1e3, 2),
        "forward vs numpy": round(t["numpy maximum(x + b, 0)"] / t["bias_relu"], 2),
        "bias_relu_backward ms": round(t["bias_relu_backward"] * 1e3, 2),
        "backward vs numpy": round(t["numpy backward"] / t["bias_relu_backward"], 2),
    }
    return backward, fused


def markdown(rows):
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:.0e}" if c == "n" else str(r[c])
                                       for c in columns) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e7, 5e7])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    copy2 = parallel_copy()
    results = [measure(int(n), args.rounds, copy2) for n in args.sizes]
    backward, fused = [r[0] for r in results], [r[1] for r in results]
    table = markdown(backward) + "\n\n" + markdown(fused)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cpu_backward_fused.json").write_text(json.dumps(
            {"environment": environment(), "relu_backward": backward, "bias_relu": fused},
            indent=1))
        (RESULTS / "cpu_backward_fused.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
