"""Accuracy of the smooth activations in float32, against PyTorch's (#5 goal 5).

    python perf/activation_accuracy.py [--samples 20000000] [--backend numba-parallel]

For float32 inputs (a uniform grid over [-30, 30] and normal samples of
scale 4, gradients normal of scale 3), the error of fastrelu's forward and
backward results and of ``torch.nn.functional``'s (when installed) against
the float64 NumPy reference, in units of float32 epsilon relative to
max(|exact|, 1): the measure the tests use.  Prints the maximum and the
99.9th percentile of each and writes perf/results/activation_accuracy.json
unless --no-save.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fastrelu  # noqa: E402
from fastrelu import definitions  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SMOOTH = ["elu", "selu", "celu", "gelu", "silu", "softplus", "mish", "sigmoid", "tanh"]


def torch_function(name):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    return {"elu": F.elu, "selu": F.selu, "celu": F.celu, "gelu": F.gelu, "silu": F.silu,
            "softplus": F.softplus, "mish": F.mish, "sigmoid": torch.sigmoid,
            "tanh": torch.tanh}[name]


def errors(actual, exact):
    scale = np.finfo(np.float32).eps * np.maximum(np.abs(exact), 1.0)
    e = np.abs(actual.astype(np.float64) - exact) / scale
    return e[np.isfinite(e)]


def summary(e):
    return {"max": round(float(e.max()), 3), "p99.9": round(float(np.percentile(e, 99.9)), 3)}


def check(name, x, g, backend):
    d = definitions.BUILTIN[name]
    params = tuple(value for _, value in d.params)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    with np.errstate(all="ignore"):
        exact_forward = d.reference(x64, *params)
        exact_backward = d.reference_backward(g64, x64, *params)
    row = {"activation": name,
           "fastrelu_forward": summary(errors(getattr(fastrelu, name)(x, backend=backend), exact_forward)),
           "fastrelu_backward": summary(errors(
               getattr(fastrelu, name + "_backward")(g, x, backend=backend), exact_backward))}
    fn = torch_function(name)
    if fn is not None:
        import torch

        t = torch.from_numpy(x).requires_grad_(True)
        y = fn(t)
        y.backward(torch.from_numpy(g))
        row["torch_forward"] = summary(errors(y.detach().numpy(), exact_forward))
        row["torch_backward"] = summary(errors(t.grad.numpy(), exact_backward))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=float, default=2e7)
    parser.add_argument("--backend", default="numba-parallel")
    parser.add_argument("--activations", nargs="+", default=SMOOTH)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    n = int(args.samples) // 2
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-30, 30, n), rng.standard_normal(n) * 4]).astype(np.float32)
    g = (rng.standard_normal(x.size) * 3).astype(np.float32)
    rows = []
    for name in args.activations:
        row = check(name, x, g, args.backend)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "activation_accuracy.json").write_text(json.dumps(
            {"samples": int(x.size), "backend": args.backend, "unit": "float32 eps x max(|exact|, 1)",
             "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
