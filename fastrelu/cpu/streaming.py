"""When relu streams its result past the caches (see streaming_kernel.py).

Kept apart from the kernel so that deciding costs no Numba import.
"""

import platform

import numpy as np

from ..definitions import BUILTIN

#: Outputs from this size up are streamed (beyond the caches of most CPUs).
SMALLEST = 32 << 20

_X86 = platform.machine().lower() in ("x86_64", "amd64")

# Both need out aligned to its element size: the kernels reach 32-byte
# alignment by skipping whole elements, and a non-temporal vector store to
# an unaligned address is a fault (an out at an odd byte address crashed).


def applies(activation, direction, inputs, out):
    """Whether ``streaming_kernel`` should run this call (relu_streaming or
    relu_backward_streaming): built-in relu, forward or backward, not in
    place, large, float32/float64, C-contiguous, on x86-64.  In place the
    lines are read anyway, so streaming the stores saves nothing."""
    return (_X86 and activation is BUILTIN["relu"]
            and len(inputs) == (1 if direction == "forward" else 2)
            and out.nbytes >= SMALLEST and out.dtype in (np.float32, np.float64)
            and out.flags.c_contiguous and out.flags.aligned
            and all(a is not out and a.dtype == out.dtype and a.flags.c_contiguous
                    for a in inputs))


def applies_to_mask(out):
    """Whether relu_mask's forward should stream ``out`` (parallel backend,
    C-contiguous arrays): large, float32/float64, 16-byte aligned (as NumPy
    allocates; its non-temporal stores are 16-byte pieces), on x86-64."""
    return (_X86 and out.nbytes >= SMALLEST and out.dtype in (np.float32, np.float64)
            and out.ctypes.data % 16 == 0)



def applies_to_mask_backward(out_bits):
    """Whether relu_backward_mask should stream ``out_bits`` (the integer view
    of its result; parallel backend, C-contiguous): large, 16-byte aligned,
    on x86-64."""
    return _X86 and out_bits.nbytes >= SMALLEST and out_bits.ctypes.data % 16 == 0
