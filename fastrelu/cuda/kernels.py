"""CUDA kernel generation; imported only when the cuda backend runs.

``cuda`` is a module global on purpose: the CUDA simulator swaps it for its
own module in the kernels' globals.
"""

import functools

import numba
from numba import cuda

from .. import _compiler, _source, definitions


@functools.cache
def vector_access(lanes):
    """``load(array, k, into)``: into[:lanes] = array[k*lanes:(k+1)*lanes], and
    ``store(array, k, source)``, the other way, each one aligned vector access
    (``array`` contiguous, its data aligned to the vector's bytes)."""
    if numba.config.ENABLE_CUDASIM:  # type: ignore[attr-defined]  # (set from the environment)
        # The simulator runs kernels as Python: element by element is the same.
        def load(array, k, into):
            for j in range(lanes):
                into[j] = array[k * lanes + j]

        def store(array, k, source):
            for j in range(lanes):
                array[k * lanes + j] = source[j]
        return load, store
    return _vector_intrinsics(lanes)


def _vector_intrinsics(lanes):
    from llvmlite import ir
    from numba import types

    try:
        from numba.cuda.extending import intrinsic
    except ImportError:  # numba-cuda releases that share numba's extension API
        from numba.core.extending import intrinsic as generic_intrinsic

        intrinsic = functools.partial(generic_intrinsic, target="cuda")

    def vector_pointer(context, builder, array_type, array, k):
        data = context.make_array(array_type)(context, builder, array).data
        first = builder.mul(k, ir.Constant(k.type, lanes))
        vector = ir.VectorType(context.get_data_type(array_type.dtype), lanes)
        return builder.bitcast(builder.gep(data, [first]), vector.as_pointer())

    def items(context, builder, local_type, local):
        data = context.make_array(local_type)(context, builder, local).data
        return [builder.gep(data, [ir.Constant(ir.IntType(64), j)]) for j in range(lanes)]

    def lane(j):
        return ir.Constant(ir.IntType(32), j)

    # 16-bit elements move as four 32-bit words, in PTX written out: LLVM
    # turns a <4 x i32> load of them back into two 8-byte ones (PTX has no
    # 8-wide 16-bit access), and 8 bytes per access leave too few in flight.
    i8p, i16, i32 = ir.IntType(8).as_pointer(), ir.IntType(16), ir.IntType(32)
    load_words = ir.InlineAsm(ir.FunctionType(ir.LiteralStructType([i32] * 4), [i8p]),
                              "ld.global.v4.u32 {$0, $1, $2, $3}, [$4];", "=r,=r,=r,=r,l")
    store_words = ir.InlineAsm(ir.FunctionType(ir.VoidType(), [i8p] + [i32] * 4),
                               "st.global.v4.u32 [$0], {$1, $2, $3, $4};", "l,r,r,r,r",
                               side_effect=True)
    # (The load is not marked as having side effects: each thread reads a
    # vector before its one store there, and the store depends on the value.)
    halves_in_words = lanes == 8

    def load_halves(builder, pointer, element):
        words = builder.call(load_words, [builder.bitcast(pointer, i8p)])
        halves = []
        for w in range(4):
            word = builder.extract_value(words, w)
            for shift in (0, 16):
                bits = builder.trunc(builder.lshr(word, ir.Constant(i32, shift)), i16)
                halves.append(builder.bitcast(bits, element))
        return halves

    def store_halves(builder, pointer, halves):
        words = []
        for w in range(4):
            low, high = (builder.zext(builder.bitcast(h, i16), i32) for h in halves[2 * w:2 * w + 2])
            words.append(builder.or_(low, builder.shl(high, ir.Constant(i32, 16))))
        builder.call(store_words, [builder.bitcast(pointer, i8p)] + words)

    @intrinsic
    def load(typingctx, array, k, into):
        def codegen(context, builder, signature, args):
            array_type, _, into_type = signature.args
            array, k, into = args
            pointer = vector_pointer(context, builder, array_type, array, k)
            if halves_in_words:
                values = load_halves(builder, pointer, context.get_data_type(array_type.dtype))
            else:
                # Aligned to the whole vector (16 bytes): the launch checks it.
                vector = builder.load(pointer, align=lanes * (array_type.dtype.bitwidth // 8))
                values = [builder.extract_element(vector, lane(j)) for j in range(lanes)]
            for value, item in zip(values, items(context, builder, into_type, into)):
                builder.store(value, item)
        return types.void(array, types.intp, into), codegen

    @intrinsic
    def store(typingctx, array, k, source):
        def codegen(context, builder, signature, args):
            array_type, _, source_type = signature.args
            array, k, source = args
            pointer = vector_pointer(context, builder, array_type, array, k)
            values = [builder.load(item) for item in items(context, builder, source_type, source)]
            if halves_in_words:
                store_halves(builder, pointer, values)
                return
            vector = ir.Constant(pointer.type.pointee, ir.Undefined)
            for j, value in enumerate(values):
                vector = builder.insert_element(vector, value, lane(j))
            builder.store(vector, pointer, align=lanes * (array_type.dtype.bitwidth // 8))
        return types.void(array, types.intp, source), codegen

    return load, store


@cuda.jit(device=True, inline=True)
def _to_float32(v):
    return numba.float32(v)


@cuda.jit(device=True, inline=True)
def _unchanged(v):
    return v


def conversions(bits):
    """``(load, store)`` around a formula for data of 16-bit float ``bits``
    (None: the values themselves).  float16 loads as float32 and rounds back
    on the store (Numba converts); bfloat16 arrays come as their int16 bits,
    widened to float32 and rounded to nearest even by definitions' formulas."""
    if bits == "float16":
        return _to_float32, _unchanged
    if bits == "bfloat16":
        return _bfloat16_to_float32, _float32_to_bfloat16
    return _unchanged, _unchanged


_bfloat16_to_float32 = cuda.jit(device=True, inline=True)(definitions.bfloat16_to_float32)
_float32_to_bfloat16 = cuda.jit(device=True, inline=True)(definitions.float32_to_bfloat16)


def _inputs(arity):
    """The names of a kernel's input arrays: x0, x1, ..."""
    return [f"x{k}" for k in range(arity)]


def _applied(inputs, index):
    """The formula's value at ``index`` of each input, as kernel text."""
    return f"store(device({', '.join(f'load({a}{index})' for a in inputs)}, *params))"


def _kernel(name, params, body, formula, bits, **names):
    """The kernel ``def name(*params): body`` (text: arguments spelled out
    for any arity, see ``_source.generated``), calling ``formula`` as
    ``device``, with ``load`` and ``store`` (``conversions(bits)``)."""
    _compiler.register_helpers()
    load, store = conversions(bits)
    namespace = {"cuda": cuda, "device": cuda.jit(device=True)(formula), "load": load,
                 "store": store, **names}
    return cuda.jit(_source.generated(name, params, body, namespace, __name__))


def make_kernel(formula, arity, ndim, bits):
    """A grid-stride kernel applying ``formula`` to ``arity`` 1-D or 2-D
    arrays, for what the vector kernel does not take (strided or misaligned
    arrays, three inputs).  ``bits``: see ``conversions``.
    """
    inputs = _inputs(arity)
    if ndim == 1:
        # Four loads in flight per thread before any store: a plain
        # grid-stride loop reaches ~0.73 of a device copy on an H200 at 2^28
        # float32 elements, this form ~0.91 (perf/gpu_kernel_variants.py).
        steps = ["", " + step", " + 2 * step", " + 3 * step"]
        body = ("n, step = out.size, cuda.gridsize(1)\n"
                "i = cuda.grid(1)\n"
                "while i + 3 * step < n:\n"
                + "".join(f"    {a}_0, {a}_1, {a}_2, {a}_3 = "
                          + ", ".join(f"{a}[i{s}]" for s in steps) + "\n" for a in inputs)
                + "".join(f"    out[i{s}] = {_applied(inputs, f'_{j}')}\n"
                          for j, s in enumerate(steps))
                + "    i += 4 * step\n"
                "while i < n:\n"
                f"    out[i] = {_applied(inputs, '[i]')}\n"
                "    i += step\n")
    else:
        body = ("cols = out.shape[1]\n"
                "for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):\n"
                "    r, c = i // cols, i % cols\n"
                f"    out[r, c] = {_applied(inputs, '[r, c]')}\n")
    return _kernel("kernel", [*inputs, "out", "params"], body, formula, bits)


def make_vector_kernel(formula, arity, dtype, lanes, bits):
    """A kernel applying ``formula`` to ``arity`` contiguous 1-D arrays of
    ``dtype`` whose data start on a whole vector's boundary: thread i loads,
    computes and stores the i-th vector of ``lanes`` elements, in one access
    each, and the threads after the last whole vector do the n % lanes
    elements left.  Launch it with at least n // lanes + n % lanes threads.

    One vector per thread over a grid that covers the array beat a
    grid-stride loop with 1, 2 or 4 vectors in flight per step and the
    scalar kernel (0.97-0.99 of a device copy at 2^26-2^28 float32 elements
    on an H200 against 0.94-0.95 and 0.89; perf/gpu_kernel_variants.py).
    """
    inputs = _inputs(arity)
    body = ("i, vectors = cuda.grid(1), out.size // lanes\n"
            "if i < vectors:\n"
            + "".join(f"    {a}_ = cuda.local.array(lanes, element)\n" for a in inputs)
            + "    r = cuda.local.array(lanes, element)\n"
            + "".join(f"    load_vector({a}, i, {a}_)\n" for a in inputs)
            + "    for j in range(lanes):\n"
            f"        r[j] = {_applied(inputs, '_[j]')}\n"
            "    store_vector(out, i, r)\n"
            "elif i - vectors < out.size % lanes:\n"
            "    i += vectors * (lanes - 1)  # vectors * lanes + (i - vectors)\n"
            f"    out[i] = {_applied(inputs, '[i]')}\n")
    load_vector, store_vector = vector_access(lanes)
    return _kernel("kernel", [*inputs, "out", "params"], body, formula, bits, lanes=lanes,
                   element=numba.from_dtype(dtype), load_vector=load_vector,
                   store_vector=store_vector)


def make_mask_kernels(bits):
    """The relu mask kernels for 1-D contiguous arrays: one thread per mask
    byte, so that no two threads write the same byte.  relu keeps an element
    as it is (its bits, for bfloat16) or writes 0."""
    load = conversions(bits)[0]

    def forward(x, out, mask):
        n = x.size
        for j in range(cuda.grid(1), mask.size, cuda.gridsize(1)):
            bits = 0
            for k in range(8):
                i = 8 * j + k
                if i < n:
                    v = load(x[i])
                    out[i] = x[i] if not (v <= 0) else 0
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


def make_gated_backward_kernel(backward_gate, backward_up, bits):
    """Both gradients of a gated activation in one grid-stride pass over
    contiguous 1-D arrays: each thread reads grad, gate and up once and
    writes grad_gate and grad_up (which may be gate and up themselves: each
    element is read before either is written).  ``bits``: see ``conversions``."""
    _compiler.register_helpers()
    gate_part = cuda.jit(device=True)(backward_gate)
    up_part = cuda.jit(device=True)(backward_up)
    load, store = conversions(bits)

    def kernel(dy, g, u, grad_g, grad_u):
        n, step = dy.size, cuda.gridsize(1)
        i = cuda.grid(1)
        while i < n:
            d, x, v = load(dy[i]), load(g[i]), load(u[i])
            grad_g[i] = store(gate_part(d, x, v))
            grad_u[i] = store(up_part(d, x))
            i += step
    return cuda.jit(kernel)


def make_channel_kernel(formula, arity, bits):
    """``formula(x, w)`` (arity 1) or ``formula(g, x, w)`` (arity 2) over
    contiguous 1-D views of arrays laid out (outer, channels, inner), ``w``
    one value per channel: element i takes w[(i // inner) % w.size]
    (bias_relu: the bias along the last axis, inner 1; PReLU: a slope per
    channel of axis 1).  ``bits``: see ``conversions``."""
    inputs = _inputs(arity)
    body = ("n, channels, step = out.size, w.size, cuda.gridsize(1)\n"
            "i = cuda.grid(1)\n"
            "while i < n:\n"
            f"    out[i] = store(device({''.join(f'load({a}[i]), ' for a in inputs)}"
            "load(w[(i // inner) % channels])))\n"
            "    i += step\n")
    return _kernel("kernel", [*inputs, "w", "inner", "out"], body, formula, bits)


#: Threads per block of the channel sums (a power of two: the tree
#: reduction); 8 under the simulator, where each thread is a Python thread.
SUM_THREADS = 8 if getattr(numba.config, "ENABLE_CUDASIM", 0) else 256


def make_channel_sum_kernel(term, arity, bits):
    """Per channel, the sum of ``term(a)`` (arity 1) or ``term(a, b)`` (arity
    2) over contiguous 1-D views of arrays laid out (outer, channels,
    inner): a block per channel, its threads striding over the channel's
    elements (neighbours read neighbours when inner > 1), then a tree in
    shared memory; float64 throughout, rounded once (bias_relu's bias
    gradient: term the identity, inner 1; PReLU's weight gradient: term
    ``prelu_weight_gradient``).  ``bits``: see ``conversions``."""
    store = conversions(bits)[1]
    narrow = _to_float32 if bits == "bfloat16" else _unchanged  # its store takes float32

    @cuda.jit(device=True, inline=True)
    def reduce_and_store(partial, out, c):
        t = cuda.threadIdx.x
        cuda.syncthreads()
        width = SUM_THREADS // 2
        while width > 0:
            if t < width:
                partial[t] += partial[t + width]
            cuda.syncthreads()
            width //= 2
        if t == 0:
            out[c] = store(narrow(partial[0]))
        cuda.syncthreads()

    inputs = _inputs(arity)
    body = ("partial = cuda.shared.array(SUM_THREADS, numba.float64)\n"
            "count = x0.size // channels  # elements per channel\n"
            "for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):\n"
            "    total = 0.0\n"
            "    for j in range(cuda.threadIdx.x, count, SUM_THREADS):\n"
            "        i = ((j // inner) * channels + c) * inner + j % inner\n"
            f"        total += device({', '.join(f'load({a}[i])' for a in inputs)})\n"
            "    partial[cuda.threadIdx.x] = total\n"
            "    reduce_and_store(partial, out, c)\n")
    return _kernel("kernel", [*inputs, "channels", "inner", "out"], body, term, bits,
                   numba=numba, SUM_THREADS=SUM_THREADS, reduce_and_store=reduce_and_store)
