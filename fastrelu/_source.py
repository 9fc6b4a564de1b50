"""The one code generator: functions written as text, for code written
once for any number of arguments (the loops, their checked entries, the
chain rule, the gated formulas, the CUDA kernels, the overloads inside
users' ``@njit`` code).

Imports nothing of fastrelu, so that the formulas' own module
(``definitions``) can make its gated formulas with it; ``_compiler``, which
owns Numba's options and the cache stamps, reads the ``inlines`` each
function records.
"""

import sys
import textwrap
import types


def generated(name, params, body, namespace, module):
    """The function ``def name(*params): body`` (``body``: lines of source
    text), reading ``namespace`` as its globals; ``module``: the name of the
    module that writes it.

    For code written once for any number of arguments: Numba inlines a
    formula into a loop only where the call's arguments are written out,
    not ``*args``, so the text spells them out.  What the code calls is a
    global, not a closure variable: Numba's disk cache keys a function on
    its pickled closure, stable only for functions importable by name (not
    a generated formula, nor a dispatcher, whose pickle holds an id new in
    every process).  The code is filed under ``module``'s source file:
    Numba finds a function's cache by its file, which must exist, and drops
    the cache when that file changes.  The functions in ``namespace`` are
    kept as ``inlines``, which ``_compiler.stamped_name`` and
    ``_compiler.cacheable`` follow.
    """
    source = f"def {name}({', '.join(params)}):\n" + textwrap.indent(body, "    ")
    scope = {"__name__": module, **namespace}
    exec(compile(source, sys.modules[module].__file__, "exec"), scope)  # noqa: S102 - our own text
    func = scope[name]
    func.inlines = _functions(namespace)
    return func


def with_globals(template, namespace):
    """A copy of ``template``, a module-level function, that reads
    ``namespace`` over its module's globals: a hand-written loop made for
    one set of formulas, as ``generated`` makes one (and for its reasons)."""
    func = types.FunctionType(template.__code__, {**template.__globals__, **namespace},
                              template.__name__)
    func.inlines = _functions(namespace)
    return func


def _functions(namespace):
    return tuple(value for value in namespace.values() if isinstance(value, types.FunctionType))
