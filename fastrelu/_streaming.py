"""When relu streams its result past the caches (see _streaming_kernel.py).

Kept apart from the kernel so that deciding costs no Numba import.
"""

import platform

import numpy as np

from .definitions import BUILTIN

#: Outputs from this size up are streamed (beyond the caches of most CPUs).
SMALLEST = 32 << 20

_X86 = platform.machine().lower() in ("x86_64", "amd64")

# Both need out aligned to its element size: the kernels reach 32-byte
# alignment by skipping whole elements, and a non-temporal vector store to
# an unaligned address is a fault (an out at an odd byte address crashed).


def applies(activation, direction, inputs, out):
    """Whether ``_streaming_kernel.relu_streaming`` should run this call:
    built-in relu forward, not in place, large, float32/float64,
    C-contiguous, on x86-64."""
    return (_X86 and activation is BUILTIN["relu"] and direction == "forward"
            and len(inputs) == 1 and inputs[0] is not out and out.nbytes >= SMALLEST
            and out.dtype in (np.float32, np.float64) and out.dtype == inputs[0].dtype
            and out.flags.c_contiguous and inputs[0].flags.c_contiguous and out.flags.aligned)


def applies_to_mask(out):
    """Whether relu_mask's forward should stream ``out`` (parallel backend,
    C-contiguous arrays): large, float32/float64, 16-byte aligned (as NumPy
    allocates; its non-temporal stores are 16-byte pieces), on x86-64."""
    return (_X86 and out.nbytes >= SMALLEST and out.dtype in (np.float32, np.float64)
            and out.ctypes.data % 16 == 0)

