"""relu on large arrays with non-temporal stores (x86-64, parallel backend).

A plain store first reads the cache line it writes ("read for ownership"),
so ``relu(x, out=y)`` moves three streams through memory for two arrays.
Stores marked non-temporal skip that read and write whole lines.  They only
pay where ``out`` would not stay in cache anyway (``streaming.applies``).
LLVM's vectoriser does not widen non-temporal stores unless it can prove
32-byte alignment, so the blocks are written as vector IR directly: load,
``x <= 0 ? 0 : x + 0`` (as definitions.relu: NaN kept, -0 gives +0), store.
"""

from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import _compiler
from ..definitions import relu, relu_backward

#: Elements per block (a multiple of every vector width): what threads share.
BLOCK = 4096


def _emit_nontemporal_blocks(context, builder, signature, args, compute):
    """out[start:start+count] = compute(builder, vectors of the inputs, zero)
    with vector non-temporal stores; out + start must be 32-byte aligned and
    count a multiple of the vector width.  ``args``: the input arrays, out,
    start, count."""
    *input_types, outty = signature.args[:-2]
    *inputs, outs, first, n = args
    itemsize = outty.dtype.bitwidth // 8
    width = 32 // itemsize
    element = context.get_data_type(outty.dtype)
    vector = ir.VectorType(element, width)
    zero = ir.Constant(vector, [ir.Constant(element, 0.0)] * width)
    sources = [builder.gep(context.make_array(ty)(context, builder, a).data, [first])
               for ty, a in zip(input_types, inputs)]
    target = builder.gep(context.make_array(outty)(context, builder, outs).data, [first])
    nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
    vectors = builder.udiv(n, ir.Constant(n.type, width))
    with cgutils.for_range(builder, vectors) as loop:
        offset = builder.mul(loop.index, ir.Constant(n.type, width))
        values = [builder.load(builder.bitcast(builder.gep(source, [offset]), vector.as_pointer()),
                               align=itemsize) for source in sources]
        store_at = builder.bitcast(builder.gep(target, [offset]), vector.as_pointer())
        builder.store(compute(builder, values, zero), store_at,
                      align=32).set_metadata("nontemporal", nontemporal)


@intrinsic
def _relu_block(typingctx, x, out, start, count):
    """out[start:start+count] = relu(x[start:start+count]), stored non-temporally."""
    def relu_vector(builder, values, zero):
        (value,) = values
        return builder.select(builder.fcmp_ordered("<=", value, zero), zero,
                              builder.fadd(value, zero))

    def codegen(context, builder, signature, args):
        _emit_nontemporal_blocks(context, builder, signature, args, relu_vector)
    return types.void(x, out, types.intp, types.intp), codegen


@intrinsic
def _relu_backward_block(typingctx, grad, x, out, start, count):
    """out[start:start+count] = relu_backward(grad, x) there, stored non-temporally:
    0 where x <= 0, grad elsewhere (NaN x included), as definitions.relu_backward."""
    def relu_backward_vector(builder, values, zero):
        g, value = values
        return builder.select(builder.fcmp_ordered("<=", value, zero), zero, g)

    def codegen(context, builder, signature, args):
        _emit_nontemporal_blocks(context, builder, signature, args, relu_backward_vector)
    return types.void(grad, x, out, types.intp, types.intp), codegen


@intrinsic
def _store_fence(typingctx):
    """sfence: non-temporal stores are weakly ordered; each thread makes its
    own visible before it reports its blocks done."""
    def codegen(context, builder, signature, args):
        fence = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse.sfence")
        builder.call(fence, [])
    return types.void(), codegen


_compiler.jitable(relu)
_compiler.jitable(relu_backward)


def relu_streaming(x, out):
    """relu(x) into ``out``, 1-D contiguous arrays of one float dtype."""
    n = out.size
    head = min(((32 - out.ctypes.data % 32) % 32) // out.itemsize, n)
    blocks = (n - head) // BLOCK
    for i in range(head):
        out[i] = relu(x[i])
    for b in prange(blocks):
        _relu_block(x, out, head + b * BLOCK, BLOCK)
        _store_fence()
    for i in range(head + blocks * BLOCK, n):
        out[i] = relu(x[i])


def relu_backward_streaming(grad, x, out):
    """relu_backward(grad, x) into ``out``, 1-D contiguous arrays of one float dtype."""
    n = out.size
    head = min(((32 - out.ctypes.data % 32) % 32) // out.itemsize, n)
    blocks = (n - head) // BLOCK
    for i in range(head):
        out[i] = relu_backward(grad[i], x[i])
    for b in prange(blocks):
        _relu_backward_block(grad, x, out, head + b * BLOCK, BLOCK)
        _store_fence()
    for i in range(head + blocks * BLOCK, n):
        out[i] = relu_backward(grad[i], x[i])


relu_streaming = _compiler.njit(_compiler.stamped_name(relu_streaming, "relu_streaming", relu),
                                parallel=True, cache=True)
relu_backward_streaming = _compiler.njit(
    _compiler.stamped_name(relu_backward_streaming, "relu_backward_streaming", relu_backward),
    parallel=True, cache=True)
