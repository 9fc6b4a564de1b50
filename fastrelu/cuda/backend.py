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

from .. import _compiler, _dtypes, registry
from ..definitions import Gated
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
    """Kernels on Numba device arrays: the general path hands each method
    the call's arrays on the device (``arrays``: ``_DeviceCall``), on the
    call's stream, in the layout ``layouts`` names (C-contiguous where
    unnamed), results apart from the inputs or the very same views."""

    name = "cuda"
    device = True
    integers = False
    dtypes = ("float16", "bfloat16", "float32", "float64")
    operations = frozenset({"activation", "relu_mask", "relu_backward_mask", "prelu",
                            "prelu_backward", "gated", "gated_backward", "bias_relu",
                            "bias_relu_backward"})
    layouts = {"activation": "any", "gated": "any"}

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

    def arrays(self, originals, name):
        return _DeviceCall(self, numba_cuda(), originals, name)

    def compute_dtype(self, op, dtype):
        return dtype  # the kernels convert 16-bit floats to float32 and back

    # -- the operations -------------------------------------------------------
    # Kernels launch on the stream the arrays are bound to (``_DeviceCall``).

    def run(self, activation, direction, inputs, out, params):
        formula = activation.forward if direction == "forward" else activation.backward
        self._launch(formula, inputs, out, params)

    def gated(self, gated, gate, up, out):
        """The forward is a formula of two arrays: the activations' kernels."""
        _formulas_jitable(gated)
        self.run(_AsActivation(gated.name, gated.forward), "forward", [gate, up], out, ())

    def gated_backward(self, gated, grad, gate, up, grad_gate, grad_up):
        """Both gradients in one pass (kernels.make_gated_backward_kernel)."""
        _formulas_jitable(gated)
        bits, arrays = _kernel_arrays([grad, gate, up, grad_gate, grad_up])
        kernel = self._cached(("gated_backward", gated, bits), "make_gated_backward_kernel",
                              gated.backward_gate, gated.backward_up, bits)
        kernel[(*_grid(gate.size), grad_gate.stream)](*[_flat_view(a, a.size) for a in arrays])

    # A value per channel: bias_relu (the last axis, inner 1) and PReLU
    # (axis 1): arrays seen as (outer, channels, inner).

    def bias_relu(self, x, bias, out):
        from ..definitions import bias_relu

        self._channel_forward(bias_relu, [x], bias, 1, out)

    def bias_relu_backward(self, grad, x, bias, grad_x):
        from ..definitions import bias_relu_backward

        self._channel_forward(bias_relu_backward, [grad, x], bias, 1, grad_x)

    def prelu(self, x, weight, out):
        from ..definitions import prelu

        self._channel_forward(prelu, [x], weight, _inner(x), out)

    def prelu_backward(self, grad, x, weight, grad_x):
        """Returns the weight gradient, summed per channel in float64, in x's dtype."""
        from ..definitions import prelu_backward, prelu_weight_gradient

        inner = _inner(x)
        self._channel_forward(prelu_backward, [grad, x], weight, inner, grad_x)
        return self.channel_sums(prelu_weight_gradient, [grad, x], weight.size, inner)

    def _channel_forward(self, formula, inputs, values, inner, out):
        """``formula(x, value)`` (or ``formula(grad, x, value)``) per element,
        the value of its channel."""
        bits, arrays = _kernel_arrays([*inputs, values, out])
        flat = [_flat_view(a, a.size) if a.ndim != 1 else a for a in arrays]
        kernel = self._cached(("channel", formula, len(inputs), bits),
                              "make_channel_kernel", formula, len(inputs), bits)
        kernel[(*_grid(out.size), out.stream)](*flat[:-1], inner, flat[-1])

    def channel_sums(self, term, arrays, channels, inner, sums=None):
        """Per channel, the float64 sum of ``term`` over C-contiguous arrays,
        into ``sums`` (a new device array of their dtype by default)."""
        like = arrays[0]
        if sums is None:
            sums = numba_cuda().device_array((channels,), like.dtype, stream=like.stream)
        bits, flat = _kernel_arrays([*[_flat_view(a, a.size) if a.ndim != 1 else a
                                       for a in arrays], sums])
        from . import kernels

        kernel = self._cached(("channel_sum", term, len(arrays), bits),
                              "make_channel_sum_kernel", term, len(arrays), bits)
        blocks = min(channels, _multiprocessors() * BLOCKS_PER_SM) if channels else 1
        kernel[max(blocks, 1), kernels.SUM_THREADS, like.stream](*flat[:-1], channels, inner,
                                                                 flat[-1])
        return sums

    # The 1-bit relu mask (fastrelu.masks): contiguous arrays as flat views.

    def relu_mask(self, x, out, mask):
        self._mask_launch(0, x, out, mask)

    def relu_backward_mask(self, grad, mask, out):
        self._mask_launch(1, grad, out, mask)

    def _mask_launch(self, direction, source, out, mask):
        bits, (source_bits, out_bits) = _kernel_arrays([source, out])
        kernel = self.mask_kernels(bits)[direction]
        kernel[(*_grid(mask.size), out.stream)](_flat_view(source_bits, source.size),
                                                _flat_view(out_bits, out.size), mask)

    def mask_kernels(self, bits):
        return self._cached(("mask", bits), "make_mask_kernels", bits)

    def short_call(self, activation, direction, arrays, out, params):
        """The common call on Numba device arrays in a few microseconds of
        host time (``dispatch.public_function`` asks it first, on the
        default stream): float16, float32 or float64 arrays of one shape,
        C-contiguous, under ``SHORT_CALL_ELEMENTS``, ``out`` None or such an
        array that is an input itself or apart from them.  None for
        anything else, which the general path takes (and explains).  The
        1-D and 2-D kernels take 1-D and 2-D arrays as they are; other
        shapes (0-d, 3-D and more) go to the 1-D kernel as flat views
        (``_flat_view``)."""
        like = arrays[-1]
        if not hasattr(like, "copy_to_host"):  # another framework's: the general path
            return None
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
            if isinstance(activation, Gated):
                _formulas_jitable(activation)
            formula = activation.forward if direction == "forward" else activation.backward
            params = _dtypes.params_in(dtype, params)
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

    def _launch(self, formula, inputs, out, params):
        """``formula`` over the arrays element by element, on ``out``'s stream:
        the vector kernel where they are contiguous and aligned, else
        through their strides (one launch per 2-D slice of N-d arrays)."""
        stream = out.stream
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


class _DeviceCall:
    """The arrays of one call on the cuda backend (``Backend.arrays``; see
    ``_arrays.HostArrays`` for what each method does): GPU arrays used in
    place, host ones copied over, all bound to the call's stream
    (``_stream``); new results of the kind of the call's first array, and
    back on the host where every array came from there."""

    def __init__(self, backend, cuda, originals, name):
        self._backend, self._cuda = backend, cuda
        self._first = originals[0]
        host_call, exported = True, None
        for a in originals:  # one pass: each check costs a few tenths of a microsecond
            if hasattr(a, "copy_to_host"):  # Numba's arrays: the default stream
                host_call = False
            elif (interface := getattr(a, "__cuda_array_interface__", None)) is not None:
                host_call = False
                if exported is None:
                    exported = interface
            elif hasattr(a, "dtype"):
                _refuse_bfloat16_tensors(name, a)
        self._host_call = host_call
        self.stream = _call_stream(cuda, exported)

    def take(self, a):
        return _to_device(self._cuda, a, self.stream)

    def take_all(self, arrays):
        return [self.take(a) for a in arrays]

    def new(self, shape, dtype):
        return _empty(self._cuda, self._first, shape, dtype, self.stream)

    def arrange(self, a, compute, layout):
        if layout == "any" or a.is_c_contiguous():
            return a
        copy = self.empty(a.shape, a.dtype)
        self._backend._launch(_copy, [a], copy, ())
        return copy

    def writable(self, result, compute, layout):
        if not _is_gpu(result):
            return None  # a NumPy out: filled from the GPU afterwards
        target = self.take(result)
        return target if layout == "any" or target.is_c_contiguous() else None

    @staticmethod
    def partly_overlaps(target, source):
        return _overlap(target, source)

    def shares_memory(self, a, b):
        # The same first element: interleaved views (the halves of a packed
        # array) span each other's memory without sharing an element.
        return _address(self.take(a)) == _address(self.take(b))

    def empty(self, shape, dtype):
        return self._cuda.device_array(shape, dtype, stream=self.stream)

    def copy_back(self, target, result):
        if _is_gpu(result):
            self._backend._launch(_copy, [target], self.take(result), ())
        else:
            result[...] = _to_host(target, self.stream).reshape(result.shape)

    def returned(self, result):
        if self._host_call and _is_gpu(result):
            return _to_host(self.take(result), self.stream)
        return result

    def like(self, original, values):
        if not _is_gpu(original):
            return values if isinstance(values, np.ndarray) else _to_host(values, self.stream)
        if isinstance(values, np.ndarray):
            result = _empty(self._cuda, original, values.shape, values.dtype, self.stream)
            self.take(result).copy_to_device(np.ascontiguousarray(values), stream=self.stream)
            return result
        if hasattr(original, "copy_to_host"):  # a Numba array: the backend's own kind
            return values
        result = _empty(self._cuda, original, values.shape, values.dtype, self.stream)
        self._backend._launch(_copy, [values], self.take(result), ())
        return result

    def column_sums(self, a, like):
        from ..definitions import same

        sums = self.new(tuple(like.shape), like.dtype)
        self._backend.channel_sums(same, [self.take(a)], like.size, 1, self.take(sums))
        return sums


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
    """A Numba device array of ``obj`` bound to ``stream``: itself, a view of
    a GPU array of another kind (no copy), or a copy of a host array."""
    if hasattr(obj, "copy_to_host"):  # already a Numba device array (or the simulator's)
        return obj if obj.stream is stream or obj.stream == stream else obj.bind(stream)
    interface = getattr(obj, "__cuda_array_interface__", None)
    if interface is not None:
        # Numba synchronises the stream an array comes from (a host wait at
        # every call) unless told not to: needless where the launch is on
        # that very stream, which orders the work already.
        same = stream is _exported_stream(cuda, interface)  # (streams are made once per handle)
        array = cuda.as_cuda_array(obj, sync=not same)  # zero copy
        return array if same else array.bind(stream)
    return cuda.to_device(np.ascontiguousarray(obj), stream=stream)


def _to_host(array, stream):
    """A device array's values in a new NumPy array, once ``stream`` has made them."""
    host = array.copy_to_host(stream=stream)
    if not isinstance(stream, int):  # 0, the default stream, copies synchronously
        stream.synchronize()
    return host


# --- streams ------------------------------------------------------------------


def _stream(cuda, arrays):
    """The stream a call on ``arrays`` runs on (``_DeviceCall`` reads it)."""
    return _DeviceCall(None, cuda, arrays, "").stream


def _call_stream(cuda, exported):
    """The stream a call runs on: ``stream=`` (or a ``use_stream`` block), else
    the stream its first GPU array comes from (``exported``, that array's
    ``__cuda_array_interface__``: PyTorch and CuPy export their current
    stream), else Numba's default stream, 0."""
    requested = registry.requested_stream()
    if requested is not None:
        return _as_stream(cuda, requested)
    return 0 if exported is None else _exported_stream(cuda, exported)


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
