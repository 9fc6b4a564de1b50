"""The ``cuda`` backend: ``numba.cuda.jit`` kernels generated from the same
scalar formulas as the CPU backends.

Nothing here imports ``numba.cuda`` until the backend is first asked whether
it can run or is used.  GPU arrays (Numba device arrays, and any object with
``__cuda_array_interface__``: CuPy arrays, PyTorch CUDA tensors) are used in
place; results come back as the same kind of object as the first array
argument (CuPy in, CuPy out; PyTorch in, PyTorch out; otherwise a Numba
device array).  NumPy arguments are copied to the GPU and the result back.
"""

import functools
import math

import numpy as np

from .. import _compiler, _dtypes, _validate, registry
from ..registry import Backend

#: Threads per block of every launch; tests lower it so that several blocks
#: and the grid-stride tail run under the simulator.
THREADS_PER_BLOCK = 512
#: Blocks per multiprocessor: enough resident warps to hide memory latency.
BLOCKS_PER_SM = 32
#: Bytes per load and store of the vector kernel (the widest a thread makes),
#: and its threads per block (perf/gpu_kernel_variants.py chose both).
VECTOR_BYTES = 16
VECTOR_THREADS_PER_BLOCK = 256
#: Fewest blocks per launch: Numba warns about grids under 128 blocks (a hint
#: for kernel authors, not for fastrelu's users, whose small arrays get small
#: grids by design); the blocks past the end of the array return at once.
MIN_BLOCKS = 128
#: Arrays from this many elements take the general path, whose vector
#: kernel (16-byte loads) reaches a device copy's speed; below it a call's
#: host time matters more than the kernel's form.
SHORT_CALL_ELEMENTS = 1 << 22
_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


class CudaBackend(Backend):
    name = "cuda"
    device = True
    dtypes = ("float16", "bfloat16", "float32", "float64")
    operations = frozenset({"activation", "relu_mask", "relu_backward_mask", "prelu",
                            "prelu_backward", "gated", "gated_backward", "bias_relu",
                            "bias_relu_backward"})

    def __init__(self):
        self._reason = None
        self._checked = False
        self._kernels = _compiler.Memo()
        self._fewest = None  # read on the first short call

    def unavailable_reason(self):
        if not self._checked:
            self._reason = _probe()
            self._checked = True
        return self._reason

    def run_device(self, activation, direction, arrays, labels, out, params, name):
        _refuse_bfloat16_tensors(name, *arrays)
        cuda = numba_cuda()
        if hasattr(arrays[-1], "copy_to_host"):  # Numba's arrays take the short path from now
            from .. import dispatch

            dispatch.DEVICE_CALLS.setdefault(type(arrays[-1]), self.short_call)

        host_result = not any(_is_gpu(a) for a in arrays)
        stream = _stream(cuda, (*arrays, out))
        wrapped = [_to_device(cuda, a, stream) for a in arrays]
        _validate.check_inputs(name, activation, direction, wrapped, labels)
        like = wrapped[0]
        out_on_gpu = out is not None and _is_gpu(out)
        gpu_out = _to_device(cuda, out, stream) if out_on_gpu else None
        if out is not None:
            _validate.check_out(name, gpu_out if out_on_gpu else out, like)
        dtype = like.dtype
        if dtype.kind in "iu":  # integers: relu only (validated above)
            raise TypeError(f"{name}: the cuda backend takes {_FLOATS} arrays, not {dtype}")
        if params:  # 16-bit floats are computed in float32
            params = tuple((np.float32 if _dtypes.is_half(dtype) else dtype.type)(p) for p in params)

        if out is None:
            result_obj = _empty(cuda, arrays[0], like.shape, like.dtype, stream)
            device_out = _to_device(cuda, result_obj, stream)
        elif out_on_gpu:
            result_obj, device_out = out, gpu_out
        else:  # a NumPy out: compute on the GPU, then copy into it
            result_obj, device_out = out, cuda.device_array(like.shape, dtype, stream=stream)
        if like.size:
            staged = device_out
            if out is not None and any(_overlap(device_out, a) for a in wrapped):
                staged = cuda.device_array(like.shape, dtype, stream=stream)
            formula = activation.forward if direction == "forward" else activation.backward
            self._launch(cuda, formula, wrapped, staged, params, stream)
            if staged is not device_out:
                self._launch(cuda, _copy, [staged], device_out, (), stream)
        if out is not None and not out_on_gpu:
            out[...] = _to_host(device_out, stream)
            return out
        if host_result and out is None:
            return _to_host(device_out, stream)
        return result_obj

    def array_like(self, original, values):
        cuda = numba_cuda()
        stream = _stream(cuda, (original,))
        result = _empty(cuda, original, values.shape, values.dtype, stream)
        _to_device(cuda, result, stream).copy_to_device(np.ascontiguousarray(values),
                                                        stream=stream)
        return result

    def short_call(self, activation, direction, arrays, out, backend, params):
        """The common call on Numba device arrays in a few microseconds of
        host time (``dispatch.DEVICE_CALLS``): float16, float32 or float64
        arrays of one shape, C-contiguous, under ``SHORT_CALL_ELEMENTS``, on the
        default stream, ``out`` None or such an array that is an input
        itself or apart from them.  None for anything else, which
        ``run_device`` takes (and explains).  The 1-D and 2-D kernels take
        1-D and 2-D arrays as they are; other shapes (0-d, 3-D and more) go
        to the 1-D kernel as flat views (``_flat_view``)."""
        chosen = backend if backend is not None else (registry._block_default.get()
                                                       or registry._process_default)
        if (chosen != "cuda" and chosen != "auto") or registry.requested_stream() is not None:
            return None
        like = arrays[-1]
        dtype, shape, kind = like.dtype, like.shape, type(like)
        if dtype is _F32 or dtype is _F64:
            bits = None
        elif dtype is _F16:
            bits = "float16"  # computed in float32 (kernels.conversions)
        else:
            return None
        n = like.size
        if n >= SHORT_CALL_ELEMENTS:
            return None  # large: the vector kernel's device speed matters more
        for a in arrays:
            if type(a) is not kind or a.dtype is not dtype or a.shape != shape or (
                    not a.is_c_contiguous()):
                return None
        if out is None:
            out = numba_cuda().device_array(shape, dtype)
        elif (type(out) is not kind or out.dtype is not dtype or out.shape != shape
              or not out.is_c_contiguous()):
            return None
        else:
            end = (target := _address(out)) + n * dtype.itemsize
            for a in arrays:  # the very same memory is fine, a part of it is not
                start = _address(a)
                if start != target and start < end and target < start + n * dtype.itemsize:
                    return None
        if n:
            formula = activation.forward if direction == "forward" else activation.backward
            if params:
                params = tuple((np.float32 if bits else dtype.type)(p) for p in params)
            ndim = len(shape)
            if ndim == 1 or ndim == 2:
                kernel = self.kernel(formula, len(arrays), ndim, bits)
                kernel[self._short_grid(n)](*arrays, out, params)
            else:
                kernel = self.kernel(formula, len(arrays), 1, bits)
                kernel[self._short_grid(n)](*[_flat_view(a, n) for a in arrays],
                                            _flat_view(out, n), params)
        return out

    def _short_grid(self, n):
        """``_grid`` for the short path, on the default stream."""
        if self._fewest is None:
            self._fewest = _fewest_blocks()
        blocks = min(-(-n // THREADS_PER_BLOCK), _multiprocessors() * BLOCKS_PER_SM)
        return max(self._fewest, blocks), THREADS_PER_BLOCK, 0

    # -- a value per channel: bias_relu (the last axis) and PReLU (axis 1) -----
    # Arrays are seen as (outer, channels, inner), C-contiguous.

    def bias_relu_device(self, x, bias, out, name):
        from ..definitions import bias_relu

        cuda = numba_cuda()
        stream = _stream(cuda, (x, bias, out))
        (device_x,), device_bias = self._per_channel(cuda, name, (x,), bias, "bias", stream)
        return self._channel_forward(cuda, bias_relu, x, device_x, device_bias, 1, out, name,
                                     stream)

    def bias_relu_backward_device(self, grad, x, bias, name):
        """``grad_x`` in one pass; ``grad_bias``, its sum over rows, in a second."""
        from ..definitions import bias_relu_backward, same

        cuda = numba_cuda()
        stream = _stream(cuda, (grad, x, bias))
        (device_grad, device_x), device_bias = self._per_channel(cuda, name, (grad, x), bias,
                                                                 "bias", stream)
        grad_x = self._channel_forward(cuda, bias_relu_backward, x, device_x, device_bias, 1,
                                       None, name, stream, grad=device_grad, host=False)
        grad_bias = self._channel_sums(cuda, same, [_to_device(cuda, grad_x, stream)],
                                       device_bias.size, 1, x, stream)
        if not any(_is_gpu(a) for a in (grad, x, bias)):
            return _to_host(grad_x, stream), _to_host(grad_bias, stream)
        return grad_x, grad_bias

    def prelu_device(self, x, weight, out, name):
        """``weight`` is a host array, checked: one slope, or one per channel."""
        _refuse_bfloat16_tensors(name, x)
        from ..definitions import prelu

        cuda = numba_cuda()
        stream = _stream(cuda, (x, out))
        (device_x,), slopes = self._per_channel(cuda, name, (x,), weight, None, stream)
        return self._channel_forward(cuda, prelu, x, device_x, slopes, _inner(device_x), out,
                                     name, stream)

    def prelu_backward_device(self, grad, x, weight, out, name):
        """``(grad_x, grad_weight)``; ``grad_weight`` of the weight's kind and
        shape (a host weight: a host array, in float64 summed and rounded to
        x's dtype)."""
        _refuse_bfloat16_tensors(name, x)
        from ..definitions import prelu_backward, prelu_weight_gradient

        cuda = numba_cuda()
        stream = _stream(cuda, (grad, x, out))
        (device_grad, device_x), slopes = self._per_channel(cuda, name, (grad, x), weight, None,
                                                            stream)
        inner = _inner(device_x)
        grad_x = self._channel_forward(cuda, prelu_backward, x, device_x, slopes, inner, out,
                                       name, stream, grad=device_grad)
        sources = [self._contiguous(cuda, a, stream) for a in (device_grad, device_x)]
        on_device = _is_gpu(weight)
        sums = self._channel_sums(cuda, prelu_weight_gradient, sources, slopes.size, inner,
                                  weight if on_device else None, stream)
        if on_device:
            return grad_x, sums.reshape(tuple(weight.shape))
        return grad_x, _to_host(sums, stream)

    def _per_channel(self, cuda, name, arrays, values, label, stream):
        """The arrays on the device, checked (floats of one dtype and shape),
        and the per-channel values in their dtype, contiguous.  ``label``
        "bias": one value per column (the last axis), checked here; None:
        PReLU's weight, a host array the caller checked."""
        wrapped = [_to_device(cuda, a, stream) for a in arrays]
        labels = ("grad", "x") if len(arrays) == 2 else ("x",)
        _validate.check_inputs(name, _validate.FLOATS_ONLY, "forward", wrapped, labels)
        like = wrapped[-1]
        if not _is_gpu(values):  # a host array (any array-like) in x's dtype
            values = np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=like.dtype)
        device_values = self._contiguous(cuda, _to_device(cuda, values, stream), stream)
        if device_values.ndim != 1:  # one value given as a 0-d or (1, 1) array
            device_values = device_values.reshape(device_values.size)
        if device_values.dtype != like.dtype:  # (host values were cast above)
            raise TypeError(f"{name}: {label or 'weight'} is {device_values.dtype} but x is "
                            f"{like.dtype}")
        if label == "bias":
            shape = tuple(like.shape)  # (the simulator's shapes take no negative index)
            if not shape or tuple(device_values.shape) != shape[-1:]:
                raise ValueError(f"{name}: bias must have shape ({shape[-1] if shape else '...'},"
                                 "), one value per column of x (last axis), got "
                                 f"{tuple(device_values.shape)}")
        return wrapped, device_values

    def _channel_forward(self, cuda, formula, original, device_x, values, inner, out, name,
                         stream, grad=None, host=True):
        """``formula(x, value)`` (or ``formula(grad, x, value)`` given ``grad``)
        per element, the value of its channel; the result like ``run_device``'s
        (``host`` False: a device array even for host input)."""
        like = device_x
        result_obj, device_out = _destination(cuda, original, like, out, name, stream)
        inputs = [device_x] if grad is None else [grad, device_x]
        staged = device_out
        if not device_out.is_c_contiguous() or any(_overlap(device_out, a) for a in inputs):
            staged = cuda.device_array(like.shape, like.dtype, stream=stream)
        if like.size:
            sources = [self._contiguous(cuda, a, stream) for a in inputs]
            bits, arrays = _kernel_arrays([*sources, values, staged])
            flat = [_flat_view(a, a.size) if a.ndim != 1 else a for a in arrays]
            kernel = self._cached(("channel", formula, len(inputs), bits),
                                  "make_channel_kernel", formula, len(inputs), bits)
            kernel[(*_grid(like.size), stream)](*flat[:-1], inner, flat[-1])
            if staged is not device_out:
                self._launch(cuda, _copy, [staged], device_out, (), stream)
        if out is not None and not _is_gpu(out):
            out[...] = _to_host(device_out, stream)
            return out
        if host and out is None and not _is_gpu(original):
            return _to_host(device_out, stream)
        return result_obj

    def _channel_sums(self, cuda, term, arrays, channels, inner, original, stream):
        """Per channel, the float64 sum of ``term`` over contiguous arrays:
        a device array of the arrays' dtype (of ``original``'s kind, if given)."""
        like = arrays[0]
        sums_obj = (_empty(cuda, original, (channels,), like.dtype, stream) if original is not None
                    else cuda.device_array((channels,), like.dtype, stream=stream))
        sums = _to_device(cuda, sums_obj, stream)
        bits, flat = _kernel_arrays([*[_flat_view(a, a.size) if a.ndim != 1 else a for a in arrays],
                                     sums])
        from . import kernels

        kernel = self._cached(("channel_sum", term, len(arrays), bits),
                              "make_channel_sum_kernel", term, len(arrays), bits)
        blocks = min(channels, _multiprocessors() * BLOCKS_PER_SM) if channels else 1
        kernel[max(blocks, 1), kernels.SUM_THREADS, stream](*flat[:-1], channels, inner, flat[-1])
        return sums_obj

    # -- gated activations: act(gate) * up -----------------------------------

    def gated_device(self, gated, gate, up, out, name):
        """The forward is a formula of two arrays: the activations' kernels,
        through the short path where Numba's arrays allow it."""
        _refuse_bfloat16_tensors(name, gate)
        _formulas_jitable(gated)
        activation = _AsActivation(gated.name, gated.forward)
        if hasattr(up, "copy_to_host"):  # a Numba array (short_call declines other mixes)
            result = self.short_call(activation, "forward", [gate, up], out, "cuda", ())
            if result is not None:
                return result
        return self.run_device(activation, "forward", [gate, up], ("gate", "up"), out, (), name)

    def gated_backward_device(self, gated, grad, gate, up, out, name):
        """Both gradients in one pass (kernels.make_gated_backward_kernel)."""
        _refuse_bfloat16_tensors(name, gate)
        cuda = numba_cuda()
        _formulas_jitable(gated)
        originals = (grad, gate, up)
        stream = _stream(cuda, (*originals, *(out or ())))
        wrapped = [_to_device(cuda, a, stream) for a in originals]
        _validate.check_inputs(name, _validate.FLOATS_ONLY, "forward", wrapped, ("grad", "gate", "up"))
        like = wrapped[1]
        if out is None:
            results = [_empty(cuda, gate, like.shape, like.dtype, stream) for _ in range(2)]
        else:
            results = list(out)
        targets = []
        for result in results:
            if not _is_gpu(result):
                _validate.check_out(name, result, like)  # a NumPy out: filled from the GPU
                targets.append(cuda.device_array(like.shape, like.dtype, stream=stream))
            else:
                device = _to_device(cuda, result, stream)
                _validate.check_out(name, device, like)
                targets.append(device)
        if like.size:
            sources = [self._contiguous(cuda, a, stream) for a in wrapped]
            staged = [t if t.is_c_contiguous() and not any(_overlap(t, s) for s in wrapped)
                      else cuda.device_array(like.shape, like.dtype, stream=stream)
                      for t in targets]
            bits, arrays = _kernel_arrays([*sources, *staged])
            kernel = self._cached(("gated_backward", gated, bits), "make_gated_backward_kernel",
                                  gated.backward_gate, gated.backward_up, bits)
            flat = [_flat_view(a, a.size) for a in arrays]
            kernel[(*_grid(like.size), stream)](*flat)
            for target, stage in zip(targets, staged):
                if stage is not target:
                    self._launch(cuda, _copy, [stage], target, (), stream)
        host = not any(_is_gpu(a) for a in originals)
        values = []
        for result, target in zip(results, targets):
            if not _is_gpu(result):
                result[...] = _to_host(target, stream)
                values.append(result)
            else:
                values.append(result)
        if out is None and host:
            return tuple(_to_host(t, stream) for t in targets)
        return tuple(values)

    def _contiguous(self, cuda, array, stream):
        if array.is_c_contiguous():
            return array
        copy = cuda.device_array(array.shape, array.dtype, stream=stream)
        self._launch(cuda, _copy, [array], copy, (), stream)
        return copy

    # -- the 1-bit relu mask (fastrelu.masks) ---------------------------------

    def relu_mask_device(self, x, out, name):
        _refuse_bfloat16_tensors(name, x)
        from ..definitions import BUILTIN, mask_size

        cuda = numba_cuda()
        stream = _stream(cuda, (x, out))
        device_x = _to_device(cuda, x, stream)
        _validate.check_inputs(name, BUILTIN["relu"], "forward", [device_x], ("x",))
        self._check_float(name, device_x.dtype)
        mask_obj = _empty(cuda, x, (mask_size(device_x.size),), np.uint8, stream)
        y = self._mask_launch(cuda, "forward", x, device_x, out,
                              _to_device(cuda, mask_obj, stream), name, stream)
        if not _is_gpu(x) and not _is_gpu(out):
            return y, _to_host(mask_obj, stream)
        return y, mask_obj

    def relu_backward_mask_device(self, grad, mask, out, name):
        _refuse_bfloat16_tensors(name, grad)
        from ..definitions import BUILTIN, mask_size

        cuda = numba_cuda()
        stream = _stream(cuda, (grad, mask, out))
        device_grad = _to_device(cuda, grad, stream)
        _validate.check_dtype(name, BUILTIN["relu"], device_grad.dtype, "backward")
        self._check_float(name, device_grad.dtype)
        device_mask = _to_device(cuda, mask, stream)
        expected = (mask_size(device_grad.size),)
        if device_mask.dtype != np.uint8 or tuple(device_mask.shape) != expected:
            raise ValueError(f"{name}: mask must be a uint8 array of shape {expected}, "
                             f"got {device_mask.dtype} {tuple(device_mask.shape)}")
        return self._mask_launch(cuda, "backward", grad, device_grad, out, device_mask, name,
                                 stream)

    @staticmethod
    def _check_float(name, dtype):
        if dtype.kind != "f" and not _dtypes.is_bfloat16(dtype):
            raise TypeError(f"{name}: the cuda backend takes {_FLOATS} arrays, not {dtype}")

    def _mask_launch(self, cuda, direction, original, source, out, mask, name, stream):
        """Run a mask kernel on contiguous 1-D views; return the result like ``run_device``."""
        result_obj, device_out = _destination(cuda, original, source, out, name, stream)
        contiguous = source
        if not source.is_c_contiguous():
            contiguous = cuda.device_array(source.shape, source.dtype, stream=stream)
            self._launch(cuda, _copy, [source], contiguous, (), stream)
        staged = device_out
        if not device_out.is_c_contiguous() or _overlap(device_out, source):
            staged = cuda.device_array(source.shape, source.dtype, stream=stream)
        if source.size:
            bits, (contiguous_bits, staged_bits) = _kernel_arrays([contiguous, staged])
            kernels = self.mask_kernels(bits)
            kernel = kernels[0 if direction == "forward" else 1]
            kernel[(*_grid(mask.size), stream)](_flat_view(contiguous_bits, contiguous.size),
                                                _flat_view(staged_bits, staged.size), mask)
        if staged is not device_out:
            self._launch(cuda, _copy, [staged], device_out, (), stream)
        if out is not None and not _is_gpu(out):
            out[...] = _to_host(device_out, stream)
            return out
        if out is None and not _is_gpu(original):
            return _to_host(device_out, stream)
        return result_obj

    def mask_kernels(self, bits):
        return self._cached(("mask", bits), "make_mask_kernels", bits)

    # -- kernels ------------------------------------------------------------
    # ``bits``: the 16-bit float of the data ("float16", "bfloat16") or None
    # (kernels.conversions); bfloat16 arrays reach kernels as int16 views.

    def kernel(self, formula, arity, ndim, bits):
        return self._cached((formula, arity, ndim, bits), "make_kernel", formula, arity, ndim, bits)

    def vector_kernel(self, formula, arity, dtype, bits):
        return self._cached(("vector", formula, arity, dtype, bits), "make_vector_kernel",
                            formula, arity, dtype, VECTOR_BYTES // dtype.itemsize, bits)

    def _cached(self, key, maker, *args):
        """The kernel that ``kernels.<maker>(*args)`` makes, made once per
        key (compiling happens later, per argument types, in Numba's
        dispatcher); the kernel module is imported on the first miss."""
        def make():
            from . import kernels

            return getattr(kernels, maker)(*args)

        return self._kernels.get(key, make)

    def _launch(self, cuda, formula, inputs, out, params, stream):
        bits, arrays = _kernel_arrays([*inputs, out])
        if formula is _copy:
            bits = None  # a copy moves the values (or bits) as they are
        out = arrays[-1]
        flat, contiguous = _flat(arrays)
        if contiguous and len(inputs) <= 2 and all(_address(a) % VECTOR_BYTES == 0 for a in flat):
            kernel = self.vector_kernel(formula, len(inputs), out.dtype, bits)
            kernel[(*_vector_grid(out.size, out.dtype.itemsize), stream)](*flat, params)
            return
        if flat is not None:
            groups = [flat]
        elif out.ndim == 2:
            groups = [arrays]
        else:  # N-d and strided: one launch per 2-D slice
            groups = [[a[index] for a in arrays] for index in np.ndindex(*out.shape[:-2])]
        for group in groups:
            kernel = self.kernel(formula, len(inputs), group[-1].ndim, bits)
            kernel[(*_grid(group[-1].size), stream)](*group, params)


def _copy(x):
    return x


_FLOATS = "float16, bfloat16, float32 or float64"


def _kernel_arrays(arrays):
    """``(bits, arrays)``: the 16-bit float of the data (see kernels.conversions)
    and the arrays a kernel takes: bfloat16 ones as int16 views (Numba has no
    bfloat16 type; its device arrays hold one as bytes)."""
    bits = _dtypes.bits_format(np.dtype(arrays[-1].dtype))
    if bits == "bfloat16":
        arrays = [a.view(np.int16) for a in arrays]
    return bits, arrays


def _refuse_bfloat16_tensors(name, *arrays):
    """bfloat16 on the GPU comes in Numba device arrays (or host ml_dtypes
    arrays): PyTorch's bfloat16 CUDA tensors have no array interface."""
    # NumPy's dtypes (Numba's and CuPy's arrays) are passed over unprinted:
    # str() of one took 1-2 us, on every call of the general path.
    if any(not isinstance(dtype := getattr(a, "dtype", None), np.dtype)
           and str(dtype) == "torch.bfloat16" for a in arrays):
        raise NotImplementedError(f"{name}: the cuda backend does not take bfloat16 CUDA tensors "
                                  "yet; use float16 or float32 tensors, or bfloat16 on the CPU")


_made_jitable = _compiler.Memo()


def _formulas_jitable(gated):
    """A gated formula calls its activation's: each callable from kernels
    (once per gated activation; a few microseconds a call otherwise)."""
    _made_jitable.get(gated, lambda: [_compiler.jitable(f) for f in gated.formulas])


class _AsActivation:
    """A gated forward seen as an activation of two arrays (floats only)."""

    integers = False

    def __init__(self, name, forward):
        self.name, self.forward = name, forward


def _inner(x):
    """Elements per channel and outer index of PReLU's (outer, channels, inner)
    view: the product of the axes after axis 1."""
    return math.prod(tuple(x.shape)[2:])


def numba_cuda():
    """Import and return ``numba.cuda``.

    numba-cuda (0.30 and older) registers an overload for ``numpy.row_stack``
    while compiling its first kernel, and NumPy 2.5 removed that alias of
    ``numpy.vstack``: every kernel then fails with AttributeError.  We put
    the alias back, as it was, before numba-cuda looks for it.
    """
    global _numba_cuda
    if _numba_cuda is None:
        if not hasattr(np, "row_stack"):
            np.row_stack = np.vstack
        from numba import cuda

        _numba_cuda = cuda
    return _numba_cuda


_numba_cuda = None


def _probe():
    try:
        cuda = numba_cuda()
    except ImportError:
        return "numba-cuda is not installed (pip install 'fastrelu[cuda]')"
    try:
        if not cuda.is_available():
            return "no CUDA GPU or driver was found"
    except Exception as exc:  # a broken driver must not crash backends()
        return f"CUDA failed to initialise: {exc}"
    return None


def _is_gpu(obj):
    return hasattr(obj, "copy_to_host") or hasattr(obj, "__cuda_array_interface__")


def _to_device(cuda, obj, stream):
    """A Numba device array of ``obj``: itself, a view of a GPU array of
    another kind (no copy), or a copy of a host array made on ``stream``."""
    if hasattr(obj, "copy_to_host"):  # already a Numba device array (or the simulator's)
        return obj
    interface = getattr(obj, "__cuda_array_interface__", None)
    if interface is not None:
        # Numba synchronises the stream an array comes from (a host wait at
        # every call) unless told not to: needless where the launch is on
        # that very stream, which orders the work already.
        same = stream is _exported_stream(cuda, interface)  # (streams are made once per handle)
        return cuda.as_cuda_array(obj, sync=not same)  # zero copy
    return cuda.to_device(np.ascontiguousarray(obj), stream=stream)


def _destination(cuda, original, like, out, name, stream):
    """``(what a call returns, the device array its kernel writes)``: a new
    array of ``original``'s kind (``_empty``), a GPU ``out`` itself, or for
    a NumPy ``out`` a device array the caller copies into it afterwards."""
    if out is None:
        result = _empty(cuda, original, like.shape, like.dtype, stream)
        return result, _to_device(cuda, result, stream)
    device_out = (_to_device(cuda, out, stream) if _is_gpu(out)
                  else cuda.device_array(like.shape, like.dtype, stream=stream))
    _validate.check_out(name, device_out if _is_gpu(out) else out, like)
    return out, device_out


def _to_host(array, stream):
    """A device array's values in a new NumPy array, once ``stream`` has made them."""
    host = array.copy_to_host(stream=stream)
    if not isinstance(stream, int):  # 0, the default stream, copies synchronously
        stream.synchronize()
    return host


# --- streams ------------------------------------------------------------------


def _stream(cuda, arrays):
    """The stream a call runs on: ``stream=`` (or a ``use_stream`` block), else
    the stream the first GPU array comes from (what PyTorch and CuPy export
    in ``__cuda_array_interface__``: their current stream), else Numba's
    default stream, 0."""
    requested = registry.requested_stream()
    if requested is not None:
        return _as_stream(cuda, requested)
    for array in arrays:
        if not hasattr(array, "copy_to_host"):  # Numba's arrays: the default stream
            interface = getattr(array, "__cuda_array_interface__", None)
            if interface is not None:
                return _exported_stream(cuda, interface)
    return 0


def _as_stream(cuda, stream):
    """A Numba stream (or 0) for a Numba, PyTorch or CuPy stream or a raw handle."""
    if isinstance(stream, bool):
        raise TypeError(f"stream must be a stream or a handle (an int), not {stream!r}")
    if isinstance(stream, int):
        return _external_stream(cuda, stream)
    if hasattr(stream, "auto_synchronize"):  # a Numba stream
        return stream
    for attribute in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy.cuda.Stream
        handle = getattr(stream, attribute, None)
        if isinstance(handle, int):
            return _external_stream(cuda, handle)
    raise TypeError("stream must be a Numba, PyTorch or CuPy stream or a raw CUstream handle "
                    f"(an int), not {type(stream).__name__}")


def _exported_stream(cuda, interface):
    """The stream an array's ``__cuda_array_interface__`` says its data is
    made on (None there: no stream to order with, so the default one)."""
    handle = interface.get("stream")
    return 0 if handle is None else _external_stream(cuda, handle)


_external_streams: dict = {}


def _external_stream(cuda, handle):
    """Numba's stream object for a handle made elsewhere, made once per handle
    (0: Numba's default stream)."""
    if handle == 0:
        return 0
    stream = _external_streams.get(handle)
    if stream is None:
        stream = _external_streams[handle] = cuda.external_stream(handle)
    return stream


def _empty(cuda, original, shape, dtype, stream):
    """A new device array of the same kind as the caller's first array."""
    module = type(original).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        return cupy.empty(shape, dtype)
    if module == "torch":
        import torch

        torch_dtype = torch.from_numpy(np.empty(0, dtype)).dtype
        return torch.empty(shape, dtype=torch_dtype, device=original.device)
    return cuda.device_array(shape, dtype, stream=stream)


def _flat(arrays):
    """The arrays as 1-D views where they allow one (else None), and whether
    those are contiguous."""
    for order, contiguous in (("C", "is_c_contiguous"), ("F", "is_f_contiguous")):
        if all(getattr(a, contiguous)() for a in arrays):
            return [_flat_view(a, a.size, order) if a.ndim != 1 else a for a in arrays], True
    if all(a.ndim == 1 for a in arrays):
        return arrays, False  # strided 1-D: the kernel indexes through the strides
    return None, False


def _flat_view(array, n, order="C"):
    """A 1-D view, in memory order, of a Numba device array of ``n``
    elements, contiguous in ``order``, made directly over its memory:
    Numba's ``reshape`` goes through its dummy-array bookkeeping, a quarter
    of a 3-D call's host time."""
    plain = _numba_device_array()
    if type(array) is not plain:  # the simulator's arrays, mapped memory
        return array.reshape(n, order=order)
    return plain((n,), (array.dtype.itemsize,), array.dtype, stream=array.stream,
                 gpu_data=array.gpu_data)


@functools.cache
def _numba_device_array():
    """Numba's device array class; None under the simulator (its arrays are others)."""
    from numba.cuda.cudadrv import devicearray

    return getattr(devicearray, "DeviceNDArray", None)


def _address(array):
    """Where the array's first element is in device memory."""
    pointer = getattr(array, "device_ctypes_pointer", None)
    if pointer is None:  # the simulator's arrays wrap NumPy arrays
        return array.__array_interface__["data"][0]
    return pointer.value or 0


def _extent(a):
    """The first and one past the last byte ``a`` touches, where it starts, its strides."""
    start, strides = _address(a), tuple(a.strides)
    low = high = start
    for n, stride in zip(a.shape, strides):
        if stride < 0:
            low += (n - 1) * stride
        else:
            high += (n - 1) * stride
    return low, high + a.dtype.itemsize, start, strides


def _overlap(out, array):
    """True when ``out`` partly overlaps ``array`` (exact aliasing is fine)."""
    if out is array:
        return False
    a, b = _extent(out), _extent(array)
    if a[2:] == b[2:]:
        return False
    return a[0] < b[1] and b[0] < a[1]


@functools.cache
def _multiprocessors():
    """The multiprocessor count of the device the first launch runs on, read
    once per process: asking Numba for the current device takes driver
    calls, and this only sizes grids (every kernel loops over the whole
    array on any grid), so a second GPU of another size gets the first
    one's grid sizes, not a wrong result."""
    from numba import cuda

    return getattr(cuda.get_current_device(), "MULTIPROCESSOR_COUNT", 1)


def _fewest_blocks():
    """MIN_BLOCKS on a GPU; 1 under the simulator, which runs every thread as
    Python and warns about no grid."""
    import numba

    return 1 if numba.config.ENABLE_CUDASIM else MIN_BLOCKS


def _vector_grid(n, itemsize):
    """Blocks and threads for the vector kernel on n elements: a thread per
    whole vector and one per element left after them."""
    lanes = VECTOR_BYTES // itemsize
    threads = n // lanes + n % lanes
    return max(_fewest_blocks(), -(-threads // VECTOR_THREADS_PER_BLOCK)), VECTOR_THREADS_PER_BLOCK


def _grid(n):
    blocks = max(_fewest_blocks(),
                 min(math.ceil(n / THREADS_PER_BLOCK), _multiprocessors() * BLOCKS_PER_SM))
    return blocks, THREADS_PER_BLOCK
