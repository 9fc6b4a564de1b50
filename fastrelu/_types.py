"""Type aliases of the public API."""

from typing import Any, Optional

#: What the activations take and give: NumPy arrays (and array-likes such as
#: lists), GPU arrays (Numba device arrays, CuPy, PyTorch CUDA tensors) and
#: Dask arrays; a result is of the same kind as the first array argument.
Array = Any

#: A backend name ("auto", "numpy", "numba", ...) or None for the one in force.
BackendName = Optional[str]
