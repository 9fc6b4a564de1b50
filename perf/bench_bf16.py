"""bfloat16 activations against a copy, NumPy, PyTorch and fastrelu's float32.

    python perf/bench_bf16.py [--sizes 1e6 1e7 5e7] [--rounds 5] [--no-save]

bfloat16 arrays are ``ml_dtypes.bfloat16``; PyTorch's are ``torch.bfloat16``
tensors on the same bytes, on 2 threads as fastrelu (``auto``).  Each row
is one call form at one size, every implementation timed in the same rounds
(the best of ``--rounds``):

* relu, relu_backward: GB/s (bytes read plus written) against a copy of the
  same bfloat16 bytes (the faster of np.copyto and a 2-thread Numba loop)
  and NumPy's bfloat16 ``maximum`` / ``grad * (x > 0)``.  Goals: at least
  0.9x the copy at 1e7 and 5e7; 50x NumPy.
* gelu, silu, sigmoid, tanh forward and backward: time against PyTorch's
  bfloat16 CPU kernel (``torch/fastrelu`` > 1: fastrelu faster; goal >= 1 at
  1e6 and 1e7) and against fastrelu's own float32 call on the same number
  of elements (``float32/bfloat16`` >= 1: no slower per element).

Writes perf/results/cpu_bf16.json and .md.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fastrelu  # noqa: E402
from bench_float16 import relu_rows  # noqa: E402 (relu beside a copy, as for float16)
from bench_regret import best_times, parallel_copy  # noqa: E402
from fastrelu.bench import environment  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SMOOTH = ("gelu", "silu", "sigmoid", "tanh")


def as_torch(torch, array):
    return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)


def smooth_rows(n, x, grad, y, rounds, torch):
    x32, grad32 = x.astype(np.float32), grad.astype(np.float32)
    y32 = np.empty_like(x32)
    tx, tgrad = as_torch(torch, x), as_torch(torch, grad)
    F = torch.nn.functional
    rows = []
    for name in SMOOTH:
        forward, backward = getattr(fastrelu, name), getattr(fastrelu, name + "_backward")
        torch_forward = {"gelu": F.gelu, "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[name]
        # PyTorch's backward kernels, called as autograd calls them.
        torch_backward = {
            "gelu": lambda: torch.ops.aten.gelu_backward(tgrad, tx),
            "silu": lambda: torch.ops.aten.silu_backward(tgrad, tx),
            "sigmoid": lambda: torch.ops.aten.sigmoid_backward(tgrad, torch_forward(tx)),
            "tanh": lambda: torch.ops.aten.tanh_backward(tgrad, torch_forward(tx)),
        }[name]
        cases = (
            (name, {"fastrelu": lambda: forward(x, out=y), "float32": lambda: forward(x32, out=y32),
                    "torch": lambda: torch_forward(tx)}),
            (name + "_backward", {"fastrelu": lambda: backward(grad, x, out=y),
                                  "float32": lambda: backward(grad32, x32, out=y32),
                                  "torch": torch_backward}),
        )
        for call, impls in cases:
            t = best_times(impls, 3 * x.nbytes, rounds)
            rows.append({"call": call, "n": n,
                         "torch/fastrelu": round(t["torch"] / t["fastrelu"], 2),
                         "float32/bfloat16": round(t["float32"] / t["fastrelu"], 2)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows, env):
    lines = [f"# bfloat16 on the CPU ({env['cpu']}, {env['cores']} cores, numba {env['numba']}, "
             f"torch {env['torch']})", "",
             "`python perf/bench_bf16.py`; best of the rounds, every column from the same rounds.", "",
             "| call | n | fastrelu GB/s | copy GB/s | vs copy | vs NumPy |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['call']} | {r['n']:.0e} | {r['fastrelu GB/s']} | {r['copy GB/s']} | {r['vs copy']} "
              f"| {r['vs numpy']}x |" for r in rows if "vs copy" in r]
    lines += ["", "| call | n | PyTorch bf16 time / fastrelu's | fastrelu float32 time / bfloat16's |",
              "|---|---|---|---|"]
    lines += [f"| {r['call']} | {r['n']:.0e} | {r['torch/fastrelu']} | {r['float32/bfloat16']} |"
              for r in rows if "torch/fastrelu" in r]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 5e7])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    import ml_dtypes
    import torch

    torch.set_num_threads(2)
    copy2 = parallel_copy()
    rows = []
    for size in args.sizes:
        n = int(size)
        rng = np.random.default_rng(0)
        x = (rng.standard_normal(n, np.float32) * 3).astype(ml_dtypes.bfloat16)
        grad = rng.standard_normal(n, np.float32).astype(ml_dtypes.bfloat16)
        y = np.empty_like(x)
        rows += relu_rows(n, x, grad, y, args.rounds, copy2)
        if n <= 1e7:
            rows += smooth_rows(n, x, grad, y, args.rounds, torch)
    env = environment()
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        payload = {"environment": env, "rows": rows}
        (RESULTS / "cpu_bf16.json").write_text(json.dumps(payload, indent=1) + "\n")
        (RESULTS / "cpu_bf16.md").write_text(markdown(rows, env))
        print(f"wrote {RESULTS / 'cpu_bf16.md'}")
    print(markdown(rows, env))


if __name__ == "__main__":
    main()
