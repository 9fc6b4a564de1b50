"""Command line: ``python -m fastrelu info | bench | train``."""

import argparse
import sys


def auto_rule():
    """How ``auto`` chooses between one thread and Numba's pool, and what
    it weighs (fastrelu/_costs.py, measured by perf/bench_auto.py)."""
    import numpy as np

    from . import _config, _costs, dispatch

    lines = [f"auto: several threads where the serial time they save on {_config.THREADS} "
             f"threads passes a parallel loop's own cost ({_costs.PARALLEL_AWAKE_SECONDS * 1e6:.0f}"
             f" us with its workers awake, {_costs.PARALLEL_ASLEEP_SECONDS * 1e6:.0f} us asleep);"
             " from these sizes (awake / asleep):"]
    for name in ("relu", "gelu", "silu", "sigmoid"):
        cells = []
        for dtype in (np.float32, np.float64):
            warm, cold = dispatch.parallel_limits(name, "forward", np.dtype(dtype))
            cells.append(f"{np.dtype(dtype).name} {warm // 1024} / {cold // 1024} KiB")
        lines.append(f"  {name:8} " + ", ".join(cells))
    return "\n".join(lines)


def info(args):
    import os

    import llvmlite.binding as llvm
    import numba
    import numpy as np

    import fastrelu

    print(f"fastrelu {fastrelu.__version__}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"default backend: {fastrelu.get_backend()}")
    print(auto_rule())
    for name, reason in fastrelu.all_backends().items():
        print(f"  {name:15} {'available' if reason is None else 'unavailable: ' + reason}")
    print(operations_table())
    fastrelu.relu(np.zeros(fastrelu._config.PARALLEL_THRESHOLD, np.float32),
                  backend="numba-parallel")  # the threading layer is fixed at first use
    print(f"numba threading layer: {numba.threading_layer()}, {numba.get_num_threads()} threads")
    print(fastrelu.cpu.pool.describe())
    features = llvm.get_host_cpu_features()
    simd = [f for f in ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "neon", "sve")
            if features.get(f)]
    print(f"cpu: {llvm.get_host_cpu_name()}, SIMD: {' '.join(simd) or 'none found'}; "
          f"CPU loops prefer {fastrelu._config.PREFER_VECTOR_BITS}-bit vectors where the CPU has them")
    if fastrelu.all_backends().get("cuda") is None:
        device = fastrelu.cuda.backend.numba_cuda().get_current_device()
        name = getattr(device, "name", b"simulator")
        print(f"gpu: {name.decode() if isinstance(name, bytes) else name}")
    else:
        print("gpu: none")
    cache = numba.config.CACHE_DIR or os.path.join(os.path.dirname(fastrelu.__file__), "**", "__pycache__")
    print(f"numba cache: {cache}")


def operations_table():
    """Which backend implements which operation, as a text table."""
    from .registry import OPERATIONS, _registry

    names = list(_registry)
    width = max(len(o) for o in OPERATIONS)
    lines = ["operations:".ljust(width + 4) + "  ".join(names)]
    for operation in OPERATIONS:
        marks = ["yes".center(len(n)) if operation in _registry[n].operations else "-".center(len(n))
                 for n in names]
        lines.append(f"  {operation:{width}}  " + "  ".join(marks))
    lines.append("dtypes:")
    for name in names:
        lines.append(f"  {name:15} {' '.join(_registry[name].dtypes)}"
                     + (" (and integers for relu)" if _registry[name].integers else ""))
    from ._dtypes import bfloat16

    if bfloat16() is None:
        lines.append("  bfloat16 needs ml_dtypes: pip install 'fastrelu[bf16]'")
    return "\n".join(lines)


def bench(args):
    from . import bench as quick_bench

    env, rows = quick_bench.quick()
    print(f"# {env['cpu']}, {env['cores']} cores, numba {env['numba']}, torch {env['torch']}")
    print(quick_bench.markdown(rows))


def train(args):
    from .training import describe, train_mlp

    result, _, _ = train_mlp(args.dataset, args.activation, args.backend, epochs=args.epochs,
                             steps=args.steps, bar=not args.no_bar)
    print(describe(result))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastrelu",
                                     description="fastrelu: fast ReLU-family activations")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("info", help="versions, backends, threading layer, CPU, GPU, cache")
    p.set_defaults(run=info)
    p = commands.add_parser("bench", help="relu throughput beside a memory copy (quick table)")
    p.set_defaults(run=bench)
    p = commands.add_parser("train", help="train the example MLP")
    p.add_argument("--dataset", choices=["digits", "mnist1d"], default="digits")
    p.add_argument("--activation", default="relu")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--no-bar", action="store_true")
    p.set_defaults(run=train)
    for sub in commands.choices.values():
        sub.add_argument("--backend", default=None,
                         help="the default backend for the command (default: FASTRELU_BACKEND, else auto)")
    args = parser.parse_args(argv)
    from .registry import get_backend, set_backend

    if args.backend is None:
        args.backend = get_backend()
    set_backend(args.backend)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
