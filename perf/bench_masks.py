"""1-bit relu masks against relu and relu_backward (#5 goal 7).

    python perf/bench_masks.py [--sizes 1e5 1e7 5e7] [--backends numba numba-parallel]

Prints, per size and backend, the time of relu_mask against relu(x, out=y)
and of relu_backward_mask against relu_backward(grad, x, out=g), float32, in
the same run, and writes perf/results/cpu_masks.json and .md unless --no-save.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fastrelu  # noqa: E402
from fastrelu.bench import seconds_per_call  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def measure(n, backend, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    grad = rng.standard_normal(n, dtype=np.float32)
    y, gx = np.empty_like(x), np.empty_like(x)
    _, mask = fastrelu.relu_mask(x, backend=backend)
    calls = {
        "relu": lambda: fastrelu.relu(x, out=y, backend=backend),
        "relu_mask": lambda: fastrelu.relu_mask(x, out=y, backend=backend),
        "relu_backward": lambda: fastrelu.relu_backward(grad, x, out=gx, backend=backend),
        "relu_backward_mask": lambda: fastrelu.relu_backward_mask(grad, mask, out=gx, backend=backend),
    }
    # Interleave the rounds, so that a noisy stretch hits every call alike.
    samples = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            samples[name].append(seconds_per_call(fn, budget=0.1, repeats=3))
    t = {name: float(np.median(s)) for name, s in samples.items()}
    return {"n": n, "backend": backend, "seconds": t,
            "forward_ratio": t["relu_mask"] / t["relu"],
            "backward_ratio": t["relu_backward_mask"] / t["relu_backward"],
            "saved_bytes_ratio": x.nbytes / mask.nbytes}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e7, 5e7])
    parser.add_argument("--backends", nargs="+", default=["numba", "numba-parallel"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(int(n), b, args.repeats) for n in args.sizes for b in args.backends]
    table = markdown(rows)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cpu_masks.json").write_text(json.dumps(rows, indent=1))
        (RESULTS / "cpu_masks.md").write_text(table + "\n")


def markdown(rows):
    lines = ["| n | backend | relu us | relu_mask us | ratio (goal <= 1.1) "
             "| relu_backward us | relu_backward_mask us | ratio (goal <= 0.8) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["seconds"]
        lines.append(f"| {r['n']:.0e} | {r['backend']} | {t['relu'] * 1e6:.0f} "
                     f"| {t['relu_mask'] * 1e6:.0f} | {r['forward_ratio']:.2f} "
                     f"| {t['relu_backward'] * 1e6:.0f} | {t['relu_backward_mask'] * 1e6:.0f} "
                     f"| {r['backward_ratio']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
