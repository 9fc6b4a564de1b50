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
    """Stands in for every kernel: ``kernel[grid](*args)`` and
    ``kernels[i][grid](*args)`` do nothing."""

    def __getitem__(self, key):
        return self

    def __call__(self, *args):
        return None


def device_array(shape, dtype=np.float32, stream=0):
    from numba.cuda.cudadrv import devicearray

    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    dtype = np.dtype(dtype)
    strides = tuple(int(np.prod(shape[i + 1:])) * dtype.itemsize for i in range(len(shape)))
    nbytes = int(np.prod(shape)) * dtype.itemsize
    return devicearray.DeviceNDArray(shape, strides, dtype, stream=stream,
                                     gpu_data=_HostMemory(nbytes))


class _Foreign:
    """A GPU array of another framework as fastrelu sees one (CuPy's, say):
    shape and dtype, and ``__cuda_array_interface__`` with the stream it
    was made on."""

    def __init__(self, array, stream=7):
        self.array = array
        self.shape, self.dtype, self.ndim, self.size = array.shape, array.dtype, array.ndim, array.size
        self.__cuda_array_interface__ = dict(array.__cuda_array_interface__, stream=stream)


def per_call_us(fn, repeat=20000, rounds=7):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat * 1e6)
    return best


def calls():
    """label -> a call on 1024-element device arrays (float32 unless named)."""
    x, y, g = device_array(1024), device_array(1024), device_array(1024)
    x16, y16 = device_array(1024, np.float16), device_array(1024, np.float16)
    x3, y3 = device_array((4, 16, 16)), device_array((4, 16, 16))
    x2, y2, bias = device_array((32, 32)), device_array((32, 32)), device_array(32)
    weight, mask = device_array(16), device_array(128, np.uint8)  # 1024 bits
    t, u = _Foreign(device_array(1024)), _Foreign(device_array(1024))
    return {
        "relu(x, out=y)": lambda: fastrelu.relu(x, out=y),
        "relu(x, out=x)": lambda: fastrelu.relu(x, out=x),
        "relu(x)": lambda: fastrelu.relu(x),
        "relu_backward(g, x, out=y)": lambda: fastrelu.relu_backward(g, x, out=y),
        "leaky_relu(x, 0.1, out=y)": lambda: fastrelu.leaky_relu(x, 0.1, out=y),
        "silu(x, out=y)": lambda: fastrelu.silu(x, out=y),
        "gelu_backward(g, x, out=y)": lambda: fastrelu.gelu_backward(g, x, out=y),
        "relu(x, out=y), 3-D": lambda: fastrelu.relu(x3, out=y3),
        "relu(x, out=y), float16": lambda: fastrelu.relu(x16, out=y16),
        "bias_relu(x, b, out=y), 32x32": lambda: fastrelu.bias_relu(x2, bias, out=y2),
        "prelu(x, w, out=y), 4x16x16": lambda: fastrelu.prelu(x3, weight, out=y3),
        "relu_mask(x, out=y)": lambda: fastrelu.relu_mask(x, out=y),
        "relu_backward_mask(g, m, out=y)": lambda: fastrelu.relu_backward_mask(g, mask, out=y),
        "swiglu(x, g, out=y)": lambda: fastrelu.swiglu(x, g, out=y),
        "relu(t, out=u), another framework's arrays": lambda: fastrelu.relu(t, out=u),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print a cProfile of relu(x, out=y)")
    args = parser.parse_args(argv)
    from numba import cuda

    backend = fastrelu.registry._registry["cuda"]
    backend._checked, backend._reason = True, None  # runs without a driver: nothing launches
    backend._cached = lambda *args: _NoLaunch()
    cuda.device_array = device_array  # allocations over host memory
    h200 = type("Device", (), {"id": 0, "MULTIPROCESSOR_COUNT": 132})()
    cuda.get_current_device = lambda: h200  # an H200's grid (no device to ask here)
    # Numba's part of taking another framework's arrays (its import of the
    # interface, a stream object per handle) is left out: fastrelu's only.
    cuda.as_cuda_array = lambda obj, sync=True: obj.array
    cuda.external_stream = lambda handle: type("Stream", (), {"handle": handle})()
    print("| call | general path | with the short path |\n|---|---:|---:|")
    for label, fn in calls().items():
        backend.short_call = lambda *args: None  # declines every call (gated ones too)
        fastrelu.dispatch._device_short_calls.clear()  # found again
        general = per_call_us(fn)
        del backend.short_call  # the method again
        fastrelu.dispatch._device_short_calls.clear()
        print(f"| `{label}` | {general:.1f} us | {per_call_us(fn):.1f} us |", flush=True)
    if args.profile:
        print_profile(calls()["relu(x, out=y)"], calls=20000, lines=20)


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
