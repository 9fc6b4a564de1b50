"""The host backends' arrays: how the general path converts, stages and
returns NumPy arrays (``HOST``), and the memory checks it needs.  Imports
nothing of fastrelu but ``_dtypes``, so that the registry can name it as
every backend's default."""

import numpy as np

from . import _dtypes


class HostArrays:
    """The host backends' arrays (NumPy ndarrays): what the general path
    (``dispatch.call``) asks of the arrays of a call, once it knows the
    backend.  A device backend's ``arrays(...)`` gives its own of these."""

    @staticmethod
    def take_all(arrays):
        return arrays  # as_arrays made them ndarrays

    @staticmethod
    def take(a):
        return a  # as_arrays made it an ndarray

    @staticmethod
    def new(shape, dtype):
        return np.empty(shape, dtype)

    @staticmethod
    def arrange(a, compute, layout):
        if layout == "any":
            return a if a.dtype == compute else a.astype(compute)
        if layout == "rows":
            view = rows(a) if a.dtype == compute else None
            return view if view is not None else rows(np.ascontiguousarray(a, dtype=compute))
        return np.ascontiguousarray(a, dtype=compute)

    @staticmethod
    def writable(result, compute, layout):
        """``result`` as the backend writes it (a plain view of an ndarray
        subclass), or None where it must be staged."""
        if not isinstance(result, np.ndarray) or result.dtype != compute:
            return None  # (a non-native byte order differs from compute)
        result = result.view(np.ndarray) if type(result) is not np.ndarray else result
        if layout == "any":
            return result
        if layout == "rows":
            return rows(result)
        return result if result.flags.c_contiguous else None

    @staticmethod
    def partly_overlaps(result, source):
        return partly_overlaps(result, source)

    shares_memory = staticmethod(np.shares_memory)

    empty = new  # on the host the caller's arrays are the backend's

    @staticmethod
    def copy_back(target, result):
        np.copyto(result, target.reshape(result.shape), casting="unsafe")

    @staticmethod
    def returned(result):
        return result

    @staticmethod
    def like(original, values):
        """``values`` (a host array, or one of the backend's) as an array of
        ``original``'s kind."""
        return values

    @staticmethod
    def column_sums(a, like):
        """``a`` summed over every axis but the last, in ``a``'s dtype (16-bit
        floats summed in float32, as PyTorch does: not rounded at each add)."""
        if not a.size:
            return np.zeros(like.shape, a.dtype)
        accumulate = np.float32 if _dtypes.is_half(a.dtype) else a.dtype
        return a.reshape(-1, a.shape[-1]).sum(axis=0, dtype=accumulate).astype(a.dtype)


HOST = HostArrays()


def rows(a):
    """``a`` as a 2-D ``(rows, columns)`` view whose columns are next to each
    other in memory, or None where that takes a copy."""
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.shape[-1] > 1 and a.strides[-1] != a.itemsize:
        return None
    view = a.view()
    try:
        view.shape = (a.size // a.shape[-1], a.shape[-1])  # raises where it needs a copy
    except AttributeError:
        return None
    return view


def partly_overlaps(out, array):
    """True when writing ``out`` element by element could clobber unread ``array`` elements."""
    if out is array or not np.may_share_memory(out, array):
        return False
    same_view = (out.__array_interface__["data"][0] == array.__array_interface__["data"][0]
                 and out.strides == array.strides)
    return not same_view


def partly_overlaps_flat(a, out):
    """Compiled twin of :func:`partly_overlaps` for C-contiguous arrays of
    one shape (the loops' checked entries): other memory, or the very same
    array (the loops read each element before writing it), is safe."""
    start, out_start = a.ctypes.data, out.ctypes.data
    return (out_start != start and out_start < start + a.size * a.itemsize
            and start < out_start + out.size * out.itemsize)
