"""A long run of random calls that checks every result: fastrelu stays right,
raises nothing it should not, and does not grow.

    python perf/soak.py [--seconds 1800] [--threads 3] [--processes 2] [--cluster] [--json PATH]

Each worker (threads in this process, and processes, forked and spawned)
draws an operation (every activation forward and backward, the masks,
bias_relu, prelu, rrelu, the gated activations), a CPU backend, a dtype
(float16, float32, float64, bfloat16 where ml_dtypes is installed), a size
(0 to 2e5 elements, log-uniform) and a layout (contiguous, strided,
Fortran order, in place), and compares the result with the ``numpy``
backend's on copies of the same inputs.  Forked workers also check a call
in a child forked from them.  With ``--cluster`` (distributed installed) a
``distributed.LocalCluster`` computes Dask activations, compared with NumPy
results.  The resident memory of this process is sampled every second:
the result-buffer pool must not grow without bound.

Prints one JSON summary: operations done, wrong results, exceptions, peak
and final RSS; exits 1 if any result was wrong or any call raised.
"""

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fastrelu  # noqa: E402

BACKENDS = ["numba", "numba-parallel", "numba-ufunc", "auto"]
PARAMS = {"leaky_relu": (0.1,), "elu": (0.7,), "celu": (1.5,), "softplus": (2.0, 10.0)}
# float16/bfloat16 results of smooth activations may differ by a rounding
# from the reference's (both compute in float32): tolerance in their eps.
TOLERANCE = {"float16": 2e-3, "bfloat16": 1.6e-2, "float32": 2e-5, "float64": 1e-12}


def dtypes():
    names = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)]
    try:
        import ml_dtypes

        names.append(np.dtype(ml_dtypes.bfloat16))
    except ImportError:
        pass
    return names


def close(actual, expected, dtype):
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if a.shape != e.shape or np.asarray(actual).dtype != np.asarray(expected).dtype:
        return False
    nan = np.isnan(e)
    if not np.array_equal(np.isnan(a), nan):
        return False
    tol = TOLERANCE[dtype.name]
    return bool(np.all(np.abs(a[~nan] - e[~nan]) <= tol * np.maximum(np.abs(e[~nan]), 1) + 1e-300))


def arrays(rng, dtype, n):
    """Two arrays of n elements in a random layout (the second one's too)."""
    layout = rng.choice(["contiguous", "strided", "fortran"])
    if layout == "strided":
        base = (rng.standard_normal(2 * n) * 4).astype(np.float32).astype(dtype)
        return base[::2], (rng.standard_normal(2 * n)).astype(np.float32).astype(dtype)[::2]
    if layout == "fortran" and n >= 4:
        rows = 2 if n % 2 == 0 else 1
        x = np.asfortranarray((rng.standard_normal((rows, n // rows)) * 4).astype(np.float32).astype(dtype))
        return x, np.asfortranarray(rng.standard_normal(x.shape).astype(np.float32).astype(dtype))
    return ((rng.standard_normal(n) * 4).astype(np.float32).astype(dtype),
            rng.standard_normal(n).astype(np.float32).astype(dtype))


def one_call(rng):
    """One random call, checked; returns a description if it was wrong."""
    dtype = dtypes()[rng.integers(len(dtypes()))]
    n = int(np.exp(rng.uniform(0, np.log(2e5)))) if rng.random() > 0.02 else 0
    backend = BACKENDS[rng.integers(len(BACKENDS))]
    x, g = arrays(rng, dtype, n)
    kind = rng.choice(["forward", "backward", "in place", "mask", "bias_relu", "prelu", "rrelu", "gated"])
    name = rng.choice(fastrelu.activations())
    if kind in ("forward", "backward", "in place") and name in ("prelu", "rrelu"):
        name = "relu"
    params = PARAMS.get(name, ())
    function = getattr(fastrelu, name)
    if kind == "forward":
        got, want = function(x, *params, backend=backend), function(x.copy(), *params, backend="numpy")
    elif kind == "backward":
        got = function.backward(g, x, *params, backend=backend)
        want = function.backward(g.copy(), x.copy(), *params, backend="numpy")
    elif kind == "in place":
        y = x.copy()
        function(y, *params, out=y, backend=backend)
        got, want = y, function(x, *params, backend="numpy")
    elif kind == "mask":
        if backend == "numba-ufunc":
            backend = "numba"
        got, mask = fastrelu.relu_mask(x, backend=backend)
        want = fastrelu.relu(x, backend="numpy")
        if not close(fastrelu.relu_backward_mask(g, mask, backend=backend),
                     fastrelu.relu_backward(g, x, backend="numpy") * (x > 0), dtype):
            return f"relu_backward_mask {dtype} n={n} {backend}"
    elif kind == "bias_relu":
        if x.ndim == 0 or x.size == 0:
            return None
        bias = np.linspace(-1, 1, x.shape[-1]).astype(np.float32).astype(dtype)
        got, want = fastrelu.bias_relu(x, bias, backend=backend), fastrelu.bias_relu(x, bias, backend="numpy")
    elif kind == "prelu":
        got, want = fastrelu.prelu(x, [0.2], backend=backend), fastrelu.prelu(x, [0.2], backend="numpy")
    elif kind == "rrelu":
        seed = int(rng.integers(2**31))
        got, slopes = fastrelu.rrelu(x, training=True, rng=np.random.default_rng(seed), backend=backend)
        want, _ = fastrelu.rrelu(x, training=True, rng=np.random.default_rng(seed), backend="numpy")
    else:
        gated = rng.choice(["reglu", "geglu", "swiglu"])
        got = getattr(fastrelu, gated)(x, g, backend=backend)
        want = getattr(fastrelu, gated)(x.copy(), g.copy(), backend="numpy")
    if not close(got, want, dtype):
        return f"{kind} {name} {dtype} n={n} {backend}"
    return None


def worker(seconds, seed, check_fork=False):
    """Random calls for ``seconds``; returns (operations, wrong, exceptions, samples of errors)."""
    rng = np.random.default_rng(seed)
    ops = wrong = errors = 0
    notes = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            problem = one_call(rng)
        except Exception:  # noqa: BLE001 - counted and reported
            errors += 1
            if len(notes) < 5:
                notes.append(traceback.format_exc(limit=3))
            problem = None
        ops += 1
        if problem is not None:
            wrong += 1
            if len(notes) < 5:
                notes.append(problem)
        if check_fork and ops % 200 == 0 and hasattr(os, "fork"):
            # A child forked from a process whose pool ran: it must compute right.
            pid = os.fork()
            if pid == 0:
                x = np.linspace(-3, 3, 300_000, dtype=np.float32)
                ok = np.array_equal(fastrelu.relu(x, backend="numba-parallel"), np.maximum(x, 0))
                os._exit(0 if ok else 3)
            _, status = os.waitpid(pid, 0)
            ops += 1
            if os.WEXITSTATUS(status) != 0:
                wrong += 1
                notes.append("forked child computed a wrong relu")
    return ops, wrong, errors, notes


def _process_entry(seconds, seed, check_fork, queue):
    queue.put(worker(seconds, seed, check_fork))


def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cluster_rounds(seconds):
    """Dask activations on a distributed.LocalCluster, checked against NumPy."""
    import dask.array as da
    from distributed import Client, LocalCluster

    ops = wrong = errors = 0
    notes = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        rng = np.random.default_rng(7)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                x = (rng.standard_normal((400, 300)) * 3).astype(np.float32)
                name = rng.choice(["relu", "gelu", "silu", "elu"])
                got = getattr(fastrelu, name)(da.from_array(x, chunks=(100, 150))).compute()
                if not close(got, getattr(fastrelu, name)(x, backend="numpy"), x.dtype):
                    wrong += 1
                    notes.append(f"dask {name}")
            except Exception:  # noqa: BLE001
                errors += 1
                notes.append(traceback.format_exc(limit=3))
            ops += 1
    return ops, wrong, errors, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--cluster", action="store_true", help="also a distributed.LocalCluster")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    start_rss = rss_mib()
    results, threads = [], []
    processes = []  # (process, its queue): a queue per start method
    for i in range(args.processes):
        method = "fork" if i % 2 == 0 else "spawn"
        context = multiprocessing.get_context(method)
        queue = context.Queue()
        process = context.Process(target=_process_entry,
                                  args=(args.seconds, 100 + i, method == "fork", queue))
        process.start()
        processes.append((process, queue))
    # Threads after the processes: forking a process while other threads
    # may hold locks (Numba's compiler lock among them) can deadlock the
    # child, in any Python program; the forked worker forks children of its
    # own, from one thread.
    for i in range(args.threads):
        thread = threading.Thread(target=lambda i=i: results.append(worker(args.seconds, i)))
        threads.append(thread)
        thread.start()
    if args.cluster:
        threads.append(threading.Thread(target=lambda: results.append(cluster_rounds(args.seconds))))
        threads[-1].start()
    peak = start_rss
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mib())
        time.sleep(1)
    for process, queue in processes:
        results.append(queue.get(timeout=args.seconds + 300))
        process.join()
    summary = {
        "seconds": args.seconds, "threads": args.threads, "processes": args.processes,
        "cluster": args.cluster,
        "operations": sum(r[0] for r in results), "wrong": sum(r[1] for r in results),
        "exceptions": sum(r[2] for r in results),
        "rss_start_mib": round(start_rss, 1), "rss_peak_mib": round(peak, 1),
        "rss_final_mib": round(rss_mib(), 1),
        "pool_bytes": sum(a.nbytes for a in fastrelu._buffers._pool),
        "notes": [n for r in results for n in r[3]][:10],
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0 if summary["wrong"] == 0 and summary["exceptions"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
