"""CPU throughput of fastrelu beside a plain memory copy of the same bytes.

GB/s counts bytes read plus bytes written (relu: 2 x itemsize per element).
Every row is measured in one run, side by side: absolute figures move with
the machine and its load, the ratios to ``copy`` are what to compare.

    python perf/bench.py --quick          # the table `make demo` prints
    python perf/bench.py                  # more sizes, float64 too, a plot
    python perf/bench.py --crossover      # where numba-parallel beats numba
    python perf/bench.py --activations    # smooth activations against PyTorch
    python perf/as_cpu.py avx2 -- python perf/bench.py --activations --label avx2

``--activations`` compares each smooth activation, forward and backward,
float32 and float64, at 1e4 to 1e7 elements, with PyTorch under the same
output policy (both write into a given array), as a ratio of times; the
allocating PyTorch call is reported beside it, labelled, since above 32 MB
its cost is the page faults of fresh output pages, not the kernel.  The
table names the CPU, what Numba compiles for, NumPy's SIMD and PyTorch's
kernels; ``perf/as_cpu.py`` runs it as an AVX2 or SSE4.2 machine.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
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


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def torch_calls():
    """Per activation, PyTorch's forward and the backward its autograd runs,
    each writing into a given result (``f(x, out)``, ``b(g, x, out)``: the
    same output policy as fastrelu's ``out=``), or None without torch.
    mish's backward has no such form in PyTorch: it allocates (marked in
    the table)."""
    try:
        import torch
    except ImportError:
        return None
    a = torch.ops.aten
    elu = lambda alpha, scale: (  # noqa: E731
        lambda x, o: a.elu.out(x, alpha, scale, 1.0, out=o),
        lambda g, x, o: a.elu_backward.grad_input(g, alpha, scale, 1.0, False, x, grad_input=o))
    return {
        "relu": (lambda x, o: a.clamp_min.out(x, 0, out=o),
                 lambda g, x, o: a.threshold_backward.grad_input(g, x, 0, grad_input=o)),
        "leaky_relu": (lambda x, o: a.leaky_relu.out(x, 0.01, out=o),
                       lambda g, x, o: a.leaky_relu_backward.grad_input(g, x, 0.01, False,
                                                                         grad_input=o)),
        "relu6": (lambda x, o: a.hardtanh.out(x, 0.0, 6.0, out=o),
                  lambda g, x, o: a.hardtanh_backward.grad_input(g, x, 0.0, 6.0, grad_input=o)),
        "elu": elu(1.0, 1.0), "celu": elu(1.0, 1.0), "selu": elu(SELU_ALPHA, SELU_SCALE),
        "gelu": (lambda x, o: a.gelu.out(x, out=o),
                 lambda g, x, o: a.gelu_backward.grad_input(g, x, grad_input=o)),
        "gelu_tanh": (lambda x, o: a.gelu.out(x, approximate="tanh", out=o),
                      lambda g, x, o: a.gelu_backward.grad_input(g, x, approximate="tanh",
                                                                  grad_input=o)),
        "silu": (lambda x, o: a.silu.out(x, out=o),
                 lambda g, x, o: a.silu_backward.grad_input(g, x, grad_input=o)),
        "softplus": (lambda x, o: a.softplus.out(x, 1.0, 20.0, out=o),
                     lambda g, x, o: a.softplus_backward.grad_input(g, x, 1.0, 20.0,
                                                                   grad_input=o)),
        "mish": (lambda x, o: a.mish.out(x, out=o), lambda g, x, o: a.mish_backward(g, x)),
        "hardswish": (lambda x, o: a.hardswish.out(x, out=o),
                      lambda g, x, o: a.hardswish_backward.out(g, x, out=o)),
        "hardsigmoid": (lambda x, o: a.hardsigmoid.out(x, out=o),
                        lambda g, x, o: a.hardsigmoid_backward.grad_input(g, x, grad_input=o)),
        # These two differentiate from the saved output, as autograd does.
        "sigmoid": (lambda x, o: a.sigmoid.out(x, out=o),
                    lambda g, x, o: a.sigmoid_backward.grad_input(g, _saved(torch.sigmoid, x),
                                                                  grad_input=o)),
        "tanh": (lambda x, o: a.tanh.out(x, out=o),
                 lambda g, x, o: a.tanh_backward.grad_input(g, _saved(torch.tanh, x),
                                                            grad_input=o)),
    }


#: PyTorch's autograd differentiates these from the forward's saved output,
#: and so does fastrelu.torch: the table compares backward_from_output.
FROM_SAVED_OUTPUT = {"sigmoid", "tanh"}

#: The backward passes PyTorch has no out= form of: they allocate.
TORCH_ALLOCATES = {("mish", "backward")}


_SAVED: dict = {}


def _saved(fn, x):
    """fn(x), computed once per (fn, array): the forward result that
    PyTorch's autograd keeps for these backward passes.  x is kept with it,
    so that its id is not reused by another array."""
    key = (fn, id(x))
    if key not in _SAVED:
        _SAVED[key] = (x, fn(x))
    return _SAVED[key][1]


SMOOTH = ["elu", "selu", "celu", "gelu", "gelu_tanh", "silu", "mish", "softplus", "sigmoid",
          "tanh"]


def activations_table(sizes, names, budget=0.3):
    """Each activation, forward and backward, float32 and float64, at each
    size: fastrelu (``auto``) and PyTorch with the same output policy (both
    write into a given array), as time of fastrelu / time of PyTorch (below
    1: fastrelu is faster); PyTorch's allocating call beside it, labelled
    (above 32 MB its fresh pages are faulted in at every call: the
    allocator, not the kernel)."""
    torch_fns = torch_calls()
    if torch_fns is None:
        raise SystemExit("--activations compares with PyTorch: pip install torch==2.13.0")
    import torch

    rows = []
    for dtype in (np.float32, np.float64):
        for n in sizes:
            n = int(n)
            x = (np.random.default_rng(0).standard_normal(n) * 3).astype(dtype)
            g = np.random.default_rng(1).standard_normal(n).astype(dtype)
            y = np.empty_like(x)
            tx, tg, ty = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(y)
            for name in names:
                fn = fastrelu.api._gelu_tanh if name == "gelu_tanh" else getattr(fastrelu, name)
                row = {"activation": name, "dtype": np.dtype(dtype).name, "n": n}
                for direction in ("forward", "backward"):
                    forward, backward = torch_fns[name]
                    if direction == "forward":
                        ours = lambda: fn(x, out=y)  # noqa: E731
                        theirs = lambda: forward(tx, ty)  # noqa: E731
                        allocating = lambda: forward(tx, torch.empty_like(tx))  # noqa: E731
                    elif name in FROM_SAVED_OUTPUT:  # both from the saved output, as autograd
                        saved = _saved(fn, x)
                        ours = lambda: fn.backward_from_output(g, saved, out=y)  # noqa: E731
                        theirs = lambda: backward(tg, tx, ty)  # noqa: E731
                        allocating = None
                    else:
                        ours = lambda: fn.backward(g, x, out=y)  # noqa: E731
                        theirs = lambda: backward(tg, tx, ty)  # noqa: E731
                        allocating = None
                    for _ in range(3):  # compiled for both of auto's loops first
                        ours()
                    t_ours = seconds_per_call(ours, budget=budget)
                    t_theirs = seconds_per_call(theirs, budget=budget)
                    key = f"{direction}"
                    row[f"{key} fastrelu us"] = round(t_ours * 1e6, 2)
                    row[f"{key} torch us"] = round(t_theirs * 1e6, 2)
                    row[f"{key} / torch"] = round(t_ours / t_theirs, 3)
                    if (name, direction) in TORCH_ALLOCATES:
                        row[f"{key} / torch"] = f"{t_ours / t_theirs:.3f} (torch allocates)"
                    if allocating is not None:
                        t_alloc = seconds_per_call(allocating, budget=budget)
                        row[f"{key} / torch allocating"] = round(t_ours / t_alloc, 3)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def activations_markdown(rows, env):
    """One table per dtype: forward and backward ratios by size."""
    sizes = sorted({row["n"] for row in rows})
    cpu = env["cpu_configuration"]
    lines = [f"# {cpu['host_cpu']} (AVX-512: {'yes' if cpu['avx512f'] else 'no'}), Numba "
             f"compiles for {cpu['numba_cpu']}, NumPy SIMD {' '.join(cpu['numpy_simd']) or 'baseline'}, "
             f"PyTorch kernels {cpu.get('torch_capability')}, {env['numba_threads']} Numba "
             f"threads, {env['torch_threads']} PyTorch threads",
             "",
             "Time of fastrelu (auto, out=) over time of PyTorch (out=): below 1, fastrelu "
             "is faster.", ""]
    for dtype in ("float32", "float64"):
        lines += [f"| {dtype} | " + " | ".join(f"fwd {n:.0e} | bwd {n:.0e}" for n in sizes) + " |",
                  "|---|" + "---:|---:|" * len(sizes)]
        names = list(dict.fromkeys(r["activation"] for r in rows))
        for name in names:
            cells = []
            for n in sizes:
                row = next((r for r in rows if r["activation"] == name and r["dtype"] == dtype
                            and r["n"] == n), None)
                cells += [str(row["forward / torch"]) if row else "",
                          str(row["backward / torch"]) if row else ""]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    big = [r for r in rows if r["n"] == max(sizes) and r["dtype"] == "float32"]
    lines.append(f"Against PyTorch's allocating forward at {max(sizes):.0e} float32 (the old "
                 "headline: PyTorch's fresh output pages are faulted in at every call above "
                 "glibc's 32 MB mmap threshold): " + ", ".join(
                     f"{r['activation']} {r['forward / torch allocating']}" for r in big))
    return "\n".join(lines)


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
    parser.add_argument("--activations", action="store_true",
                        help="the smooth activations against PyTorch, same output policy")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7],
                        help="sizes for --activations")
    parser.add_argument("--names", nargs="+", default=SMOOTH, help="activations for --activations")
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba's and PyTorch's threads (default: every core)")
    parser.add_argument("--label", default="", help="suffix of the result files' names")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)

    import as_cpu
    import numba

    if args.threads and numba.config.NUMBA_NUM_THREADS != args.threads:
        # Not numba.set_num_threads(): a pool started before fastrelu's first
        # parallel call, beside PyTorch's, made PyTorch's next call here take
        # 0.2-2.7 ms instead of 8 us (two OpenMP runtimes, each spinning).
        raise SystemExit(f"--threads {args.threads}: run with NUMBA_NUM_THREADS={args.threads}")
    try:
        import torch
        torch.set_num_threads(args.threads or environment()["cores"])
    except ImportError:
        pass
    env = environment()
    env["numba_threads"] = numba.get_num_threads()
    env["cpu_configuration"] = as_cpu.describe()
    print(f"# {env['cpu']}, {env['cores']} cores, numba {env['numba']} "
          f"({env['numba_threads']} threads), numpy {env['numpy']}, torch {env['torch']}")
    if args.crossover:
        kind, rows = "crossover", crossover(np.unique(np.logspace(3, 6.3, 14).astype(int)))
    elif args.activations:
        kind = "activations" + (f"_{args.label}" if args.label else "")
        rows = activations_table(args.sizes, args.names)
    elif args.quick:
        kind, rows = "quick", relu_table([1e3, 1e5, 1e7], [np.float32])
    else:
        kind, rows = "relu", relu_table([1, 10, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 5e7],
                                        [np.float32, np.float64, np.float16])
    env["threading_layer"] = numba.threading_layer()  # known once a parallel kernel ran
    table = activations_markdown(rows, env) if args.activations else markdown(rows)
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
