"""Raw kernel shapes for a memory-bound elementwise op on the GPU, timed
side by side (no fastrelu call overhead): which grid-stride form and launch
shape get closest to a device copy.  Used to choose the cuda backend's form.

    PYTHONPATH=. python perf/gpu_kernel_variants.py
"""

import sys
from pathlib import Path

import numpy as np

import fastrelu

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_gpu  # noqa: E402

cuda = fastrelu._cuda.numba_cuda()


@cuda.jit(device=True, inline=True)
def relu(x):
    return x if not (x <= 0) else 0


@cuda.jit
def plain(x, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = relu(x[i])


@cuda.jit
def unroll4(x, out):
    # each thread handles 4 elements a gridsize apart per step
    n = out.size
    stride = cuda.gridsize(1)
    i = cuda.grid(1)
    while i + 3 * stride < n:
        a = x[i]
        b = x[i + stride]
        c = x[i + 2 * stride]
        d = x[i + 3 * stride]
        out[i] = relu(a)
        out[i + stride] = relu(b)
        out[i + 2 * stride] = relu(c)
        out[i + 3 * stride] = relu(d)
        i += 4 * stride
    while i < n:
        out[i] = relu(x[i])
        i += stride


@cuda.jit
def one_per_thread(x, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = relu(x[i])


def timed(fn, batch=20, repeats=7):
    return bench_gpu.timed(cuda, fn, batch, repeats)


def main():
    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    print("| dtype | n | variant | GB/s | /copy |")
    print("|---|---|---|---|---|")
    for dtype in (np.float32, np.float16):
        for e in (24, 26, 28):
            n = 2**e
            nbytes = 2 * n * np.dtype(dtype).itemsize
            x = cuda.to_device(np.random.default_rng(0).standard_normal(n).astype(dtype))
            y = cuda.device_array(n, dtype)
            copy = nbytes / timed(lambda: y.copy_to_device(x)) / 1e9
            print(f"| {np.dtype(dtype).name} | 2^{e} | device copy | {copy:.0f} | 1.00 |")
            variants = {}
            for threads in (256, 512):
                for per_sm in (4, 8, 32):
                    blocks = min(sms * per_sm, (n + threads - 1) // threads)
                    variants[f"plain {blocks}x{threads}"] = lambda b=blocks, t=threads: plain[b, t](x, y)
                    variants[f"unroll4 {blocks}x{threads}"] = lambda b=blocks, t=threads: unroll4[b, t](x, y)
            variants["one per thread"] = lambda: one_per_thread[(n + 255) // 256, 256](x, y)
            for label, fn in variants.items():
                gbps = nbytes / timed(fn) / 1e9
                print(f"| {np.dtype(dtype).name} | 2^{e} | {label} | {gbps:.0f} | {gbps / copy:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
