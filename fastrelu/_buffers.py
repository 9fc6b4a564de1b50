"""Result arrays for calls without ``out=``: large ones are reused.

A fresh large array costs a page fault per 4 KiB page on its first write,
which makes an allocating relu run at half the speed of a copy.  So the
results of large allocating calls are kept here, and one is handed out
again, for a result of the same shape and dtype, once nothing but this pool
holds it any more: its reference count says so (views, memoryviews, PyTorch
tensors and Dask graphs made from an array all hold a reference to it).
The pool holds at most ``_config.REUSE_BYTES`` (0 turns it off).
"""

import math
import sys
import threading

import numpy as np

from . import _config

#: Below this a fresh array costs little next to the call itself.
SMALLEST = 1 << 20

_lock = threading.Lock()
_pool: list[np.ndarray] = []  # oldest first


def empty(shape, dtype):
    """An uninitialised C-contiguous array that no one else holds."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * math.prod(shape)
    if nbytes < SMALLEST or nbytes > _config.REUSE_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        for i in range(len(_pool)):
            # Two references, the pool's list and getrefcount's argument,
            # mean no one else holds it (no loop variable: it would count).
            if (_pool[i].shape == shape and _pool[i].dtype == dtype
                    and sys.getrefcount(_pool[i]) == 2):
                array = _pool.pop(i)
                _pool.append(array)  # most recently used last
                return array
        array = np.empty(shape, dtype)
        _pool.append(array)
        while sum(a.nbytes for a in _pool) > _config.REUSE_BYTES:
            _pool.pop(0)  # the oldest goes, whether or not it is still in use
        return array


def clear():
    """Drop the pool's references (arrays still in use stay with their holders)."""
    with _lock:
        _pool.clear()
