"""Every setting fastrelu reads from the environment, in one place."""

import os

#: Backend used when neither ``backend=`` nor ``use_backend()`` says otherwise.
DEFAULT_BACKEND = os.environ.get("FASTRELU_BACKEND", "auto").strip() or "auto"

#: ``auto`` switches from the serial to the multi-threaded CPU kernels at this
#: many float32 elements, and at the same number of bytes for other dtypes
#: (the cost is in the bytes moved).  Measured with
#: ``python perf/bench.py --crossover`` (2 cores: even at about 50000).
PARALLEL_THRESHOLD = int(os.environ.get("FASTRELU_PARALLEL_THRESHOLD", "65536"))
PARALLEL_THRESHOLD_BYTES = 4 * PARALLEL_THRESHOLD

#: At most this many bytes of results of allocating calls (1 MiB and up) are
#: kept for reuse once their callers drop them (``_buffers``); 0: none.
REUSE_BYTES = int(os.environ.get("FASTRELU_REUSE_BYTES", str(1 << 30)))

#: After a parallel loop, Numba's OpenMP worker threads (GNU OpenMP, the
#: layer of Numba's Linux wheels) spin this many times before they sleep.
#: OpenMP's own default spins about 8.7 ms of a core after every loop on a
#: 2-core machine, which takes it from the BLAS or PyTorch call that comes
#: next (training steps that interleave them ran 2-18x slower).  5000 spins
#: burn 0.1-0.75 ms; fewer (1000) let a worker fall asleep before a call
#: that comes straight after a wake-up, and then every call paid a wake-up
#: (7 us became 70 us in 4 of 6 processes).  fastrelu sets it only for
#: Numba's pool as it starts (``cpu/pool.py``), never over the user's own
#: ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``; "off" keeps OpenMP's default.
OMP_SPINCOUNT = os.environ.get("FASTRELU_OMP_SPINCOUNT", "5000").strip().lower() or "off"

#: Vector width, in bits, that LLVM may use in fastrelu's CPU loops where
#: the CPU has wider registers than its tuning prefers.  On Intel's AVX-512
#: CPUs LLVM uses 256-bit vectors unless told otherwise (its tuning flag
#: 'prefer-256-bit', against the clock drop of 512-bit code on the first
#: of them, Skylake-X); PyTorch's kernels use 512 there, and the loops that
#: compute ran 1.2-2x faster with 512 on an Ice Lake-class core (1e6
#: elements, serial: float32 gelu 1.4x, silu 1.35x, float64 sigmoid 2x).
#: Set 256 to keep LLVM's choice.  Only fastrelu's loops that compute get
#: it (``_compiler.njit``): not those bound by memory
#: (``definitions.MEMORY_BOUND``), nor the float32 ones it slowed
#: (``definitions.FLOAT64_INSIDE``).
PREFER_VECTOR_BITS = int(os.environ.get("FASTRELU_PREFER_VECTOR_BITS", "512"))

#: A call that comes after other work (a matrix product, say) finds the
#: pool's workers asleep, and waking them costs about 55 us on 2 cores
#: (``perf/bench_interleaved.py``): ``auto`` then goes parallel only from
#: this many float32 elements (4 MiB; that many bytes for other dtypes).
COLD_PARALLEL_THRESHOLD = int(os.environ.get("FASTRELU_COLD_PARALLEL_THRESHOLD", "1048576"))
COLD_PARALLEL_THRESHOLD_BYTES = 4 * COLD_PARALLEL_THRESHOLD

#: A call this soon after the last large one ended finds the workers still
#: spinning (5000 spins: 0.1-0.75 ms on 2 cores): awake.  Far shorter than a
#: matrix product on arrays of PARALLEL_THRESHOLD bytes, so a call after one
#: is cold.
POOL_WARM_SECONDS = 100e-6

#: Numba's thread count as the process starts (NUMBA_NUM_THREADS, else the
#: CPUs this process may run on, as Numba counts them): what ``auto``
#: expects a parallel loop to share its work among.
THREADS = int(os.environ.get("NUMBA_NUM_THREADS", "0") or 0) or (
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))

#: ``auto`` never runs a call of fewer bytes than this on several threads,
#: however costly its activation: below, the split work is too little to
#: measure the gain against the loop's own cost reliably.
SMALLEST_PARALLEL_BYTES = 16384
