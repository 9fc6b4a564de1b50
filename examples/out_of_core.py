"""An activation over an array larger than memory, chunk by chunk, with Dask.

    python examples/out_of_core.py --gib 25            # bigger than a 24 GiB machine's RAM
    python examples/out_of_core.py --gib 1 --cluster   # on a distributed.LocalCluster

Writes a float32 file of random normal values (--gib GiB) to --dir, reads it
back as a Dask array in chunks of --chunk-mib MiB, applies the activation
with fastrelu on every chunk and stores the result in a second file, then
checks a few chunks against NumPy and reports the throughput (bytes read +
written per second) and the peak resident memory of the process (on a
cluster: of the busiest worker).  Files are read and written with
pread/pwrite rather than mmap, so the page cache of the files is not counted
as the process's memory.

Needs the extra: pip install 'fastrelu[dask]'.
"""

import argparse
import os
import pathlib
import resource
import sys
import tempfile
import time

import numpy as np

import fastrelu


class RawFile:
    """A 1-D array stored flat in a file: enough of the array protocol for
    ``da.from_array`` (reads) and ``da.store`` (writes), through pread/pwrite."""

    def __init__(self, path, dtype, size):
        self.path, self.dtype, self.shape, self.ndim = str(path), np.dtype(dtype), (size,), 1
        self._fd = None

    def _file(self):
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR)
        return self._fd

    def _span(self, key):
        key = key[0] if isinstance(key, tuple) else key
        start, stop, step = key.indices(self.shape[0])
        if step != 1:
            raise IndexError("RawFile reads and writes contiguous slices only")
        return start, stop

    def __getitem__(self, key):
        start, stop = self._span(key)
        out = np.empty(stop - start, self.dtype)
        view = memoryview(out).cast("B")
        done = 0
        while done < out.nbytes:  # pread may return less than asked
            done += os.preadv(self._file(), [view[done:]], start * self.dtype.itemsize + done)
        return out

    def __setitem__(self, key, value):
        start, _ = self._span(key)
        view = memoryview(np.ascontiguousarray(value, self.dtype)).cast("B")
        done = 0
        while done < len(view):
            done += os.pwrite(self._file(), view[done:], start * self.dtype.itemsize + done)

    def __getstate__(self):  # workers open their own file descriptor
        return {**self.__dict__, "_fd": None}

    def __len__(self):
        return self.shape[0]


def create(path, size, dtype=np.float32):
    with open(path, "wb") as f:
        f.truncate(size * np.dtype(dtype).itemsize)
    return RawFile(path, dtype, size)


def warm_up(activation):
    getattr(fastrelu, activation)(np.zeros(8, np.float32))


def peak_rss():
    """Peak resident memory of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(gib=1.0, chunk_mib=64, activation="relu", directory=None, cluster=False, workers=2,
        keep=False, seed=0, baseline=False):
    import dask
    import dask.array as da

    function = getattr(fastrelu, activation)
    size = int(gib * 2**30) // 4
    chunk = max(1, int(chunk_mib * 2**20) // 4)
    directory = pathlib.Path(directory or tempfile.gettempdir())
    source_path = directory / f"fastrelu-ooc-{os.getpid()}-x.f32"
    target_path = directory / f"fastrelu-ooc-{os.getpid()}-y.f32"
    client = None
    try:
        source, target = create(source_path, size), create(target_path, size)
        if cluster:
            import cloudpickle
            from distributed import Client, LocalCluster

            # Workers cannot import this script: send RawFile by value.
            cloudpickle.register_pickle_by_value(sys.modules[__name__])

            client = Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None))
        scheduler = {} if cluster else {"scheduler": "threads"}

        started = time.perf_counter()
        noise = da.random.default_rng(seed).standard_normal(size, chunks=chunk, dtype=np.float32)
        with dask.config.set(**scheduler):
            da.store(noise, source, lock=False)
        written = time.perf_counter() - started

        x = da.from_array(source, chunks=chunk, asarray=False, lock=False)
        warm_up(activation)  # compile (or load) the kernel before timing
        if client is not None:
            client.run(warm_up, activation)
        y = function(x)  # lazy: nothing runs yet

        def timed(array):
            with dask.config.set(**scheduler):
                started = time.perf_counter()
                da.store(array, target, lock=False)
                return time.perf_counter() - started

        # With --baseline, the same pipeline copying the data unchanged (what
        # the disk and Dask allow) alternates with the activation, twice each,
        # and the faster of each pair counts: the first pass over a freshly
        # written file pays for its write-back.
        if baseline:
            copy_first, seconds_first = timed(x), timed(y)
            copy_seconds, seconds = min(copy_first, timed(x)), min(seconds_first, timed(y))
        else:
            copy_seconds, seconds = None, timed(y)
        peak = peak_rss()
        if client is not None:
            usage = client.run(resource.getrusage, resource.RUSAGE_SELF)
            peak = max(u.ru_maxrss * 1024 for u in usage.values())

        # Check the first, a middle and the last chunk against NumPy's formula.
        definition = fastrelu.definitions.BUILTIN[activation]
        for start in sorted({0, (size // chunk // 2) * chunk, ((size - 1) // chunk) * chunk}):
            stop = min(size, start + chunk)
            expected = definition.reference(source[start:stop])
            np.testing.assert_allclose(target[start:stop], expected, rtol=2e-6, atol=1e-7)
        moved = 2 * size * 4
        return {"gib": size * 4 / 2**30, "chunk_mib": chunk * 4 / 2**20, "activation": activation,
                "scheduler": "distributed.LocalCluster" if cluster else "threads",
                "seconds": seconds, "gb_per_s": moved / seconds / 1e9, "generate_seconds": written,
                "peak_rss_mib": peak / 2**20,
                "copy_gb_per_s": None if copy_seconds is None else moved / copy_seconds / 1e9}
    finally:
        if client is not None:
            client.close()
            client.cluster.close()
        if not keep:
            for path in (source_path, target_path):
                path.unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="input size in GiB (float32)")
    parser.add_argument("--chunk-mib", type=float, default=64)
    parser.add_argument("--activation", default="relu",
                        choices=[n for n in fastrelu.activations() if n not in ("prelu", "rrelu")])
    parser.add_argument("--dir", default=None, help="where the two files go (default: the temp dir)")
    parser.add_argument("--cluster", action="store_true", help="run on a distributed.LocalCluster")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument("--baseline", action="store_true",
                        help="also time the same pipeline copying the data unchanged")
    args = parser.parse_args(argv)
    result = run(args.gib, args.chunk_mib, args.activation, args.dir, args.cluster, args.workers,
                 args.keep, baseline=args.baseline)
    print(f"{result['activation']} over {result['gib']:.2f} GiB of float32 in {result['chunk_mib']:.0f} MiB "
          f"chunks ({result['scheduler']}): {result['seconds']:.1f} s, {result['gb_per_s']:.2f} GB/s "
          f"read + written; peak memory (RSS) {result['peak_rss_mib']:.0f} MiB "
          f"(writing the input took {result['generate_seconds']:.1f} s)")
    if result["copy_gb_per_s"] is not None:
        print(f"the same pipeline copying unchanged: {result['copy_gb_per_s']:.2f} GB/s")
    return result


if __name__ == "__main__":
    main()
