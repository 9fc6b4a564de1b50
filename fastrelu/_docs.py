"""The docstrings of the generated activation functions.

``api.make_activation`` writes each function at import time; its docstring
(what ``help()`` and the API reference show) is put together here from one
summary, the parameters' descriptions and an example whose output the
tests check (tests/test_docs.py runs every example in the public API).
"""

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

COMMON = """    out: Where to write the result: an array of the result's shape and dtype,
        any layout; ``out=x`` works in place.  Default: a new array.
    backend: The backend for this call (``"numba"``, ``"numba-parallel"``,
        ...); default the one in force (``use_backend``, ``set_backend``,
        ``FASTRELU_BACKEND``, else ``"auto"``).
    stream: For GPU arrays, the stream to launch on (a Numba, PyTorch or
        CuPy stream, or a raw handle); default the stream the first GPU
        array comes from (see ``use_stream``).  Ignored for host arrays.

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
"""

# The example input of every activation, and (forward, backward with grad 1)
# of each there, rounded to 4 digits.
EXAMPLE_INPUT = "np.array([-2.0, 0.0, 1.5])"
EXAMPLES = {
    "relu": ([0.0, 0.0, 1.5], [0.0, 0.0, 1.0]),
    "leaky_relu": ([-0.02, 0.0, 1.5], [0.01, 0.01, 1.0]),
    "relu6": ([0.0, 0.0, 1.5], [0.0, 0.0, 1.0]),
    "elu": ([-0.8647, 0.0, 1.5], [0.1353, 1.0, 1.0]),
    "selu": ([-1.5202, 0.0, 1.5761], [0.2379, 1.7581, 1.0507]),
    "celu": ([-0.8647, 0.0, 1.5], [0.1353, 1.0, 1.0]),
    "silu": ([-0.2384, 0.0, 1.2264], [-0.0908, 0.5, 1.0413]),
    "mish": ([-0.2525, 0.0, 1.4034], [-0.1084, 0.6, 1.0885]),
    "softplus": ([0.1269, 0.6931, 1.7014], [0.1192, 0.5, 0.8176]),
    "hardswish": ([-0.3333, 0.0, 1.125], [-0.1667, 0.5, 1.0]),
    "hardsigmoid": ([0.1667, 0.5, 0.75], [0.1667, 0.1667, 0.1667]),
    "sigmoid": ([0.1192, 0.5, 0.8176], [0.105, 0.25, 0.1491]),
    "tanh": ([-0.964, 0.0, 0.9051], [0.0707, 1.0, 0.1807]),
}


def docstring(summary, name, arrays, params, direction):
    """A Google-style docstring: summary, Args, Returns, Raises, Example."""
    lines = [summary.strip(), "", "Args:"]
    for array in arrays:
        lines.append(f"    {array}: {ARRAYS[array]}")
    for param, default in params:
        lines.append(f"    {param}: {PARAMETERS.get(param, f'Parameter (default {default}).')}")
    text = "\n".join(lines) + "\n" + COMMON
    base = name.removesuffix("_backward").removesuffix("_backward_from_output")
    if base in EXAMPLES:
        forward, backward = EXAMPLES[base]
        if direction == "forward":
            call, values = f"fastrelu.{name}(x)", forward
        elif name.endswith("_from_output"):
            call, values = f"fastrelu.{name}(np.ones(3), fastrelu.{base}(x))", backward
        else:
            call, values = f"fastrelu.{name}(np.ones(3), x)", backward
        text += ("\nExamples:\n    >>> import numpy as np, fastrelu\n"
                 f"    >>> x = {EXAMPLE_INPUT}\n    >>> {call}.round(4).tolist()\n    {values}\n")
    return text
