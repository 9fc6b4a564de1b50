"""The quick throughput table: relu beside a plain memory copy of the same bytes.

Used by ``python -m fastrelu bench`` and ``perf/bench.py`` (the full suite).
GB/s counts bytes read plus bytes written; every row is measured in one run,
side by side, so compare the ratios to ``copy``, not absolute figures.
"""

import json
import os
import platform
import time

import numpy as np

from . import __version__
from . import api


def seconds_per_call(fn, budget=0.2, repeats=5):
    """Median time of one call, from ``repeats`` batches sized to ~budget/repeats."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    inner = max(1, int(budget / repeats / once))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return float(np.median(samples))


def environment():
    import numba

    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "fastrelu": __version__,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f
                               if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    return info


def relu_table(sizes, dtypes, verbose=True):
    """relu(x, out=y) per implementation, GB/s."""
    try:
        import torch
    except ImportError:
        torch = None
    backends = ["numba", "numba-parallel", "numba-ufunc", "auto"]
    rows = []
    for dtype in dtypes:
        for n in sizes:
            n = int(n)
            x = np.random.default_rng(0).standard_normal(n).astype(dtype)
            y = np.empty_like(x)
            nbytes = 2 * x.nbytes
            impls = {
                "copy": lambda: np.copyto(y, x),
                "numpy maximum": lambda: np.maximum(x, 0, out=y),
            }
            for b in backends:
                api.relu(x, out=y, backend=b)
                impls[f"fastrelu {b}"] = lambda b=b: api.relu(x, out=y, backend=b)
            if torch is not None and dtype != np.float16:
                tx, ty = torch.from_numpy(x), torch.from_numpy(y)
                impls["torch clamp_min(out=)"] = lambda: torch.clamp_min(tx, 0, out=ty)
            row = {"dtype": np.dtype(dtype).name, "n": n}
            for name, fn in impls.items():
                row[name] = round(nbytes / seconds_per_call(fn) / 1e9, 2)
            rows.append(row)
            if verbose:
                print(json.dumps(row), flush=True)
    return rows


def markdown(rows):
    columns = list(dict.fromkeys(c for row in rows for c in row))  # every key, first-seen order
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[c]:.0e}" if c == "n" else str(row.get(c, ""))
                                       for c in columns) + " |")
    return "\n".join(lines)




def quick(verbose=False):
    """The table ``make demo`` prints: float32 relu at 1e3, 1e5 and 1e7 elements."""
    env = environment()
    rows = relu_table([1e3, 1e5, 1e7], [np.float32], verbose=verbose)
    return env, rows
