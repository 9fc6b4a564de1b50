"""CPU backends and their compiled loops: numpy, numba, numba-parallel, numba-ufunc."""
