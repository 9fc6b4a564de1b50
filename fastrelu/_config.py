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
