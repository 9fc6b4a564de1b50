"""The host (Python) time of fastrelu's calls on GPU arrays, measurable
without a GPU: real Numba device-array objects over host memory, with the
kernel launch replaced by a no-op.  What it prints is fastrelu's own part of
a call; Numba's launch comes on top (``perf/gpu_call_overhead.py`` measures
both on a GPU).  Needs numba-cuda; no driver.

    PYTHONPATH=. python perf/cuda_host_path.py [--profile]
"""

import argparse
import cProfile
import ctypes
import pstats
import time

import numpy as np

import fastrelu


class _HostMemory:
    """Stands in for device memory under a Numba device array (never launched on)."""

    def __init__(self, nbytes):
        self._buffer = np.empty(nbytes + 16, np.uint8)
        start = self._buffer.ctypes.data
        self.device_ctypes_pointer = self.handle = ctypes.c_void_p(start + (-start) % 16)
        self.size = nbytes

    def view(self, start, stop=None):
        return self

    @property
    def owner(self):
        return self


class _NoLaunch:
    def __getitem__(self, grid):
        return lambda *args: None


def device_array(n, dtype=np.float32):
    from numba.cuda.cudadrv import devicearray

    itemsize = np.dtype(dtype).itemsize
    return devicearray.DeviceNDArray((n,), (itemsize,), dtype, gpu_data=_HostMemory(n * itemsize))


def per_call_us(fn, calls=20000, rounds=7):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print a cProfile of relu(x, out=y)")
    args = parser.parse_args(argv)
    backend = fastrelu.registry._registry["cuda"]
    backend._checked, backend._reason = True, None  # runs without a driver: nothing launches
    backend.vector_kernel = backend.kernel = lambda *args: _NoLaunch()
    backend._sms, backend._fewest = 132, 128  # an H200's grid (no device to ask here)
    x, y, g = device_array(1024), device_array(1024), device_array(1024)
    calls = {
        "relu(x, out=y)": lambda: fastrelu.relu(x, out=y),
        "relu(x, out=x)": lambda: fastrelu.relu(x, out=x),
        "relu_backward(g, x, out=y)": lambda: fastrelu.relu_backward(g, x, out=y),
        "leaky_relu(x, 0.1, out=y)": lambda: fastrelu.leaky_relu(x, 0.1, out=y),
    }
    for label, fn in calls.items():
        print(f"{label}: {per_call_us(fn):.1f} us of host time per call (best of 7 x 20000)")
    if args.profile:
        print_profile(lambda: fastrelu.relu(x, out=y), calls=20000, lines=20)


def print_profile(fn, calls, lines):
    """cProfile of ``calls`` calls of ``fn``, the ``lines`` costliest functions."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        fn()
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(lines)


if __name__ == "__main__":
    main()
