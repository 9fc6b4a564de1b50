"""relu on large arrays with non-temporal stores (x86-64, parallel backend).

A plain store first reads the cache line it writes ("read for ownership"),
so ``relu(x, out=y)`` moves three streams through memory for two arrays.
Stores marked non-temporal skip that read and write whole lines.  They only
pay where ``out`` would not stay in cache anyway (``_streaming.applies``).
LLVM's vectoriser does not widen non-temporal stores unless it can prove
32-byte alignment, so the blocks are written as vector IR directly: load,
``x <= 0 ? 0 : x + 0`` (as definitions.relu: NaN kept, -0 gives +0), store.
"""

from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from . import _jit
from .definitions import relu

#: Elements per block (a multiple of every vector width): what threads share.
BLOCK = 4096


@intrinsic
def _relu_block(typingctx, x, out, start, count):
    """out[start:start+count] = relu(x[start:start+count]) with vector
    non-temporal stores; out + start must be 32-byte aligned and count a
    multiple of the vector width."""
    def codegen(context, builder, signature, args):
        xty, outty = signature.args[:2]
        xs, outs, first, n = args
        itemsize = outty.dtype.bitwidth // 8
        width = 32 // itemsize
        element = context.get_data_type(outty.dtype)
        vector = ir.VectorType(element, width)
        zero = ir.Constant(vector, [ir.Constant(element, 0.0)] * width)
        source = builder.gep(context.make_array(xty)(context, builder, xs).data, [first])
        target = builder.gep(context.make_array(outty)(context, builder, outs).data, [first])
        nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
        vectors = builder.udiv(n, ir.Constant(n.type, width))
        with cgutils.for_range(builder, vectors) as loop:
            offset = builder.mul(loop.index, ir.Constant(n.type, width))
            load_at = builder.bitcast(builder.gep(source, [offset]), vector.as_pointer())
            store_at = builder.bitcast(builder.gep(target, [offset]), vector.as_pointer())
            value = builder.load(load_at, align=itemsize)
            result = builder.select(builder.fcmp_ordered("<=", value, zero), zero,
                                    builder.fadd(value, zero))
            builder.store(result, store_at, align=32).set_metadata("nontemporal", nontemporal)
    return types.void(x, out, types.intp, types.intp), codegen


@intrinsic
def _store_fence(typingctx):
    """sfence: non-temporal stores are weakly ordered; each thread makes its
    own visible before it reports its blocks done."""
    def codegen(context, builder, signature, args):
        fence = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse.sfence")
        builder.call(fence, [])
    return types.void(), codegen


_jit.jitable(relu)


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


# Named after relu's code, so that a change to it is not hidden by the cache.
relu_streaming.__qualname__ += "_" + _jit.code_stamp(relu)
relu_streaming = _jit.njit(relu_streaming, parallel=True, cache=True)
