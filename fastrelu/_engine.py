"""From a public call to a kernel: validate, pick the backend, allocate, run."""

import numpy as np

from . import _dask, _validate, registry


_FAST_DTYPES = frozenset([np.dtype(np.float32), np.dtype(np.float64)])


def elementwise(activation, direction, arrays, labels, params, out, backend):
    """Apply ``activation`` (forward or backward) elementwise and return ``out``.

    ``arrays`` are the array arguments (``(x,)`` or ``(grad, x)``), ``labels``
    their names for error messages, ``params`` the checked scalar parameters.
    """
    result = _common_case(activation, direction, arrays, params, out, backend)
    if result is not None:
        return result
    return _general_case(activation, direction, arrays, labels, params, out, backend)


def _common_case(activation, direction, arrays, params, out, backend):
    """The call that training loops make, with the fewest checks that make it
    safe: C-contiguous float32/float64 ndarrays of one shape and dtype, and an
    ``out`` that is one of the inputs or shares no memory with them.  Anything
    else returns None and takes the general path, which explains errors."""
    x = arrays[0]
    if type(x) is not np.ndarray or x.dtype not in _FAST_DTYPES or not x.flags.c_contiguous:
        return None
    for a in arrays[1:]:
        if (type(a) is not np.ndarray or a.dtype != x.dtype or a.shape != x.shape
                or not a.flags.c_contiguous):
            return None
    if out is None:
        out = np.empty_like(x)
    elif (type(out) is not np.ndarray or out.dtype != x.dtype or out.shape != x.shape
          or not out.flags.c_contiguous or not out.flags.writeable
          or any(out is not a and np.may_share_memory(out, a) for a in arrays)):
        return None
    chosen = registry.resolve(backend, x)
    if chosen.device:
        return None
    if x.size:
        cast = x.dtype.type
        chosen.run(activation, direction, arrays, out, tuple(cast(p) for p in params))
    return out


def _general_case(activation, direction, arrays, labels, params, out, backend):
    name = activation.name if direction == "forward" else activation.name + "_backward"
    if _dask.any_dask(*arrays, out):
        return _dask.elementwise(activation, direction, arrays, labels, params, out, backend, name)
    arrays = _validate.as_arrays(arrays)
    chosen = registry.resolve(backend, arrays[0])
    if any(registry.is_device_array(a) for a in (*arrays, out)) or chosen.device:
        if not chosen.device:
            raise TypeError(f"{name}: backend {chosen.name!r} takes host (NumPy) arrays, "
                            "but a GPU array was given; use backend='cuda' or 'auto'")
        return chosen.run_device(activation, direction, arrays, labels, out, params, name)
    _validate.check_inputs(name, activation, direction, arrays, labels)
    like = arrays[0]
    if out is not None:
        _validate.check_out(name, out, like)

    if out is None:
        out = np.empty_like(like)
    if out.size == 0:
        return out
    dtype = out.dtype
    if dtype.kind == "u":
        # The integer-taking activations (relu) are the identity on unsigned
        # values; Numba would also type uint64 against a literal 0 as float64.
        np.copyto(out, arrays[0])
        return out
    bit_kernel = activation.half_forward if direction == "forward" else activation.half_backward
    # Numba has no float16 arithmetic on the CPU: without a kernel on the
    # float16 bits, compute in float32 and round once at the end.
    compute = np.dtype(np.float32) if dtype == np.float16 and bit_kernel is None else dtype
    inputs = [a.astype(compute) if a.dtype != compute else a for a in arrays]
    if compute.kind == "f":
        params = tuple(compute.type(p) for p in params)
    target = out
    if compute != dtype or any(_validate.partly_overlaps(out, a) for a in inputs):
        target = np.empty(out.shape, compute)
    chosen.run(activation, direction, inputs, target, params)
    if target is not out:
        np.copyto(out, target, casting="unsafe")
    return out
