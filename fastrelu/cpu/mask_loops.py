"""CPU loops of the 1-bit relu mask; imported on first use (it imports Numba).

float32/float64 forward: vector IR, eight elements compared at once and the
comparison read as their mask byte.  Backward: a select of eight elements
by the lanes of their mask byte, on the values or their integer bits, which
keeps NaN and -0 exactly and writes every element with a full store.
Forward on float16 and integer data: on the integer bits (int16/32/64 views).
"""

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import _compiler
from . import streaming
from .streaming_kernel import _store_fence
from .pool import run_parallel
from .._arrays import partly_overlaps_flat as _partly_overlaps
from ..definitions import mask_size, relu

#: Mask bytes per chunk of work: 4096 elements, small enough that a chunk's
#: staging bytes stay in cache and that 1e5 elements share out evenly among
#: threads (7 chunks of 16384 gave two threads 4 and 3: the loop ran 1.25x
#: relu's time, with 25 chunks 1.05x), large enough to make the loop
#: overhead negligible.
CHUNK_BYTES = 512

# Multiplying eight 0/1 bytes by this gathers their bits into the top byte,
# the first (lowest-addressed) byte's bit lowest.
_GATHER = np.uint64(0x0102040810204080)
_TOP_BYTE = np.uint64(56)


def _forward_chunk(bits, out, flags, mask, low, high):
    # Slices indexed from 0: simple enough for LLVM to vectorise.
    for t in range(bits.size):
        v = bits[t]
        out[t] = v if v > low else 0
        flags[t] = (v > 0) & (v <= high)
    words = flags.view(np.uint64)
    for t in range(mask.size):
        mask[t] = (words[t] * _GATHER) >> _TOP_BYTE


def _store_eight(builder, value, address, itemsize, nontemporal):
    """Store a vector of eight elements of ``itemsize`` bytes at ``address``
    (a pointer to its first element).  ``nontemporal``: as 16-byte pieces
    marked non-temporal (no read of the destination line first), which needs
    ``address`` 16-byte aligned; otherwise one store aligned to the element."""
    element = value.type.element
    if not nontemporal:
        builder.store(value, builder.bitcast(address, value.type.as_pointer()), align=itemsize)
        return
    lanes = 16 // itemsize
    piece_type = ir.VectorType(element, lanes)
    marker = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
    for p in range(0, 8, lanes):
        piece = builder.shuffle_vector(
            value, value, ir.Constant(ir.VectorType(ir.IntType(32), lanes), list(range(p, p + lanes))))
        piece_at = builder.gep(address, [ir.Constant(ir.IntType(64), p)])
        builder.store(piece, builder.bitcast(piece_at, piece_type.as_pointer()),
                      align=16).set_metadata("nontemporal", marker)


def _emit_relu_and_bits(nontemporal):
    """The codegen of the two intrinsics below, with args (x, out, bits,
    start, n): for each k < n, the eight elements from start + 8k give out
    their relu and bits[k], the byte of their x > 0, lowest element lowest
    (eight values compared as one vector and read as one byte: x86's movmsk).

    The bytes of four vectors are stored as one 32-bit word: a byte store
    per vector beside its vector store made the loop twice as slow in cache
    (the stores are the bottleneck: 23 against 13 us at 1e5 float32).

    ``nontemporal``: each vector of out is stored as 16-byte pieces marked
    non-temporal, which needs out + start 16-byte aligned.  NumPy's arrays
    are; 32-byte alignment would not line up with the mask bytes, since
    NumPy's large arrays start 16 bytes into a 32-byte line."""
    def codegen(context, builder, signature, args):
        xty, outty, bitsty = signature.args[:3]
        xs, outs, bytes_, start, n = args
        element = context.get_data_type(xty.dtype)
        vector = ir.VectorType(element, 8)
        zero = ir.Constant(vector, [ir.Constant(element, 0.0)] * 8)
        source = builder.gep(context.make_array(xty)(context, builder, xs).data, [start])
        target = builder.gep(context.make_array(outty)(context, builder, outs).data, [start])
        flags = context.make_array(bitsty)(context, builder, bytes_).data
        align = xty.dtype.bitwidth // 8
        byte, word = ir.IntType(8), ir.IntType(32)

        def one_vector(k):
            at = builder.mul(k, ir.Constant(n.type, 8))
            value = builder.load(builder.bitcast(builder.gep(source, [at]), vector.as_pointer()),
                                 align=align)
            _store_eight(builder, builder.select(builder.fcmp_ordered("<=", value, zero), zero,
                                                 builder.fadd(value, zero)),
                         builder.gep(target, [at]), align, nontemporal)
            return builder.bitcast(builder.fcmp_ordered(">", value, zero), byte)

        four = ir.Constant(n.type, 4)
        groups = builder.sdiv(n, four)
        with cgutils.for_range(builder, groups) as loop:
            first_vector = builder.mul(loop.index, four)
            packed = ir.Constant(word, 0)
            for j in range(4):
                k = builder.add(first_vector, ir.Constant(n.type, j))
                packed = builder.or_(packed, builder.shl(builder.zext(one_vector(k), word),
                                                         ir.Constant(word, 8 * j)))
            store_at = builder.bitcast(builder.gep(flags, [first_vector]), word.as_pointer())
            builder.store(packed, store_at, align=1)
        done = builder.mul(groups, four)
        with cgutils.for_range(builder, builder.sub(n, done)) as loop:
            k = builder.add(done, loop.index)
            builder.store(one_vector(k), builder.gep(flags, [k]))
    return codegen


@intrinsic
def _relu_and_bits(typingctx, x, out, bits, first, count):
    """out[first + i] = relu(x[first + i]) and bits[k] = the byte of x > 0
    for the eight elements from first + 8k, k < count."""
    return types.void(x, out, bits, types.intp, types.intp), _emit_relu_and_bits(False)


@intrinsic
def _relu_and_bits_streaming(typingctx, x, out, bits, first, count):
    """As _relu_and_bits, with out stored non-temporally (out + first must
    be 16-byte aligned)."""
    return types.void(x, out, bits, types.intp, types.intp), _emit_relu_and_bits(True)


def _emit_keep_where_set(nontemporal):
    """For each mask byte k in first..first+count: the eight elements from
    8k of grad_bits (integer views of the values) where bit j of the byte is
    set, all-zero bits (+0) elsewhere, into out_bits: the byte read as eight
    lanes of a vector select.  Keeps NaN and -0 where the bit is set.
    ``nontemporal``: stored as _store_eight does (out_bits 16-byte aligned)."""
    def codegen(context, builder, signature, args):
        gty, oty, mty = signature.args[:3]
        grads, outs, masks, start, n = args
        element = context.get_data_type(gty.dtype)
        vector = ir.VectorType(element, 8)
        zero = ir.Constant(vector, [ir.Constant(element, 0)] * 8)
        align = gty.dtype.bitwidth // 8
        at_first = builder.mul(start, ir.Constant(start.type, 8))
        source = builder.gep(context.make_array(gty)(context, builder, grads).data, [at_first])
        target = builder.gep(context.make_array(oty)(context, builder, outs).data, [at_first])
        bytes_ = builder.gep(context.make_array(mty)(context, builder, masks).data, [start])
        lanes = ir.VectorType(ir.IntType(1), 8)
        with cgutils.for_range(builder, n) as loop:
            at = builder.mul(loop.index, ir.Constant(n.type, 8))
            keep = builder.bitcast(builder.load(builder.gep(bytes_, [loop.index])), lanes)
            value = builder.load(builder.bitcast(builder.gep(source, [at]), vector.as_pointer()),
                                 align=align)
            _store_eight(builder, builder.select(keep, value, zero), builder.gep(target, [at]),
                         align, nontemporal)
    return codegen


@intrinsic
def _keep_where_set(typingctx, grad_bits, out_bits, mask, first, count):
    """See _emit_keep_where_set: plain stores."""
    return (types.void(grad_bits, out_bits, mask, types.intp, types.intp),
            _emit_keep_where_set(nontemporal=False))


@intrinsic
def _keep_where_set_streaming(typingctx, grad_bits, out_bits, mask, first, count):
    """See _emit_keep_where_set: non-temporal stores (out_bits 16-byte aligned)."""
    return (types.void(grad_bits, out_bits, mask, types.intp, types.intp),
            _emit_keep_where_set(nontemporal=True))


def _last_byte(x, out, mask, whole):
    """The elements after the last whole mask byte, and their partial byte."""
    rest = x.size - 8 * whole
    if rest:
        byte = 0
        for t in range(rest):
            byte |= np.int64(x[8 * whole + t] > 0) << t
        mask[whole] = byte
        for i in range(8 * whole, x.size):
            out[i] = relu(x[i])


def _last_byte_backward(grad_bits, out_bits, mask, whole):
    """The elements after the last whole mask byte, from their partial byte
    (integer views, or float32/float64 values)."""
    for i in range(8 * whole, grad_bits.size):
        # Two stores, not one of a conditional expression: on float values
        # that would go through float64 and quiet a signalling NaN.
        if (np.int64(mask[whole]) >> (i - 8 * whole)) & 1:
            out_bits[i] = grad_bits[i]
        else:
            out_bits[i] = 0


def _shares_bytes(a, b):
    """Whether the C-contiguous arrays ``a`` and ``b`` have a byte in common."""
    start, other = a.ctypes.data, b.ctypes.data
    return start < other + b.size * b.itemsize and other < start + a.size * a.itemsize


# What the loops here inline from other files, for their cache names.
_INLINED = (relu, mask_size, _partly_overlaps, _store_fence)
for _helper in (_forward_chunk, _last_byte_backward, _last_byte):
    _compiler.stamped_name(_helper, _helper.__name__, *_INLINED)
del _helper
_forward_chunk = _compiler.njit(_forward_chunk, cache=True)
_last_byte_backward = _compiler.njit(_last_byte_backward, cache=True)
_last_byte = _compiler.njit(_last_byte, cache=True)
_compiler.jitable(_partly_overlaps)
_compiler.jitable(_shares_bytes)
_compiler.jitable(mask_size)


def _make_loops(parallel):
    loop_range = numba.prange if parallel else range

    def forward(bits, out, mask, low, high):
        whole = bits.size // 8
        for c in loop_range((whole + CHUNK_BYTES - 1) // CHUNK_BYTES):
            j0 = c * CHUNK_BYTES
            j1 = min(whole, j0 + CHUNK_BYTES)
            flags = np.empty(8 * (j1 - j0), np.uint8)
            _forward_chunk(bits[8 * j0:8 * j1], out[8 * j0:8 * j1], flags, mask[j0:j1], low, high)
        rest = bits.size - 8 * whole
        if rest:  # the last, partial byte, through a zero-padded copy
            padded = np.zeros(8, bits.dtype)
            padded[:rest] = bits[8 * whole:]
            staged = np.empty(8, out.dtype)
            _forward_chunk(padded, staged, np.empty(8, np.uint8), mask[whole:], low, high)
            out[8 * whole:] = staged[:rest]

    # backward and forward_float check their arrays first, as _cpu's checked
    # entries do for the activations: they return False, having written
    # nothing, where shapes or the mask's length differ or out partly
    # overlaps the input or shares bytes with the mask.  Compiled, the
    # checks cost a fraction of the same checks in Python (3-4 us a call,
    # and three times that right after a loop has streamed 1e5 elements
    # through the caches), so masks.py's short path leaves them to these.

    def backward(grad, out, mask, streams):
        # grad and out: float32/float64 values, or integer views of them
        # (the select moves bits unchanged either way).  streams: out's
        # vectors stored non-temporally, 16 bytes at a time (out must be
        # 16-byte aligned): no read of out before it is overwritten.
        if (grad.shape != out.shape or mask.size != mask_size(grad.size)
                or _partly_overlaps(grad, out) or _shares_bytes(mask, out)):
            return False
        grad_flat, out_flat = grad.reshape(-1), out.reshape(-1)
        whole = grad.size // 8
        for c in loop_range((whole + CHUNK_BYTES - 1) // CHUNK_BYTES):
            j0 = c * CHUNK_BYTES
            count = min(whole, j0 + CHUNK_BYTES) - j0
            if streams:
                _keep_where_set_streaming(grad_flat, out_flat, mask, j0, count)
                _store_fence()
            else:
                _keep_where_set(grad_flat, out_flat, mask, j0, count)
        _last_byte_backward(grad_flat, out_flat, mask, whole)
        return True

    def forward_float(x, out, mask, streams):
        # float32/float64: each vector of eight elements gives its relu and
        # its byte of the mask in one step (no byte per element to gather).
        # streams: as in backward.  Before, per chunk on large arrays: the
        # mask bytes, then relu with relu_streaming's 32-byte-aligned
        # non-temporal block from cache, 1.28-1.40x relu's time; this one
        # step 0.98-1.19x.
        if x.shape != out.shape or mask.size != mask_size(x.size) or _partly_overlaps(x, out):
            return False
        x_flat, out_flat = x.reshape(-1), out.reshape(-1)
        whole = x.size // 8
        for c in loop_range((whole + CHUNK_BYTES - 1) // CHUNK_BYTES):
            j0 = c * CHUNK_BYTES
            j1 = min(whole, j0 + CHUNK_BYTES)
            if streams:
                _relu_and_bits_streaming(x_flat, out_flat, mask[j0:j1], 8 * j0, j1 - j0)
                _store_fence()
            else:
                _relu_and_bits(x_flat, out_flat, mask[j0:j1], 8 * j0, j1 - j0)
        _last_byte(x_flat, out_flat, mask, whole)
        return True

    kind = "parallel" if parallel else "serial"
    loops = {}
    for fn in (forward, forward_float, backward):
        # Distinct names: Numba's cache files are named after the function.
        _compiler.stamped_name(fn, f"relu_mask_{fn.__name__}_{kind}", *_INLINED)
        loops[fn.__name__] = _compiler.njit(fn, parallel=parallel, cache=True)
    for fn in (forward_float, backward):
        # A second dispatcher of each for the short path, which compiles it
        # only for C-contiguous arrays and then turns compiling off
        # (dispatch.CheckedEntry); the general path compiles what it needs.
        # Same function, same cache files.
        loops[fn.__name__ + "_checked"] = _compiler.njit(fn, parallel=parallel, cache=True)
    return loops


LOOPS = {False: _make_loops(False), True: _make_loops(True)}


# --- running them (the numba and numba-parallel backends' mask operations) ---


@functools.cache
def _bits_and_limits(dtype):
    """The integer view of ``dtype`` and the (low, high) limits on its values
    for the forward loop on bits: relu keeps a value above ``low``, and the
    mask bit is set for ``0 < value <= high`` (the positive numbers, NaN
    excluded)."""
    if dtype.kind == "i":
        return dtype, 0, np.iinfo(dtype).max
    bits = np.dtype(f"i{dtype.itemsize}")
    # -inf's bits as a signed integer: everything at or below is -0 or a
    # negative number; the negative NaNs lie between it and 0.
    low = np.array(-np.inf, dtype).view(bits)[()]
    high = np.array(np.inf, dtype).view(bits)[()]
    return bits, low, high


def _run(parallel, loop, args):
    if parallel:
        return run_parallel(LOOPS[True][loop], args, lambda: LOOPS[False][loop])
    return LOOPS[False][loop](*args)


def forward(parallel, x, out, mask):
    """relu_mask on C-contiguous ``x`` and ``out`` (``x`` itself or apart)."""
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    if x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) and x.flags.aligned and out.flags.aligned:
        streams = parallel and streaming.applies_to_mask(flat_out)
        if not _run(parallel, "forward_float", (flat_x, flat_out, mask, streams)):
            raise RuntimeError("the mask loop refused arrays that were checked")
        return
    bits, low, high = _bits_and_limits(x.dtype)
    _run(parallel, "forward", (flat_x.view(bits), flat_out.view(bits), mask, low, high))


def backward(parallel, grad, out, mask):
    """relu_backward_mask on C-contiguous ``grad`` and ``out``; large results
    not written over grad stream their stores."""
    bits = np.dtype(f"i{grad.dtype.itemsize}")
    grad_bits, out_bits = grad.reshape(-1).view(bits), out.reshape(-1).view(bits)
    streams = (parallel and streaming.applies_to_mask_backward(out_bits)
               and grad_bits.ctypes.data != out_bits.ctypes.data)
    if not _run(parallel, "backward", (grad_bits, out_bits, mask, streams)):
        raise RuntimeError("the mask loop refused arrays that were checked")
