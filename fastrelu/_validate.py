"""Checks on the arguments of a public call. No arithmetic here."""

from typing import NamedTuple

import numpy as np

from ._dtypes import is_bfloat16
from .registry import is_device_array


def as_arrays(values, name="fastrelu"):
    """NumPy arrays (or GPU arrays, untouched) for the array arguments, in
    the form the loops take.

    Array-likes such as lists take the dtype of the first real array among
    the arguments, so ``relu_backward([1, 2], x32)`` works on float32.
    ndarray subclasses (matrix, memmap, ...) are used as plain ndarrays (a
    view: the result is a plain ndarray), arrays in non-native byte order
    as native copies (the result is native, as NumPy's ufuncs give);
    masked arrays are refused here (the activations keep their masks
    before: ``dispatch.call``).
    """
    like = next((v for v in values if isinstance(v, np.ndarray) or is_device_array(v)), None)
    dtype = None if like is None else like.dtype
    arrays = []
    for v in values:
        if isinstance(v, np.ma.MaskedArray):
            raise TypeError(f"{name} does not take masked arrays; pass np.ma.getdata(x) or "
                            "x.filled(value)")
        if is_device_array(v):
            arrays.append(v)
            continue
        v = np.asarray(v, dtype=None if isinstance(v, np.ndarray) else dtype)
        if not v.dtype.isnative:
            v = v.astype(v.dtype.newbyteorder("="))
        arrays.append(v)
    return arrays


class DtypeRule(NamedTuple):
    """Which dtypes an operation takes, as :func:`check_dtype` reads it off an
    activation's Definition: every float, and integers (in the forward only)
    where ``integers``."""

    integers: bool


#: The rule of the operations that take floats only whatever their gate's or
#: epilogue's activation takes (the gated activations, bias_relu).
FLOATS_ONLY = DtypeRule(integers=False)


def check_dtype(name, rule, dtype, direction="forward"):
    """Raise TypeError unless ``rule`` (an activation's Definition, or a
    DtypeRule such as FLOATS_ONLY) takes arrays of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8) or is_bfloat16(dtype):
        return
    if dtype.kind in "iu":
        if rule.integers and direction == "forward":
            return
        raise TypeError(f"{name} does not take integer arrays (got {dtype}); "
                        "convert to float32 or float64 first")
    raise TypeError(f"{name} does not support dtype {dtype}; "
                    "use float16, bfloat16, float32 or float64"
                    + (" or an integer type" if rule.integers else ""))


def check_inputs(name, rule, direction, arrays, labels):
    """Raise unless ``rule`` takes the arrays' dtype and the arrays share one
    shape and one dtype (``labels``: their names in the messages)."""
    first = arrays[0]
    check_dtype(name, rule, first.dtype, direction)
    for array, label in zip(arrays[1:], labels[1:]):
        if tuple(array.shape) != tuple(first.shape):
            raise ValueError(f"{name}: {label} has shape {tuple(array.shape)} but "
                             f"{labels[0]} has shape {tuple(first.shape)}")
        if array.dtype != first.dtype:
            raise TypeError(f"{name}: {label} has dtype {array.dtype} but "
                            f"{labels[0]} has dtype {first.dtype}")


def check_out(name, out, like):
    """Raise unless ``out`` can receive a result shaped and typed like ``like``."""
    if not (isinstance(out, np.ndarray) or is_device_array(out)):
        raise TypeError(f"{name}: out must be an array, not {type(out).__name__}")
    if tuple(out.shape) != tuple(like.shape):
        raise ValueError(f"{name}: out has shape {tuple(out.shape)}, expected {tuple(like.shape)}")
    if isinstance(out, np.ma.MaskedArray):
        raise TypeError(f"{name}: out cannot be a masked array; use the returned array")
    if native(out.dtype) != native(like.dtype):  # the byte order may differ: out is written through a copy
        raise TypeError(f"{name}: out has dtype {out.dtype}, expected {like.dtype}")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError(f"{name}: out is read-only")


def native(dtype):
    """``dtype`` in the machine's byte order."""
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def check_params(name, names, values):
    checked = []
    for pname, value in zip(names, values):
        real = isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, (bool, np.bool_)) or not real:
            raise TypeError(f"{name}: {pname} must be a real number, not {type(value).__name__}")
        checked.append(float(value))
    return tuple(checked)
