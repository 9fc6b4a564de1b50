"""PReLU forward and backward (input and weight gradients) beside PyTorch and NumPy.

    python perf/bench_prelu.py [--rounds 5] [--no-save]

float32 activations of a convolution (N, C, H, W) and of a dense layer
(N, C), one weight per channel.  GB/s counts the arrays read and written
(forward: x and y; backward: grad, x and the input gradient).  fastrelu runs
with ``auto`` and writes into ``out=``; PyTorch (2 threads) allocates, and
its backward is its autograd's pass over a kept graph (both gradients);
NumPy's is the expression ``np.where(x > 0, x, w * x)`` and, backward, the
input gradient plus the weight gradient summed per channel.  All interleaved
in the same rounds.  Writes perf/results/cpu_prelu.json.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fastrelu  # noqa: E402
from bench_regret import best_times  # noqa: E402
from fastrelu.bench import environment  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SHAPES = [(32, 64, 32, 32), (64, 256, 32, 32), (4096, 256), (65536, 256)]


def numpy_calls(x, g, w):
    per_channel = w.reshape((1, -1) + (1,) * (x.ndim - 2))
    others = tuple(i for i in range(x.ndim) if i != 1)

    def forward():
        return np.where(x > 0, x, per_channel * x)

    def backward():
        positive = x > 0
        return np.where(positive, g, per_channel * g), np.where(positive, 0, x * g).sum(axis=others)

    return forward, backward


def torch_calls(x, g, w):
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(environment()["cores"])
    tx, tg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)
    tw = torch.from_numpy(w).requires_grad_()
    ty = torch.nn.functional.prelu(tx, tw)  # the graph its backward runs over, kept
    return {"forward": lambda: torch.nn.functional.prelu(tx.detach(), tw.detach()),
            "backward": lambda: torch.autograd.grad(ty, (tx, tw), tg, retain_graph=True)}


def measure(shape, rounds):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    w = np.full(shape[1], 0.25, np.float32)
    y = np.empty_like(x)
    numpy_forward, numpy_backward = numpy_calls(x, g, w)
    torch = torch_calls(x, g, w)
    rows = []
    for direction, ours, numpy, streams in (
            ("forward", lambda: fastrelu.prelu(x, w, out=y), numpy_forward, 2),
            ("backward", lambda: fastrelu.prelu_backward(g, x, w, out=y), numpy_backward, 3)):
        impls = {"fastrelu": ours, "numpy": numpy}
        if direction in torch:
            impls["torch"] = torch[direction]
        nbytes = streams * x.nbytes
        t = best_times(impls, nbytes, rounds)
        row = {"shape": list(shape), "direction": direction}
        for name in impls:
            row[f"{name} GB/s"] = round(nbytes / t[name] / 1e9, 2)
        for name in impls.keys() - {"fastrelu"}:
            row[f"vs {name}"] = round(t[name] / t["fastrelu"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    rows = [r for shape in SHAPES for r in measure(shape, args.rounds)]
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "cpu_prelu.json"
        path.write_text(json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
