"""Starting Numba's thread pool with settings that let it share the cores.

Numba starts its pool (the threading layer) on the first parallel loop.
With GNU OpenMP, the layer of Numba's Linux wheels, each worker thread then
spins for a while after every loop before it sleeps: by default about 8 ms
of a core on a 2-core machine.  A program that calls fastrelu between
matrix products loses that core to the spinning threads at every BLAS call
(and BLAS's own spinning threads take it back at every fastrelu call):
training steps ran 2-18x slower than with NumPy's relu.  So fastrelu starts
the pool itself, with a short spin count (``_config.OMP_SPINCOUNT``): long
enough for a call that comes straight after the last one, short enough to
give the core back to BLAS.  GNU OpenMP reads ``GOMP_SPINCOUNT`` once, as it
loads: the variable is set only while the pool starts, so nothing else in
the process (PyTorch's OpenMP, child processes) sees it.
"""

import os
import threading

from .. import _config

#: The user's own OpenMP settings: where either is set, fastrelu sets nothing.
USER_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")

_lock = threading.Lock()
_started = None  # what start_pool found and did, for describe()


def start_pool():
    """Start Numba's thread pool, once per process, with fastrelu's spin count
    where it applies; returns the name of the threading layer."""
    global _started
    with _lock:
        if _started is None:
            _started = _start()
        return _started["layer"]


def _start():
    import numba

    try:
        layer = numba.threading_layer()  # raises ValueError until the pool has started
        return {"layer": layer, "spin": None, "why": "Numba's thread pool was started before "
                "fastrelu's first parallel loop"}
    except ValueError:
        pass
    spin, why = _config.OMP_SPINCOUNT, None
    users = [f"{v}={os.environ[v]}" for v in USER_VARIABLES if v in os.environ]
    if spin == "off":
        spin, why = None, "FASTRELU_OMP_SPINCOUNT=off"
    elif users:
        spin, why = None, "the environment sets " + ", ".join(users)
    elif _gomp_loaded():
        spin, why = None, "GNU OpenMP was loaded before Numba's thread pool started"
    if spin is not None:
        os.environ["GOMP_SPINCOUNT"] = spin
    try:
        numba.get_num_threads()  # starts the pool; GNU OpenMP reads the variable as it loads
    finally:
        if spin is not None:
            del os.environ["GOMP_SPINCOUNT"]
    layer = numba.threading_layer()
    if spin is not None and layer != "omp":
        spin, why = None, f"the threading layer is {layer}, not OpenMP"
    return {"layer": layer, "spin": spin, "why": why}


def _gomp_loaded():
    """Whether a GNU OpenMP library of the default name is in the process
    already (it would not read the variable again); False where unknown."""
    try:
        with open("/proc/self/maps") as maps:
            return any(os.path.basename(line.split()[-1]).startswith("libgomp.so")
                       for line in maps if "/" in line)
    except OSError:
        return False


def describe():
    """One line on the pool's settings, for ``python -m fastrelu info``."""
    if _started is None:
        return "thread pool: not started yet"
    if _started["spin"] is not None:
        return (f"OpenMP spin count: {_started['spin']} (FASTRELU_OMP_SPINCOUNT; "
                "'off' keeps OpenMP's default)")
    return f"OpenMP spin count: not set by fastrelu ({_started['why']})"


class _ThreadPoolGuard:
    """Makes Numba's thread pool safe to call from many threads and after fork.

    The ``workqueue`` threading layer aborts the process when two threads
    enter it at once, so calls are serialised until we know the layer in use
    (it is fixed at the first parallel call) and for as long as it is
    ``workqueue``. GNU OpenMP cannot be used in a child after ``fork()``.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._layer = None
        self._pid = None

    def usable(self):
        return not (self._layer == "omp" and self._pid != os.getpid())

    def run(self, kernel, args):
        if self._layer is not None and self._layer != "workqueue":
            return kernel(*args)
        with self._lock:
            if self._layer is None:
                # Started here, before any parallel loop runs or compiles
                # (compiling one would start it with OpenMP's defaults).
                self._layer = start_pool()
                self._pid = os.getpid()
            return kernel(*args)


# One guard: Numba has one thread pool per process.
POOL = _ThreadPoolGuard()


def run_parallel(kernel, args, serial):
    """``kernel(*args)``, a prange loop, through the guard of the thread pool;
    where the pool cannot run (after fork() GNU OpenMP would abort the child)
    its one-thread twin ``serial()(*args)`` instead.  Every prange loop called
    from Python goes through here (the backends' loops)."""
    if POOL.usable():
        return POOL.run(kernel, args)
    return serial()(*args)


def run_loop(kernel_for, parallel, args):
    """``kernel_for(parallel)(*args)``; a parallel kernel through
    ``run_parallel``, with ``kernel_for(False)`` where the pool cannot run."""
    if parallel:
        return run_parallel(kernel_for(True), args, lambda: kernel_for(False))
    return kernel_for(False)(*args)
