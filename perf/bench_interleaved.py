"""fastrelu inside programs: relu calls between matrix products (#25).

    python perf/bench_interleaved.py [--rows NAME ...] [--rounds 3] [--quick] [--no-save]

A benchmark that calls relu alone hides what happens next to BLAS: after a
parallel loop the thread pool's workers may keep a core busy, and so may
BLAS's after a product.  Each row here is a small program that interleaves
its activations with matrix products (NumPy/OpenBLAS, PyTorch, a Dask
threaded scheduler, scikit-learn's MLPClassifier, fastrelu.nn training),
run once with the program's own relu and once per fastrelu backend, each in
a fresh process, in a new order each round.  A figure is the median over
rounds of the time per step, as a ratio to the program's own relu (goal:
``auto`` at most 1.1).  The last two columns are fastrelu's earlier rules:
OpenMP's own spin after each parallel loop (``FASTRELU_OMP_SPINCOUNT=off``),
and with it ``auto`` by size alone (``FASTRELU_COLD_PARALLEL_THRESHOLD``
equal to the parallel threshold), as fastrelu ran before.  Writes
perf/results/cpu_interleaved.json and .md.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "perf" / "results"

#: Implementations: a name, the fastrelu backend (None: the program's own
#: relu) and the environment of its process.
IMPLS = {
    "own": (None, {}),
    "numba": ("numba", {}),
    "numba-parallel": ("numba-parallel", {}),
    "auto": ("auto", {}),
    # fastrelu's earlier rules: OpenMP's own spin, and auto by size alone.
    "numba-parallel, spin off": ("numba-parallel", {"FASTRELU_OMP_SPINCOUNT": "off"}),
    "auto by size, spin off": ("auto", {"FASTRELU_OMP_SPINCOUNT": "off",
                                        "FASTRELU_COLD_PARALLEL_THRESHOLD": "65536"}),
}

LOOP_SHAPES = [(64, 128), (256, 256), (256, 512), (512, 1024), (1024, 4096)]


def row_names():
    names = [f"numpy {b}x{w} {d}" for b, w in LOOP_SHAPES for d in ("float32", "float64")]
    names += ["torch 512x1024 float32", "torch 1024x4096 float32",
              "sklearn MLP (128, 128)", "sklearn MLP (512, 512)",
              "fastrelu.nn 784-1024-1024-10", "dask threads 8192x1024 float32"]
    return names


QUICK_ROWS = ["numpy 256x512 float32", "numpy 512x1024 float32", "numpy 1024x4096 float64",
              "torch 512x1024 float32", "sklearn MLP (128, 128)", "fastrelu.nn 784-1024-1024-10"]


# --- the programs (run in the child process) ----------------------------------


def relu_pair(backend):
    """In-place forward and backward: ``f(z)`` sets z = relu(z), ``b(d, z)``
    sets d = d * relu'(z); NumPy's own where ``backend`` is None."""
    if backend is None:
        def forward(z):
            np.maximum(z, 0, out=z)

        def backward(d, z):
            np.multiply(d, z > 0, out=d)
        return forward, backward
    import fastrelu

    def forward(z):
        fastrelu.relu(z, out=z, backend=backend)

    def backward(d, z):
        fastrelu.relu_backward(d, z, out=d, backend=backend)
    return forward, backward


def numpy_loop(backend, batch, width, dtype):
    """A hidden layer's step: product, relu, product, relu's backward, product."""
    forward, backward = relu_pair(backend)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, width)).astype(dtype)
    w1, w2 = ((rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
              for _ in range(2))
    z, d = np.empty_like(x), np.empty_like(x)

    def step():
        np.matmul(x, w1, out=z)
        forward(z)
        np.matmul(z, w2, out=d)
        backward(d, z)
        np.matmul(d, w2.T, out=z)
    return step


def torch_loop(backend, batch, width):
    """The same step around torch.mm; the program's own relu is PyTorch's."""
    import torch

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, width)).astype(np.float32))
    w1, w2 = (torch.from_numpy((rng.standard_normal((width, width)) / np.sqrt(width))
                               .astype(np.float32)) for _ in range(2))
    z, d = torch.empty_like(x), torch.empty_like(x)
    if backend is None:
        def forward(zt, za):
            torch.relu_(zt)

        def backward(dt, zt, da, za):
            torch.ops.aten.threshold_backward(dt, zt, 0, grad_input=dt)
    else:
        f, b = relu_pair(backend)

        def forward(zt, za):
            f(za)

        def backward(dt, zt, da, za):
            b(da, za)
    za, da = z.numpy(), d.numpy()

    def step():
        torch.mm(x, w1, out=z)
        forward(z, za)
        torch.mm(z, w2, out=d)
        backward(d, z, da, za)
        torch.mm(d, w2.T, out=z)
    return step


def sklearn_fit(backend, hidden):
    """MLPClassifier on the digits (batch 256, float64), 5 epochs; fastrelu
    replaces scikit-learn's in-place relu and its derivative."""
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier, _base

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    if backend is not None:
        forward, backward = relu_pair(backend)
        _base.ACTIVATIONS["relu"] = forward
        _base.DERIVATIVES["relu"] = lambda z, delta: backward(delta, z)

    def step():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "did not converge"
            MLPClassifier(hidden_layer_sizes=hidden, batch_size=256, max_iter=5, random_state=0,
                          tol=0, n_iter_no_change=1000).fit(x, y)
    return step


def nn_training(backend):
    """fastrelu.nn: a 784-1024-1024-10 relu MLP, one SGD step on a batch of
    256 (float32); the program's own is the same stack on the numpy backend."""
    from fastrelu import nn

    rng = np.random.default_rng(0)
    model = nn.mlp([784, 1024, 1024, 10], "relu", backend=backend or "numpy", rng=0)
    loss, optimizer = nn.SoftmaxCrossEntropy(), nn.SGD(model.parameters(), lr=0.01)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 256)

    def step():
        loss(model(x), labels)
        model.backward(loss.backward())
        optimizer.step()
    return step


def dask_threads(backend):
    """relu(x @ W) summed, chunk by chunk on Dask's threaded scheduler: BLAS
    products and relu calls of other chunks run at the same time."""
    import dask
    import dask.array as da

    rng = np.random.default_rng(0)
    x = da.from_array(rng.standard_normal((8192, 1024)).astype(np.float32), chunks=(1024, 1024))
    w = (rng.standard_normal((1024, 1024)) / 32).astype(np.float32)
    if backend is None:
        def activation(h):
            return da.maximum(h, 0)
    else:
        import fastrelu

        def activation(h):
            return fastrelu.relu(h, backend=backend)

    def step():
        with dask.config.set(scheduler="threads"):
            activation(x @ w).sum().compute()
    return step


def build(row, backend):
    kind, rest = row.split(" ", 1)
    if kind == "numpy":
        shape, dtype = rest.split()
        batch, width = map(int, shape.split("x"))
        return numpy_loop(backend, batch, width, dtype)
    if kind == "torch":
        batch, width = map(int, rest.split()[0].split("x"))
        return torch_loop(backend, batch, width)
    if kind == "sklearn":
        hidden = tuple(int(v) for v in rest.split("(", 1)[1].rstrip(")").split(","))
        return sklearn_fit(backend, hidden)
    if kind == "fastrelu.nn":
        return nn_training(backend)
    if kind == "dask":
        return dask_threads(backend)
    raise ValueError(f"unknown row {row!r}")


def child(row, impl, budget):
    """Seconds per step of ``row`` with ``impl``: the median of five batches."""
    step = build(row, IMPLS[impl][0])
    step()  # compile, warm the caches
    start = time.perf_counter()
    step()
    once = time.perf_counter() - start
    steps = max(1, int(budget / 5 / max(once, 1e-6)))
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter() - start) / steps)
    return float(np.median(samples))


# --- the parent: one process per measurement -------------------------------


def measure(rows, impls, rounds, budget):
    times = {(r, i): [] for r in rows for i in impls}
    order = np.random.default_rng(1)
    for round_ in range(rounds):
        for row in rows:
            for impl in order.permutation(impls):
                env = dict(os.environ, **IMPLS[impl][1])
                out = subprocess.run([sys.executable, __file__, "--child", row, impl,
                                      "--budget", str(budget)],
                                     env=env, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    sys.exit(f"{row} / {impl} failed:\n{out.stderr[-3000:]}")
                times[row, impl].append(float(out.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1}, {row}: " + ", ".join(
                f"{i} {times[row, i][-1] * 1e3:.3g} ms" for i in impls), flush=True)
    result = []
    for row in rows:
        own = float(np.median(times[row, "own"]))
        entry = {"row": row, "own ms/step": round(own * 1e3, 3)}
        for impl in impls:
            if impl != "own":
                entry[impl] = round(float(np.median(times[row, impl])) / own, 3)
        entry["samples ms"] = {i: [round(t * 1e3, 3) for t in times[row, i]] for i in impls}
        result.append(entry)
    return result


def markdown(result, impls):
    columns = ["row", "own ms/step"] + [i for i in impls if i != "own"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for entry in result:
        lines.append("| " + " | ".join(str(entry[c]) for c in columns) + " |")
    return "\n".join(lines)


def environment():
    from fastrelu.bench import environment as base

    info = base()
    try:
        import threadpoolctl

        info["blas"] = [{k: p.get(k) for k in ("internal_api", "num_threads", "version")}
                        for p in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=None, help="row names (default: all)")
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=list(IMPLS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of steps per process")
    parser.add_argument("--quick", action="store_true", help="six rows, two rounds")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("ROW", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(child(*args.child, args.budget))
        return
    rows = args.rows or (QUICK_ROWS if args.quick else row_names())
    rounds = 2 if args.quick and args.rounds == 3 else args.rounds
    impls = ["own"] + [i for i in args.impls if i != "own"]
    result = measure(rows, impls, rounds, args.budget)
    table = markdown(result, impls)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cpu_interleaved.json").write_text(json.dumps(
            {"environment": environment(), "rounds": rounds, "rows": result}, indent=1) + "\n")
        (RESULTS / "cpu_interleaved.md").write_text(table + "\n")
        print(f"wrote {RESULTS / 'cpu_interleaved.json'} and .md")


if __name__ == "__main__":
    main()
