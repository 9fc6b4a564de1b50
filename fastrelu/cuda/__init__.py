"""The cuda backend and its kernels (numba-cuda, imported only when used)."""
