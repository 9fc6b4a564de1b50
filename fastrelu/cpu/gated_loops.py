"""CPU loops of the gated activations (``definitions.GATED``): act(gate) * up
in one pass, and its backward in one pass that reads grad, gate and up once
and writes both gradients.

Flat loops for C-contiguous arrays; loops by row for 2-D views whose rows
are apart in memory (the halves of one packed array, ``x[..., :H]``), which
run without a copy.  Each element's value comes from the definitions'
scalar formulas, as on every other path.  Imported on first use.
"""

import numpy as np

from .. import _compiler, _source, definitions
from .pool import run_loop

_KERNELS = _compiler.Memo()


def _compiled(gated, kind, parallel):
    return _KERNELS.get((gated, kind, parallel), _build, gated, kind, parallel)


def _build(gated, kind, parallel):
    import numba

    _compiler.register_helpers()
    for formula in gated.formulas:
        _compiler.jitable(formula)
    loop = _source.with_globals(_LOOPS[kind], {
        "gated_forward": gated.forward, "gated_backward_gate": gated.backward_gate,
        "gated_backward_up": gated.backward_up, "loop_range": numba.prange if parallel else range})
    # A user's gated activation (make_gated of a user's activation) is
    # compiled per process, as a user's activation is.  Named by the gate
    # activation: gated activations of the same one run the same code.
    cache = all(_compiler.cacheable(f) for f in gated.formulas)
    if cache:
        threads = "parallel" if parallel else "serial"
        _compiler.stamped_name(loop, f"{gated.activation.name}_gated_{kind}_{threads}",
                               *gated.formulas)
    wide = gated.activation.name not in definitions.MEMORY_BOUND  # reglu's is relu
    return _compiler.njit(loop, parallel=parallel, cache=cache, wide_vectors=wide)


# The loops, copied for each gated activation (_build) with these names
# bound to its formulas and to range or numba.prange: globals, not closure
# variables, for Numba's disk cache (see _source.generated).
gated_forward = gated_backward_gate = gated_backward_up = loop_range = None


def forward_flat(g, u, out):
    for i in loop_range(out.size):
        out[i] = gated_forward(g[i], u[i])


def forward_rows(g, u, out):
    for r in loop_range(out.shape[0]):
        g_row, u_row, out_row = g[r], u[r], out[r]
        for j in range(out_row.size):
            out_row[j] = gated_forward(g_row[j], u_row[j])


# Each element is read before either gradient is written, so the
# gradients may be written over gate and up themselves.
def backward_flat(dy, g, u, grad_g, grad_u):
    for i in loop_range(dy.size):
        d, x, v = dy[i], g[i], u[i]
        grad_g[i] = gated_backward_gate(d, x, v)
        grad_u[i] = gated_backward_up(d, x)


def backward_rows(dy, g, u, grad_g, grad_u):
    for r in loop_range(dy.shape[0]):
        dy_row, g_row, u_row, gg_row, gu_row = dy[r], g[r], u[r], grad_g[r], grad_u[r]
        for j in range(dy_row.size):
            d, x, v = dy_row[j], g_row[j], u_row[j]
            gg_row[j] = gated_backward_gate(d, x, v)
            gu_row[j] = gated_backward_up(d, x)


# The rows of 2-D views whose rows are contiguous but apart (the halves
# of a packed projection), as 1-D contiguous spans with a row step in
# elements: each row's inner loop then vectorises as a flat loop does,
# where a row of a 2-D view (Numba's layout "A") runs one element at a time.
def forward_spans(g, g_step, u, u_step, out, out_step, rows, columns):
    for r in loop_range(rows):
        g_row = g[r * g_step:r * g_step + columns]
        u_row = u[r * u_step:r * u_step + columns]
        out_row = out[r * out_step:r * out_step + columns]
        for j in range(columns):
            out_row[j] = gated_forward(g_row[j], u_row[j])


def backward_spans(dy, dy_step, g, g_step, u, u_step, grad_g, gg_step, grad_u, gu_step,
                   rows, columns):
    for r in loop_range(rows):
        dy_row = dy[r * dy_step:r * dy_step + columns]
        g_row = g[r * g_step:r * g_step + columns]
        u_row = u[r * u_step:r * u_step + columns]
        gg_row = grad_g[r * gg_step:r * gg_step + columns]
        gu_row = grad_u[r * gu_step:r * gu_step + columns]
        for j in range(columns):
            d, x, v = dy_row[j], g_row[j], u_row[j]
            gg_row[j] = gated_backward_gate(d, x, v)
            gu_row[j] = gated_backward_up(d, x)


_LOOPS = {loop.__name__: loop for loop in (forward_flat, forward_rows, backward_flat,
                                           backward_rows, forward_spans, backward_spans)}


def _flat(arrays):
    """1-D views where every array is C-contiguous, else None."""
    if all(a.flags.c_contiguous for a in arrays):
        return tuple(a.reshape(-1) for a in arrays)
    return None


def _spans(arrays):
    """For 2-D arrays with contiguous rows: each as a 1-D contiguous view
    from its first element to its last and its row step in elements, then
    the rows and columns (the arguments of the ``*_spans`` loops); None
    where a row step is negative or not a whole number of elements."""
    found = []
    for a in arrays:
        step, size = a.strides[0], a.itemsize
        if step < 0 or step % size:
            return None
        step //= size
        length = (a.shape[0] - 1) * step + a.shape[1]
        found += [np.lib.stride_tricks.as_strided(a, (length,), (size,)), step]
    return (*found, *arrays[0].shape)


def _run(parallel, gated, direction, arrays):
    flat = _flat(arrays)
    if flat is not None:
        kind, arguments = direction + "_flat", flat
    else:
        spans = _spans(arrays)
        kind, arguments = (direction + "_rows", arrays) if spans is None else (
            direction + "_spans", spans)
    run_loop(lambda p: _compiled(gated, kind, p), parallel, arguments)


def forward(parallel, gated, gate, up, out):
    """``out = gated.forward(gate, up)`` on 2-D arrays (see Backend.gated)."""
    _run(parallel, gated, "forward", (gate, up, out))


def backward(parallel, gated, grad, gate, up, grad_gate, grad_up):
    _run(parallel, gated, "backward", (grad, gate, up, grad_gate, grad_up))
