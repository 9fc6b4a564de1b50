"""CUDA kernel generation; imported only when the cuda backend runs.

``cuda`` is a module global on purpose: the CUDA simulator swaps it for its
own module in the kernels' globals.
"""

import numba
from numba import cuda

from . import _jit

#: Bytes per vector load and store: the widest global access a thread makes.
VECTOR_BYTES = 16
#: Vectors loaded per thread before its first store, so that enough bytes
#: are in flight to cover the memory latency (perf/gpu_kernel_variants.py).
VECTORS_PER_STEP = 2

if numba.config.ENABLE_CUDASIM:  # type: ignore[attr-defined]  # (set from the environment)
    # The simulator runs kernels as Python: element by element is the same.
    def load_vector(array, k, into, slot):
        lanes = VECTOR_BYTES // array.dtype.itemsize
        for j in range(lanes):
            into[slot * lanes + j] = array[k * lanes + j]

    def store_vector(array, k, source, slot):
        lanes = VECTOR_BYTES // array.dtype.itemsize
        for j in range(lanes):
            array[k * lanes + j] = source[slot * lanes + j]
else:
    from llvmlite import ir
    from numba import types

    try:
        from numba.cuda.extending import intrinsic
    except ImportError:  # numba-cuda releases that share numba's extension API
        import functools

        from numba.core.extending import intrinsic as _intrinsic

        intrinsic = functools.partial(_intrinsic, target="cuda")

    def _vector_pointer(context, builder, array_type, array, k):
        """Pointer to the k-th VECTOR_BYTES-wide vector of a contiguous array."""
        element = context.get_data_type(array_type.dtype)
        lanes = VECTOR_BYTES // (array_type.dtype.bitwidth // 8)
        data = context.make_array(array_type)(context, builder, array).data
        first = builder.mul(k, ir.Constant(k.type, lanes))
        vector = ir.VectorType(element, lanes)
        return builder.bitcast(builder.gep(data, [first]), vector.as_pointer()), lanes

    def _local_pointer(context, builder, local_type, local, slot, lanes, j):
        data = context.make_array(local_type)(context, builder, local).data
        index = builder.add(builder.mul(slot, ir.Constant(slot.type, lanes)),
                            ir.Constant(slot.type, j))
        return builder.gep(data, [index])

    @intrinsic
    def load_vector(typingctx, array, k, into, slot):
        """into[slot*lanes:(slot+1)*lanes] = the k-th vector of ``array``, in one
        aligned load (``array`` contiguous, its data VECTOR_BYTES-aligned)."""
        def codegen(context, builder, signature, args):
            array_type, _, into_type, _ = signature.args
            array, k, into, slot = args
            pointer, lanes = _vector_pointer(context, builder, array_type, array, k)
            vector = builder.load(pointer, align=VECTOR_BYTES)
            for j in range(lanes):
                value = builder.extract_element(vector, ir.Constant(ir.IntType(32), j))
                builder.store(value, _local_pointer(context, builder, into_type, into, slot, lanes, j))
        return types.void(array, types.intp, into, types.intp), codegen

    @intrinsic
    def store_vector(typingctx, array, k, source, slot):
        """The k-th vector of ``array`` = source[slot*lanes:(slot+1)*lanes], in
        one aligned store."""
        def codegen(context, builder, signature, args):
            array_type, _, source_type, _ = signature.args
            array, k, source, slot = args
            pointer, lanes = _vector_pointer(context, builder, array_type, array, k)
            vector = ir.Constant(pointer.type.pointee, ir.Undefined)
            for j in range(lanes):
                value = builder.load(_local_pointer(context, builder, source_type, source, slot, lanes, j))
                vector = builder.insert_element(vector, value, ir.Constant(ir.IntType(32), j))
            builder.store(vector, pointer, align=VECTOR_BYTES)
        return types.void(array, types.intp, source, types.intp), codegen


@cuda.jit(device=True, inline=True)
def _to_float32(v):
    return numba.float32(v)


@cuda.jit(device=True, inline=True)
def _unchanged(v):
    return v


def make_kernel(formula, arity, ndim, widen):
    """A grid-stride kernel applying ``formula`` to 1-D or 2-D arrays.

    ``widen`` loads each element as float32 (for float16 data: the result is
    rounded back on the store).
    """
    _jit.register_helpers()
    device = cuda.jit(device=True)(formula)
    load = _to_float32 if widen else _unchanged

    if ndim == 1:
        # Four loads in flight per thread before any store: a plain
        # grid-stride loop reaches ~0.73 of a device copy on an H200 at 2^28
        # float32 elements, this form ~0.91 (perf/gpu_kernel_variants.py).
        if arity == 1:
            def kernel(x, out, params):
                n, step = out.size, cuda.gridsize(1)
                i = cuda.grid(1)
                while i + 3 * step < n:
                    a, b, c, d = x[i], x[i + step], x[i + 2 * step], x[i + 3 * step]
                    out[i] = device(load(a), *params)
                    out[i + step] = device(load(b), *params)
                    out[i + 2 * step] = device(load(c), *params)
                    out[i + 3 * step] = device(load(d), *params)
                    i += 4 * step
                while i < n:
                    out[i] = device(load(x[i]), *params)
                    i += step
        elif arity == 2:
            def kernel(u, v, out, params):
                n, step = out.size, cuda.gridsize(1)
                i = cuda.grid(1)
                while i + 3 * step < n:
                    u0, u1, u2, u3 = u[i], u[i + step], u[i + 2 * step], u[i + 3 * step]
                    v0, v1, v2, v3 = v[i], v[i + step], v[i + 2 * step], v[i + 3 * step]
                    out[i] = device(load(u0), load(v0), *params)
                    out[i + step] = device(load(u1), load(v1), *params)
                    out[i + 2 * step] = device(load(u2), load(v2), *params)
                    out[i + 3 * step] = device(load(u3), load(v3), *params)
                    i += 4 * step
                while i < n:
                    out[i] = device(load(u[i]), load(v[i]), *params)
                    i += step
        else:
            def kernel(a, b, c, out, params):
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    out[i] = device(load(a[i]), load(b[i]), load(c[i]), *params)
    else:
        if arity == 1:
            def kernel(x, out, params):
                cols = out.shape[1]
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    r, c = i // cols, i % cols
                    out[r, c] = device(load(x[r, c]), *params)
        elif arity == 2:
            def kernel(a, b, out, params):
                cols = out.shape[1]
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    r, c = i // cols, i % cols
                    out[r, c] = device(load(a[r, c]), load(b[r, c]), *params)
        else:
            def kernel(a, b, c_, out, params):
                cols = out.shape[1]
                for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                    r, c = i // cols, i % cols
                    out[r, c] = device(load(a[r, c]), load(b[r, c]), load(c_[r, c]), *params)
    return cuda.jit(kernel)


def make_vector_kernel(formula, arity, dtype, widen):
    """A grid-stride kernel applying ``formula`` to contiguous 1-D arrays of
    ``dtype`` whose data start on a VECTOR_BYTES boundary, with one vector
    load or store per VECTOR_BYTES (the scalar kernel's 4-byte accesses
    leave the memory system short of bytes in flight)."""
    _jit.register_helpers()
    device = cuda.jit(device=True)(formula)
    load = _to_float32 if widen else _unchanged
    element = numba.from_dtype(dtype)
    lanes = VECTOR_BYTES // dtype.itemsize
    per_step = VECTORS_PER_STEP
    size = lanes * per_step

    if arity == 1:
        def kernel(x, out, params):
            n, step = out.size, cuda.gridsize(1)
            vectors = n // lanes
            a = cuda.local.array(size, element)
            r = cuda.local.array(size, element)
            i = cuda.grid(1)
            while i < vectors:
                # the steps' loads first, then the arithmetic and stores
                for u in range(per_step):
                    if i + u * step < vectors:
                        load_vector(x, i + u * step, a, u)
                for j in range(size):
                    r[j] = device(load(a[j]), *params)
                for u in range(per_step):
                    if i + u * step < vectors:
                        store_vector(out, i + u * step, r, u)
                i += per_step * step
            i = vectors * lanes + cuda.grid(1)  # the last n % lanes elements
            if i < n:
                out[i] = device(load(x[i]), *params)
    elif arity == 2:
        def kernel(u_, v_, out, params):
            n, step = out.size, cuda.gridsize(1)
            vectors = n // lanes
            a = cuda.local.array(size, element)
            b = cuda.local.array(size, element)
            r = cuda.local.array(size, element)
            i = cuda.grid(1)
            while i < vectors:
                for u in range(per_step):
                    if i + u * step < vectors:
                        load_vector(u_, i + u * step, a, u)
                        load_vector(v_, i + u * step, b, u)
                for j in range(size):
                    r[j] = device(load(a[j]), load(b[j]), *params)
                for u in range(per_step):
                    if i + u * step < vectors:
                        store_vector(out, i + u * step, r, u)
                i += per_step * step
            i = vectors * lanes + cuda.grid(1)
            if i < n:
                out[i] = device(load(u_[i]), load(v_[i]), *params)
    else:
        raise ValueError(f"no vector kernel for {arity} inputs")
    return cuda.jit(kernel)


def make_mask_kernels(widen):
    """The relu mask kernels for 1-D contiguous arrays: one thread per mask
    byte, so that no two threads write the same byte."""
    load = _to_float32 if widen else _unchanged

    def forward(x, out, mask):
        n = x.size
        for j in range(cuda.grid(1), mask.size, cuda.gridsize(1)):
            bits = 0
            for k in range(8):
                i = 8 * j + k
                if i < n:
                    v = load(x[i])
                    out[i] = v if not (v <= 0) else 0
                    if v > 0:
                        bits |= 1 << k
            mask[j] = bits

    def backward(grad, out, mask):
        n = grad.size
        for j in range(cuda.grid(1), mask.size, cuda.gridsize(1)):
            bits = mask[j]
            for k in range(8):
                i = 8 * j + k
                if i < n:
                    out[i] = grad[i] if (bits >> k) & 1 else 0

    return cuda.jit(forward), cuda.jit(backward)
