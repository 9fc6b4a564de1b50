"""Dask arrays: every activation maps over the chunks, lazily.

Nothing here imports Dask until a Dask array is passed in.  Each chunk is a
NumPy (or CuPy) array and runs through ``dispatch.elementwise``, a direct
call's general path, on whichever worker holds it: threads, processes or a
``distributed`` cluster.
"""

import sys

import numpy as np

from .. import _validate, dispatch


def is_chunked(obj):
    """True for a ``dask.array.Array``, without importing Dask."""
    return type(obj).__module__.startswith("dask.") and hasattr(obj, "map_blocks")


def elementwise(activation, direction, arrays, labels, params, out, backend, name):
    """A lazy Dask array: ``activation`` applied chunk by chunk."""
    import dask.array as da

    if out is not None:
        raise TypeError(f"{name}: out= is not supported with Dask arrays (they are immutable); "
                        "use the returned array, or da.store() it into a target")
    lead = next(a for a in arrays if is_chunked(a))
    arrays = [a if is_chunked(a) else da.from_array(np.asarray(a, dtype=lead.dtype), chunks=lead.chunks)
              for a in arrays]
    _validate.check_inputs(name, activation, direction, arrays, labels)
    blocks = _Blocks(activation, direction, labels, params, block_backend(backend, lead))
    return da.map_blocks(blocks, *arrays, dtype=lead.dtype, meta=lead._meta, token=name)


def block_backend(backend, lead):
    """The backend each chunk runs on, fixed when the graph is built (the
    worker threads see no ``use_backend`` block).  ``auto`` means one thread
    per chunk: Dask already runs chunks in parallel."""
    return dispatch.chunk_backend(backend, lead._meta)


class _Blocks:
    """The task run on each chunk (a class, so that workers can unpickle it)."""

    def __init__(self, activation, direction, labels, params, backend):
        self.activation, self.direction, self.labels = activation, direction, labels
        self.params, self.backend = params, backend

    def __call__(self, *chunks):
        return dispatch.elementwise(self.activation, self.direction, chunks, self.labels,
                                   self.params, None, self.backend)


def gated(definition, gate, up, backend, name):
    """``definition.forward`` (a definitions.Gated) of two arrays, one a Dask
    array, chunk by chunk; the other is chunked like it."""
    import dask.array as da

    lead = gate if is_chunked(gate) else up
    gate, up = (a if is_chunked(a) else da.from_array(np.asarray(a), chunks=lead.chunks)
                for a in (gate, up))
    _validate.check_inputs(name, _validate.FLOATS_ONLY, "forward", [gate, up], ("gate", "up"))
    up = up.rechunk(gate.chunks)
    backend = dispatch.chunk_backend(backend, gate._meta)
    return da.map_blocks(_GatedBlocks(definition, "forward", backend), gate, up,
                         dtype=gate.dtype, meta=gate._meta, token=name)


def gated_backward(definition, grad, gate, up, backend, name):
    """Both gradients of ``definition``, chunk by chunk, in one pass per chunk."""
    import dask.array as da

    lead = next(a for a in (grad, gate, up) if is_chunked(a))
    arrays = [a if is_chunked(a) else da.from_array(np.asarray(a), chunks=lead.chunks)
              for a in (grad, gate, up)]
    _validate.check_inputs(name, _validate.FLOATS_ONLY, "forward", arrays, ("grad", "gate", "up"))
    grad, gate, up = (a.rechunk(arrays[1].chunks) for a in arrays)
    backend = dispatch.chunk_backend(backend, gate._meta)
    # Both gradients of a chunk come from one call, stacked on a new first
    # axis; computed together, each chunk runs once.
    both = da.map_blocks(_GatedBlocks(definition, "backward", backend), grad, gate, up,
                         dtype=gate.dtype, new_axis=0, chunks=((2,), *gate.chunks), token=name)
    return both[0], both[1]


class _GatedBlocks:
    """The task run on each chunk of a gated activation."""

    def __init__(self, definition, direction, backend):
        self.definition, self.direction, self.backend = definition, direction, backend

    def __call__(self, *chunks):
        from .. import gated

        if self.direction == "forward":
            return gated.run_forward(self.definition, *chunks, self.backend)
        return np.stack(gated.run_backward(self.definition, *chunks, self.backend))


def concatenate(arrays, axis):
    import dask.array as da

    return da.concatenate(arrays, axis=axis)


def per_channel(weight, x, axis):
    """``weight`` (one value, or one per channel along ``axis``) broadcast to
    ``x``'s shape and chunks, as a Dask array."""
    import dask.array as da

    shape = [1] * x.ndim
    if weight.size > 1:
        shape[axis] = weight.size
    column = da.from_array(weight.astype(x.dtype).reshape(shape),
                           chunks=tuple(c if n > 1 else (1,) for c, n in zip(x.chunks, shape)))
    return da.broadcast_to(column, x.shape, chunks=x.chunks)


def uniform(rng, lower, upper, like):
    """Random slopes in U(lower, upper), chunked like ``like``, drawn from a
    seed taken from the NumPy Generator ``rng``."""
    import dask.array as da

    generator = da.random.default_rng(int(rng.integers(2**63)))
    return generator.uniform(lower, upper, size=like.shape, chunks=like.chunks).astype(like.dtype)


dispatch.register_chunked(sys.modules[__name__])
