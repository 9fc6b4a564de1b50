"""The dtypes fastrelu takes, recognised without importing ml_dtypes.

bfloat16 arrays are NumPy arrays of ``ml_dtypes.bfloat16`` (the dtype JAX
uses).  NumPy knows it only as a user dtype of kind "V", so it is told
apart here by name and size; ``import fastrelu`` never imports ml_dtypes.
"""

import functools

import numpy as np

FLOAT16 = np.dtype(np.float16)
FLOAT32 = np.dtype(np.float32)


def is_bfloat16(dtype):
    """Whether ``dtype`` is ml_dtypes' bfloat16 in native byte order."""
    return dtype.kind == "V" and dtype.itemsize == 2 and dtype.name == "bfloat16" and dtype.isnative


def is_half(dtype):
    """16-bit floats (float16, bfloat16): computed in float32 wherever no loop
    works on their bits, and rounded once."""
    return dtype == FLOAT16 or is_bfloat16(dtype)


@functools.cache
def bfloat16():
    """``ml_dtypes.bfloat16``'s dtype, or None where ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


def bits_format(dtype):
    """For the loops on a 16-bit float's bits: "float16", "bfloat16" or None."""
    if dtype == FLOAT16:
        return "float16"
    if is_bfloat16(dtype):
        return "bfloat16"
    return None


#: The integer dtype the loops see a 16-bit float's bits as.
BITS_VIEW = {"float16": np.dtype(np.int16), "bfloat16": np.dtype(np.uint16)}


def params_in(dtype, params):
    """Scalar parameters in the precision a loop on ``dtype`` computes in:
    float32 for the 16-bit floats, else the float itself (integers, which
    take none, as they are)."""
    if dtype.kind != "f" and not is_bfloat16(dtype):
        return params
    cast = np.float32 if dtype.itemsize == 2 else dtype.type
    return tuple(cast(p) for p in params)
