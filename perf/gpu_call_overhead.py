"""Where the host time of one fastrelu call on GPU arrays goes.

Times ``relu(x, out=y)`` on a small device array (launch-bound) against a
bare launch of the same kernel, and prints a cProfile of the call path.

    PYTHONPATH=. python perf/gpu_call_overhead.py
"""

import time

import numpy as np

import fastrelu
from cuda_host_path import print_profile  # perf/ is on the path when run as a script

cuda = fastrelu.cuda.backend.numba_cuda()


def per_call_us(fn, n=2000):
    fn()
    cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    cuda.synchronize()
    return (time.perf_counter() - start) / n * 1e6


def main():
    x = cuda.to_device(np.random.default_rng(0).standard_normal(1024).astype(np.float32))
    y = cuda.device_array_like(x)
    backend = fastrelu.registry.lookup("cuda")
    formula = fastrelu.relu.definition.forward
    kernel = backend.vector_kernel(formula, 1, x.dtype)  # what the call launches here
    grid = fastrelu.cuda.backend._vector_grid(x.size, x.dtype.itemsize)
    print(f"fastrelu.relu(x, out=y): {per_call_us(lambda: fastrelu.relu(x, out=y)):.1f} us per call")
    print(f"bare kernel[grid](x, y, ()): {per_call_us(lambda: kernel[grid](x, y, ())):.1f} us per call")
    print_profile(lambda: fastrelu.relu(x, out=y), calls=500, lines=14)


if __name__ == "__main__":
    main()
