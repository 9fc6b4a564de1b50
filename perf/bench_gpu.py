"""GPU throughput of fastrelu's relu and relu_backward beside a device copy.

GB/s counts bytes read plus bytes written (relu: 2 per element times the
item size, relu_backward: 3, copy: 2).  Each figure is the median over
repeats of a batch of back-to-back calls timed with CUDA events, so host-side
launch overhead overlaps device work as it does in a training loop.

    PYTHONPATH=. python perf/bench_gpu.py [--quick] [--json PATH]
    PYTHONPATH=. python perf/bench_gpu.py --activations [--json PATH]
"""

import argparse
import json
import pathlib
import platform
import statistics
import sys
import time

import numpy as np


def timed(cuda, fn, batch, repeats):
    """Median seconds per call of ``fn``."""
    fn()
    cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start, stop = cuda.event(), cuda.event()
        start.record()
        for _ in range(batch):
            fn()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) / 1e3 / batch)
    return statistics.median(samples)


def activations(cuda, n, args):
    """Every activation, forward (out=) and backward (out=), float32, on device
    arrays, beside the device copy and PyTorch's calls (those its autograd
    runs, from perf/bench.py); each result checked against PyTorch's first."""
    import fastrelu

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from bench import torch_calls

    torch_fns = torch_calls()
    if torch_fns is not None:
        import torch
        if not torch.cuda.is_available():
            torch_fns = None
    batch, repeats = args.batch or 20, args.repeats or 11
    rng = np.random.default_rng(0)
    host_x = (rng.standard_normal(n) * 3).astype(np.float32)
    host_g = rng.standard_normal(n).astype(np.float32)
    x, g, y = cuda.to_device(host_x), cuda.to_device(host_g), cuda.device_array(n, np.float32)
    copy = 2 * 4 * n / timed(cuda, lambda: y.copy_to_device(x), batch, repeats) / 1e9
    if torch_fns is not None:
        tx, tg, ty = (torch.as_tensor(a, device="cuda") for a in (x, g, y))
        copy = max(copy, 2 * 4 * n / timed(cuda, lambda: ty.copy_(tx), batch, repeats) / 1e9)
    rows = []
    print(f"float32, n = {n}, best device copy {copy:.0f} GB/s", flush=True)
    for name in [*fastrelu.activations(), "gelu_tanh"]:
        if name in ("prelu", "rrelu"):  # a weight array / random slopes: not elementwise alone
            continue
        fn = fastrelu.gelu if name == "gelu_tanh" else getattr(fastrelu, name)
        extra = ("tanh",) if name == "gelu_tanh" else ()
        row = {"activation": name}
        for direction in ("forward", "backward"):
            call = fn if direction == "forward" else fn.backward
            arrays = (x,) if direction == "forward" else (g, x)
            moved = 4 * n * (len(arrays) + 1)
            run = lambda: call(*arrays, *extra, out=y)  # noqa: E731
            run()
            if torch_fns is not None and name in torch_fns:
                forward_fn, backward_fn = torch_fns[name]
                theirs = (lambda: forward_fn(tx)) if direction == "forward" else (
                    lambda: backward_fn(tg, tx))
                ours, expected = y.copy_to_host(), theirs().cpu().numpy()
                # the figures are for right answers only
                np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5,
                                           err_msg=f"{name} {direction}")
                row[f"{direction} max abs diff vs torch"] = float(np.max(np.abs(ours - expected)))
                row[f"{direction} torch"] = round(moved / timed(cuda, theirs, batch, repeats) / 1e9, 1)
            row[f"{direction} fastrelu"] = round(moved / timed(cuda, run, batch, repeats) / 1e9, 1)
            row[f"{direction} / copy"] = round(row[f"{direction} fastrelu"] / copy, 3)
            if f"{direction} torch" in row:
                row[f"{direction} / torch"] = round(row[f"{direction} fastrelu"]
                                                    / row[f"{direction} torch"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"n": n, "dtype": "float32", "copy": round(copy, 1), "rows": rows,
              "when": time.strftime("%Y-%m-%d %H:%M:%S"), "unit": "GB/s, bytes read + written"}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--exponents", type=int, nargs="+", default=None,
                        help="sizes as powers of two (default 20..28)")
    parser.add_argument("--activations", action="store_true",
                        help="every activation, forward and backward, at one size, beside PyTorch")
    parser.add_argument("--activation-exponent", type=int, default=26,
                        help="the size for --activations, as a power of two (default 26)")
    parser.add_argument("--batch", type=int, default=None, help="calls per timed batch")
    parser.add_argument("--repeats", type=int, default=None, help="timed batches per figure")
    args = parser.parse_args(argv)

    import fastrelu

    cuda = fastrelu.cuda.backend.numba_cuda()
    if args.activations:
        return activations(cuda, 2**args.activation_exponent, args)

    try:
        import torch
        has_torch = torch.cuda.is_available()
    except ImportError:
        torch, has_torch = None, False
    try:
        import cupy
    except ImportError:
        cupy = None

    device = cuda.get_current_device()
    name = getattr(device, "name", "simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)
    exponents = args.exponents or ([20, 24, 26, 28] if args.quick else list(range(20, 29)))
    repeats = 5 if args.quick else 11
    rows = []
    dtypes = [np.dtype(np.float32), np.dtype(np.float16)]
    try:  # bfloat16 (Numba device arrays of ml_dtypes.bfloat16) where ml_dtypes is installed
        import ml_dtypes

        dtypes.append(np.dtype(ml_dtypes.bfloat16))
    except ImportError:
        print("ml_dtypes is not installed: no bfloat16 rows")
    for dtype in dtypes:
        frameworks = dtype.kind == "f"  # PyTorch and CuPy take no bfloat16 array interface
        for e in exponents:
            n = 2**e
            item = dtype.itemsize
            # at least 20 back-to-back calls per timed batch, so that the host
            # time before the first launch is not counted as idle device time
            batch = max(20, min(200, 2**30 // (n * item)))
            rng = np.random.default_rng(e)
            host = rng.standard_normal(n, dtype=np.float32).astype(dtype)
            x = cuda.to_device(host)
            g = cuda.to_device(rng.standard_normal(n, dtype=np.float32).astype(dtype))
            y = cuda.device_array(n, dtype)
            row = {"dtype": dtype.name, "n": n}

            def gbps(bytes_per_element, seconds):
                return round(bytes_per_element * item * n / seconds / 1e9, 1)

            # the copy baseline is the best of Numba's and PyTorch's device copies
            row["copy"] = gbps(2, timed(cuda, lambda: y.copy_to_device(x), batch, repeats))
            # correctness first: the figures below are for right answers only
            fastrelu.relu(x, out=y)
            expected = np.where(host <= 0, dtype.type(0), host)
            same = np.array_equal(y.copy_to_host().view(np.int8), expected.view(np.int8))
            assert same, "relu gave a wrong result"
            row["fastrelu.relu"] = gbps(2, timed(cuda, lambda: fastrelu.relu(x, out=y), batch, repeats))
            row["fastrelu.relu_backward"] = gbps(
                3, timed(cuda, lambda: fastrelu.relu_backward(g, x, out=y), batch, repeats))
            if has_torch and frameworks:
                tx, tg = torch.as_tensor(x, device="cuda"), torch.as_tensor(g, device="cuda")
                ty = torch.as_tensor(y, device="cuda")
                row["torch.relu"] = gbps(2, timed(cuda, lambda: torch.relu(tx), batch, repeats))
                row["torch.clamp_min(out=)"] = gbps(
                    2, timed(cuda, lambda: torch.clamp_min(tx, 0, out=ty), batch, repeats))
                row["torch threshold_backward"] = gbps(
                    3, timed(cuda, lambda: torch.ops.aten.threshold_backward(tg, tx, 0), batch, repeats))
                row["torch copy_"] = gbps(2, timed(cuda, lambda: ty.copy_(tx), batch, repeats))
            if cupy is not None and frameworks:
                cx, cy = cupy.asarray(x), cupy.asarray(y)
                row["cupy.maximum(out=)"] = gbps(
                    2, timed(cuda, lambda: cupy.maximum(cx, 0, out=cy), batch, repeats))
            best_copy = max(row["copy"], row.get("torch copy_", 0))
            row["relu/copy"] = round(row["fastrelu.relu"] / best_copy, 3)
            row["relu_backward/copy"] = round(row["fastrelu.relu_backward"] / best_copy, 3)
            if "torch.relu" in row:
                row["relu/torch.relu"] = round(row["fastrelu.relu"] / row["torch.relu"], 3)
                row["relu_backward/torch"] = round(
                    row["fastrelu.relu_backward"] / row["torch threshold_backward"], 3)
            rows.append(row)
            print(json.dumps(row), flush=True)

    result = {
        "device": name,
        "multiprocessors": getattr(device, "MULTIPROCESSOR_COUNT", None),
        "python": platform.python_version(),
        "numba": __import__("numba").__version__,
        "torch": torch.__version__ if torch else None,
        "cupy": cupy.__version__ if cupy else None,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "unit": "GB/s, bytes read + written",
        "rows": rows,
    }
    columns = [k for k in rows[0] if k not in ("dtype", "n")]
    print("\n| dtype | n | " + " | ".join(columns) + " |")
    print("|" + "---|" * (len(columns) + 2))
    for row in rows:
        print(f"| {row['dtype']} | 2^{int(np.log2(row['n']))} | "
              + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
