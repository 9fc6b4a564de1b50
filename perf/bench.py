"""CPU throughput of fastrelu beside a plain memory copy of the same bytes.

GB/s counts bytes read plus bytes written (relu: 2 x itemsize per element).
Every row is measured in one run, side by side: absolute figures move with
the machine and its load, the ratios to ``copy`` are what to compare.

    python perf/bench.py --quick          # the table `make demo` prints
    python perf/bench.py                  # more sizes, float64 too, a plot
    python perf/bench.py --crossover      # where numba-parallel beats numba
    python perf/bench.py --activations    # every activation at 1e7 float32
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fastrelu  # noqa: E402
from fastrelu.bench import environment, markdown, relu_table, seconds_per_call  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PLOT = Path(__file__).resolve().parent.parent / "docs" / "results" / "cpu_relu.png"  # README and docs show it


def crossover(sizes):
    """Per size, time of the serial and the parallel kernels (float32, out=)."""
    rows = []
    for n in sizes:
        x = np.random.default_rng(0).standard_normal(int(n)).astype(np.float32)
        y = np.empty_like(x)
        serial = seconds_per_call(lambda: fastrelu.relu(x, out=y, backend="numba"))
        parallel = seconds_per_call(lambda: fastrelu.relu(x, out=y, backend="numba-parallel"))
        rows.append({"n": int(n), "numba_us": round(serial * 1e6, 2),
                     "numba_parallel_us": round(parallel * 1e6, 2),
                     "parallel_faster": parallel < serial})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def torch_calls():
    """Per activation, PyTorch's forward and the backward its autograd runs
    (float32 tensors; torch allocates its results), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    F, aten = torch.nn.functional, torch.ops.aten
    torch.set_num_threads(fastrelu.bench.environment()["cores"])
    return {
        "relu": (F.relu, lambda g, x: aten.threshold_backward(g, x, 0)),
        "leaky_relu": (lambda x: F.leaky_relu(x, 0.01),
                       lambda g, x: aten.leaky_relu_backward(g, x, 0.01, False)),
        "relu6": (F.relu6, lambda g, x: aten.hardtanh_backward(g, x, 0.0, 6.0)),
        "elu": (F.elu, lambda g, x: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x)),
        "selu": (F.selu, lambda g, x: aten.elu_backward(g, 1.6732632423543772, 1.0507009873554805,
                                                        1.0, False, x)),
        "celu": (F.celu, lambda g, x: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x)),
        "gelu": (F.gelu, lambda g, x: aten.gelu_backward(g, x)),
        "silu": (F.silu, aten.silu_backward),
        "softplus": (F.softplus, lambda g, x: aten.softplus_backward(g, x, 1.0, 20.0)),
        "mish": (F.mish, aten.mish_backward),
        "hardswish": (F.hardswish, aten.hardswish_backward),
        "hardsigmoid": (F.hardsigmoid, aten.hardsigmoid_backward),
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                      lambda g, x: aten.gelu_backward(g, x, approximate="tanh")),
        # These two differentiate from the saved output, as autograd does.
        "sigmoid": (torch.sigmoid, lambda g, x: aten.sigmoid_backward(g, _saved(torch.sigmoid, x))),
        "tanh": (torch.tanh, lambda g, x: aten.tanh_backward(g, _saved(torch.tanh, x))),
    }


_SAVED: dict = {}


def _saved(fn, x):
    """fn(x), computed once per (fn, tensor): the forward result that
    PyTorch's autograd keeps for these backward passes."""
    key = (fn, id(x))
    if key not in _SAVED:
        _SAVED[key] = fn(x)
    return _SAVED[key]


def activations_table(n):
    """Every activation, forward and backward, float32: numba-parallel with out=
    beside NumPy's expression and PyTorch's (allocating) call, in GB/s."""
    x = (np.random.default_rng(0).standard_normal(n) * 3).astype(np.float32)
    g = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    y = np.empty_like(x)
    torch_fns = torch_calls()
    if torch_fns is not None:
        import torch
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    rows = []
    for name in [*fastrelu.activations(), "gelu_tanh"]:
        fn = fastrelu.gelu if name == "gelu_tanh" else getattr(fastrelu, name)
        args = {"prelu": (np.float32(0.25),), "gelu_tanh": ("tanh",)}.get(name, ())
        row = {"activation": name}
        for direction in ("forward", "backward"):
            call = fn if direction == "forward" else fn.backward
            arrays = (x,) if direction == "forward" else (g, x)
            moved = (len(arrays) + 1) * x.nbytes
            for backend in ("numba-parallel", "numpy"):
                if name == "prelu" and direction == "backward":
                    f = lambda b=backend: call(*arrays, *args, backend=b)
                else:
                    f = lambda b=backend: call(*arrays, *args, out=y, backend=b)
                row[f"{direction} {backend}"] = round(moved / seconds_per_call(f, budget=0.5) / 1e9, 2)
            row[f"{direction} vs numpy"] = round(row[f"{direction} numba-parallel"]
                                                 / row[f"{direction} numpy"], 1)
            if torch_fns is not None and name in torch_fns:
                pair = torch_fns[name]
                f = (lambda: pair[0](tx)) if direction == "forward" else (lambda: pair[1](tg, tx))
                row[f"{direction} torch"] = round(moved / seconds_per_call(f, budget=0.5) / 1e9, 2)
                row[f"{direction} vs torch"] = round(row[f"{direction} numba-parallel"]
                                                     / row[f"{direction} torch"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    # sigmoid and tanh as autograd differentiates them: from the saved output.
    for name in ("sigmoid", "tanh"):
        fn = getattr(fastrelu, name)
        saved = fn(x)
        moved = 3 * x.nbytes
        row = {"activation": name + " (backward from output)"}
        for backend in ("numba-parallel", "numpy"):
            f = lambda b=backend: fn.backward_from_output(g, saved, out=y, backend=b)
            row[f"backward {backend}"] = round(moved / seconds_per_call(f, budget=0.5) / 1e9, 2)
        row["backward vs numpy"] = round(row["backward numba-parallel"] / row["backward numpy"], 1)
        if torch_fns is not None:
            f = lambda: torch_fns[name][1](tg, tx)
            row["backward torch"] = round(moved / seconds_per_call(f, budget=0.5) / 1e9, 2)
            row["backward vs torch"] = round(row["backward numba-parallel"] / row["backward torch"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, axes = plt.subplots(1, len({r["dtype"] for r in rows}), figsize=(12, 4.5), squeeze=False)
    for ax, dtype in zip(axes[0], sorted({r["dtype"] for r in rows})):
        subset = [r for r in rows if r["dtype"] == dtype]
        for key in subset[0]:
            if key in ("dtype", "n"):
                continue
            ax.plot([r["n"] for r in subset], [r[key] for r in subset], marker="o", label=key,
                    linestyle="--" if key == "copy" else "-")
        ax.set_xscale("log")
        ax.set_xlabel("elements")
        ax.set_ylabel("GB/s (read + written)")
        ax.set_title(f"relu(x, out=y), {dtype}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)  # each panel: torch has no float16 line
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few sizes, float32 only")
    parser.add_argument("--crossover", action="store_true", help="serial vs parallel by size")
    parser.add_argument("--activations", action="store_true", help="every activation at --n")
    parser.add_argument("--n", type=float, default=1e7, help="size for --activations")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)

    env = environment()
    print(f"# {env['cpu']}, {env['cores']} cores, numba {env['numba']} "
          f"({env['numba_threads']} threads), numpy {env['numpy']}, torch {env['torch']}")
    if args.crossover:
        kind, rows = "crossover", crossover(np.unique(np.logspace(3, 6.3, 14).astype(int)))
    elif args.activations:
        suffix = "" if args.n == 1e7 else "_" + f"{args.n:.0e}".replace("e+0", "e").replace("e+", "e")
        kind, rows = "activations" + suffix, activations_table(int(args.n))
    elif args.quick:
        kind, rows = "quick", relu_table([1e3, 1e5, 1e7], [np.float32])
    else:
        kind, rows = "relu", relu_table([1, 10, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 5e7],
                                        [np.float32, np.float64, np.float16])
    import numba
    env["threading_layer"] = numba.threading_layer()  # known once a parallel kernel ran
    table = markdown(rows)
    print()
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"cpu_{kind}.json").write_text(json.dumps({"environment": env, "rows": rows},
                                                             indent=1))
        (RESULTS / f"cpu_{kind}.md").write_text(table + "\n")
        if kind == "relu":
            plot(rows, PLOT)
    return rows


if __name__ == "__main__":
    main()
