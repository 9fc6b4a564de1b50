"""Docstrings put together from pieces written once.

``api.make_activation`` writes each function at import time; its docstring
(what ``help()`` and the API reference show) is put together here from one
summary, the parameters' descriptions and an example whose output the
tests check (tests/test_docs.py runs every example in the public API).
The functions written by hand take the paragraphs they share from here
too: a line of their docstring that holds only ``{name}`` stands for
``SHARED[name]`` (see :func:`filled`), and the gated operations' docstrings
are one template (see :func:`gated`).
"""

# The Args paragraphs of most public operations, as each docstring's line
# "{name}" stands for them (later lines indented four more, as written).
SHARED = {
    "out": "out: Where to write the result (its shape and dtype); may be the input itself.",
    "backend": """backend: The backend for this call (``"numba"``, ``"numba-parallel"``,
    ...); default the one in force (``use_backend``, ``set_backend``,
    ``FASTRELU_BACKEND``, else ``"auto"``).""",
    "stream": """stream: For GPU arrays, the stream to launch on (a Numba, PyTorch or
    CuPy stream, or a raw handle); default the stream the first GPU
    array comes from (see ``use_stream``).  Ignored for host arrays.""",
}
# The keyword arguments most operations take, "*, out=None, backend=None,
# stream=None", in a line.
SHARED["keywords"] = "\n".join(SHARED[k] for k in ("out", "backend", "stream"))


def fill(text, fields=SHARED):
    """``text`` with each line that holds only ``{name}`` replaced by the
    paragraph ``fields[name]``, indented as that line; an empty paragraph
    drops the line.  Other braces (an example's dict) stay as they are."""
    lines = []
    for line in text.split("\n"):
        key = line.strip()
        if not (key[:1] == "{" and key[-1:] == "}" and key[1:-1].isidentifier()):
            lines.append(line)
            continue
        paragraph, indent = fields[key[1:-1]], line[:len(line) - len(line.lstrip())]
        if paragraph:
            lines.extend(indent + part if part else part for part in paragraph.split("\n"))
    return "\n".join(lines)


def filled(function):
    """Decorator: ``function``'s own docstring with its ``{name}`` lines
    filled from SHARED (no docstring under ``python -OO``: nothing to do)."""
    if function.__doc__:
        function.__doc__ = fill(function.__doc__)
    return function


ARRAYS = {
    "x": "The input: a NumPy array or array-like, a GPU array (Numba, CuPy, PyTorch CUDA) "
         "or a Dask array.",
    "grad": "The gradient of the loss with respect to the output, shaped and typed as the "
            "second array.",
    "y": "The forward's output (what the activation returned), in place of its input.",
}

PARAMETERS = {
    "negative_slope": "Slope below 0 (PyTorch's default 0.01).",
    "alpha": "Scale of the negative part (default 1.0).",
    "beta": "Sharpness: softplus(x) = log(1 + exp(beta * x)) / beta (default 1.0).",
    "threshold": "Above beta * x > threshold the result is x itself (default 20.0).",
}

COMMON = fill("""    out: Where to write the result: an array of the result's shape and dtype,
        any layout; ``out=x`` works in place.  Default: a new array.
    {backend}
    {stream}

Returns:
    The result, of the input's shape and dtype, and of the same kind as the
    first array argument (NumPy in, NumPy out; CuPy in, CuPy out; Dask in,
    lazy Dask out); ``out`` itself when given.

Raises:
    TypeError: A dtype it does not take (bool, complex, integers for all but
        relu), arrays of different dtypes, an ``out`` of another dtype, a
        parameter that is not a real number.
    ValueError: Arrays of different shapes, an ``out`` of another shape or
        read-only, an unknown backend name (the message lists the known ones).
    NotImplementedError: A backend that does not implement the operation.
""")

# The example input of every activation; the values it gives are its
# Definition's ``example``.
EXAMPLE_INPUT = "np.array([-2.0, 0.0, 1.5])"


def docstring(summary, name, arrays, params, direction, example=()):
    """A Google-style docstring: summary, Args, Returns, Raises, and an
    Example where ``example`` gives the activation's (forward, backward)
    values at EXAMPLE_INPUT."""
    lines = [summary.strip(), "", "Args:"]
    for array in arrays:
        lines.append(f"    {array}: {ARRAYS[array]}")
    for param, default in params:
        lines.append(f"    {param}: {PARAMETERS.get(param, f'Parameter (default {default}).')}")
    text = "\n".join(lines) + "\n" + COMMON
    base = name.removesuffix("_backward").removesuffix("_backward_from_output")
    if example:
        forward, backward = example
        if direction == "forward":
            call, values = f"fastrelu.{name}(x)", forward
        elif name.endswith("_from_output"):
            call, values = f"fastrelu.{name}(np.ones(3), fastrelu.{base}(x))", backward
        else:
            call, values = f"fastrelu.{name}(np.ones(3), x)", backward
        text += ("\nExamples:\n    >>> import numpy as np, fastrelu\n"
                 f"    >>> x = {EXAMPLE_INPUT}\n    >>> {call}.round(4).tolist()\n    {values}\n")
    return text


# The gated operations' docstring (gated.py), forward and backward: the
# paragraphs they do not share come from GATED_FORWARD or GATED_BACKWARD,
# the example's values from GATED_EXAMPLES (see gated).
GATED = """{summary}

Args:
    {arrays}
    {approximate}
    {out}
    {backend}
    {stream}

Returns:
    {returns}

Raises:
    TypeError: A dtype other than a float (float16, bfloat16, float32,
        float64), or arrays of different dtypes.
    ValueError: Arrays of different shapes (no broadcasting), an ``out`` of
        another shape or read-only, an unknown backend name.

Examples:
    >>> import numpy as np, fastrelu
    >>> gate, up = np.array([-1.0, 0.5, 2.0]), np.array([3.0, 2.0, 0.5])
    {example}
"""
GATED_FORWARD = {
    "arrays": """gate: The array the activation is applied to.
up: The array it multiplies: the same shape and dtype (for one packed
    projection ``h``, ``up, gate = h[:, :n], h[:, n:]`` work without a copy).""",
    "out": "out: Where to write the result (``out=gate`` or ``out=up`` work in place).",
    "returns": "The result, of the inputs' shape and dtype.",
}
GATED_BACKWARD = {
    "arrays": """grad: The gradient of the loss with respect to the result.
gate: The forward's gate.
up: The forward's up.""",
    "out": """out: Optional pair of arrays ``(grad_gate, grad_up)`` to write, which may
    be ``(gate, up)`` themselves (the packed gradient, in place).""",
    "returns": "``(grad_gate, grad_up)``, both computed in one pass.",
}
# The gated operations' example values (gate and up as in GATED), forward
# and backward with grad 1, rounded to 4 digits.
GATED_EXAMPLES = {
    "reglu": ([0.0, 1.0, 1.0], [[0.0, 2.0, 0.5], [0.0, 0.5, 2.0]]),
    "geglu": ([-0.476, 0.6915, 0.9772], [[-0.2499, 1.735, 0.5426], [-0.1587, 0.3457, 1.9545]]),
    "swiglu": ([-0.8068, 0.6225, 0.8808], [[0.217, 1.4799, 0.5454], [-0.2689, 0.3112, 1.7616]]),
}
APPROXIMATE = 'approximate: ``"none"`` (the normal CDF) or ``"tanh"``, as F.gelu.'


def gated(summary=None, approximate=False):
    """Decorator: the GATED docstring for a gated operation, its backward's
    when its name ends in ``_backward`` (whose summary is written here), with
    its example from GATED_EXAMPLES."""
    def document(function):
        name = function.__name__
        forward = name.removesuffix("_backward")
        if name == forward:
            fields = {**GATED_FORWARD, "summary": summary}
            call = f"fastrelu.{name}(gate, up).round(4).tolist()"
            values = GATED_EXAMPLES[name][0]
        else:
            fields = {**GATED_BACKWARD, "summary": f"Both gradients of :func:`{forward}` in one "
                                                   "pass over ``grad``, ``gate`` and ``up``."}
            call = f"[g.round(4).tolist() for g in fastrelu.{name}(np.ones(3), gate, up)]"
            values = GATED_EXAMPLES[forward][1]
        function.__doc__ = fill(GATED, {
            **SHARED, **fields, "approximate": APPROXIMATE if approximate else "",
            "example": f">>> {call}\n{values}"})
        return function
    return document
