"""The PyTorch bridge's own cost: frt.ReLU against torch.nn.ReLU, forward + backward.

    python perf/bench_torch.py [--sizes 1e3 1e5 1e7] [--rounds 15] [--no-save]

float32 CPU tensors that require grad; each step is a forward and a
backward (``y.backward(g)``) through the module, both modules interleaved
round by round, best batch of each; the ratio is fastrelu's time over
PyTorch's (goal: at most 1.3 at 1e3 and 1e5, at most 0.8 at 1e7).  Writes
perf/results/cpu_torch.json and .md.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastrelu.bench import environment, markdown  # noqa: E402

RESULTS = ROOT / "perf" / "results"


def measure(sizes, rounds):
    import torch

    import fastrelu.torch as frt

    torch.set_num_threads(environment()["cores"])
    rows = []
    for n in sizes:
        n = int(n)
        x = torch.randn(n).requires_grad_()
        g = torch.randn(n)
        modules = {"torch.nn.ReLU": torch.nn.ReLU(), "frt.ReLU": frt.ReLU(),
                   "frt.ReLUMask": frt.ReLUMask()}

        def step(module):
            x.grad = None
            module(x).backward(g)

        for module in modules.values():
            step(module)
            step(module)
        start = time.perf_counter()
        step(modules["torch.nn.ReLU"])
        inner = max(1, min(2000, int(2e-3 / max(time.perf_counter() - start, 1e-7))))
        best = dict.fromkeys(modules, np.inf)
        for _ in range(rounds):
            for name, module in modules.items():
                start = time.perf_counter()
                for _ in range(inner):
                    step(module)
                best[name] = min(best[name], (time.perf_counter() - start) / inner)
        row = {"n": n, **{f"{k} us": round(v * 1e6, 2) for k, v in best.items()},
               "frt.ReLU / torch": round(best["frt.ReLU"] / best["torch.nn.ReLU"], 3),
               "frt.ReLUMask / torch": round(best["frt.ReLUMask"] / best["torch.nn.ReLU"], 3)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e5, 1e7])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    rows = measure(args.sizes, args.rounds)
    table = markdown(rows)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cpu_torch.json").write_text(
            json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")
        (RESULTS / "cpu_torch.md").write_text(table + "\n")
        print(f"wrote {RESULTS / 'cpu_torch.json'} and .md")


if __name__ == "__main__":
    main()
