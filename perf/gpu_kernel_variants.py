"""The cuda backend's kernel forms for a memory-bound op, timed side by side
with no fastrelu call overhead: which form and launch shape get closest to
a device copy.  Used to choose the backend's form and constants
(``cuda.backend.VECTOR_THREADS_PER_BLOCK``, ``cuda.backend.THREADS_PER_BLOCK``,
``cuda.backend.BLOCKS_PER_SM``).

    PYTHONPATH=. python perf/gpu_kernel_variants.py [--json PATH]
"""

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

import fastrelu
from fastrelu.cuda import kernels
from fastrelu.definitions import BUILTIN

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_gpu  # noqa: E402

cuda = fastrelu.cuda.backend.numba_cuda()


def timed(fn, batch=20, repeats=7):
    return bench_gpu.timed(cuda, fn, batch, repeats)


@functools.cache
def kernel(direction, dtype, form):
    """relu's forward or backward kernel in the backend's scalar or vector form."""
    relu = BUILTIN["relu"]
    formula, arity = (relu.forward, 1) if direction == "forward" else (relu.backward, 2)
    widen = dtype == np.float16
    if form == "scalar":
        return kernels.make_kernel(formula, arity, 1, widen)
    lanes = fastrelu.cuda.backend.VECTOR_BYTES // np.dtype(dtype).itemsize
    return kernels.make_vector_kernel(formula, arity, np.dtype(dtype), lanes, widen)


def variants(direction, dtype, sms, n):
    """label -> (kernel, blocks, threads) for relu's forward or backward."""
    lanes = fastrelu.cuda.backend.VECTOR_BYTES // np.dtype(dtype).itemsize
    found = {}
    for threads, per_sm in ((512, 32), (256, 32), (256, 8)):
        blocks = min(sms * per_sm, -(-n // threads))
        found[f"scalar, grid-stride {blocks}x{threads}"] = (kernel(direction, dtype, "scalar"),
                                                            blocks, threads)
    for threads in (128, 256, 512, 1024):
        blocks = -(-(n // lanes + n % lanes) // threads)
        found[f"vector, one per thread {blocks}x{threads}"] = (kernel(direction, dtype, "vector"),
                                                               blocks, threads)
    return found


def _want_on_device(torch, direction, x, g):
    tx = torch.as_tensor(x, device="cuda")
    zero = torch.zeros((), dtype=tx.dtype, device="cuda")
    kept = tx if direction == "forward" else torch.as_tensor(g, device="cuda")
    return torch.where(tx <= 0, zero, kept)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    parser.add_argument("--smaller", type=int, default=0,
                        help="divide every size by 2**SMALLER (a quick check of the script)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    sms = getattr(cuda.get_current_device(), "MULTIPROCESSOR_COUNT", 1)
    rows = []
    print("| direction | dtype | n | variant | GB/s | /copy |")
    print("|---|---|---|---|---|---|")
    cases = [("forward", np.float32, e) for e in (24, 26, 28)] + [
        ("backward", np.float32, 26), ("backward", np.float32, 28),
        ("forward", np.float16, 28), ("forward", np.float64, 27)]
    for direction, dtype, e in cases:
        e -= args.smaller
        n = 2**e
        item = np.dtype(dtype).itemsize
        streams = 2 if direction == "forward" else 3
        rng = np.random.default_rng(e)
        host = rng.standard_normal(n, dtype=np.float32).astype(dtype)
        grad = rng.standard_normal(n, dtype=np.float32).astype(dtype)
        x, g = cuda.to_device(host), cuda.to_device(grad)
        y = cuda.device_array(n, dtype)
        copy = 2 * n * item / timed(lambda: y.copy_to_device(x)) / 1e9
        if torch is not None and torch.cuda.is_available():
            tx, ty = torch.as_tensor(x, device="cuda"), torch.as_tensor(y, device="cuda")
            copy = max(copy, 2 * n * item / timed(lambda: ty.copy_(tx)) / 1e9)
        want = (np.where(host <= 0, dtype(0), host) if direction == "forward"
                else np.where(host <= 0, dtype(0), grad))
        inputs = (x,) if direction == "forward" else (g, x)
        label0 = f"| {direction} | {np.dtype(dtype).name} | 2^{e} |"
        print(f"{label0} best device copy | {copy:.0f} | 1.00 |", flush=True)
        checked = set()
        want_on_device = None
        if torch is not None and torch.cuda.is_available():
            want_on_device = _want_on_device(torch, direction, x, g)
        for label, (launch, blocks, threads) in variants(direction, dtype, sms, n).items():
            # every form and launch shape gives the right answer before it is timed
            # (on the device where PyTorch is there: a host check of 2^28 is slow)
            if want_on_device is not None:
                ty.fill_(7)
                launch[blocks, threads](*inputs, y, ())
                right = torch.equal(ty, want_on_device)
            elif launch not in checked:
                checked.add(launch)
                y.copy_to_device(np.full(n, 7, dtype))
                launch[blocks, threads](*inputs, y, ())
                right = np.array_equal(y.copy_to_host(), want)
            else:
                right = True
            if not right:
                print(f"{label0} {label} | WRONG RESULT | |", flush=True)
                continue
            gbps = streams * n * item / timed(lambda: launch[blocks, threads](*inputs, y, ())) / 1e9
            rows.append({"direction": direction, "dtype": np.dtype(dtype).name, "n": n,
                         "variant": label, "GB/s": round(gbps, 1), "copy": round(copy, 1),
                         "ratio": round(gbps / copy, 3)})
            print(f"{label0} {label} | {gbps:.0f} | {gbps / copy:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            name = getattr(cuda.get_current_device(), "name", b"simulator")
            name = name.decode() if isinstance(name, bytes) else str(name)
            json.dump({"device": name, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
