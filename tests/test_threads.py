"""Concurrency: many Python threads at once, every threading layer, and fork()."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys, threading
    import numpy as np
    import fastrelu

    n = 300_000  # above the parallel threshold: auto takes numba-parallel
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(15):
            x = rng.standard_normal(n).astype(np.float32)
            for backend in ("auto", "numba-parallel", "numba", "numba-ufunc"):
                y = fastrelu.relu(x, backend=backend)
                g = fastrelu.leaky_relu_backward(x, x, 0.1, backend=backend)
                if not (np.array_equal(y, np.where(x <= 0, 0, x))
                        and np.array_equal(g, np.where(x > 0, x, x * np.float32(0.1)))):
                    errors.append(backend)
            # The loops called outside the backends: masks, fused, per channel.
            y, mask = fastrelu.relu_mask(x, backend="numba-parallel")
            grad = fastrelu.relu_backward_mask(x, mask, backend="numba-parallel")
            if not (np.array_equal(y, np.where(x <= 0, 0, x))
                    and np.array_equal(grad, np.where(x > 0, x, 0))):
                errors.append("masks")
            rows = x.reshape(-1, 100)
            bias = np.linspace(-1, 1, 100, dtype=np.float32)
            y = fastrelu.bias_relu(rows, bias, backend="numba-parallel")
            grad, _ = fastrelu.bias_relu_backward(rows, rows, bias, backend="numba-parallel")
            if not (np.array_equal(y, np.maximum(rows + bias, 0))
                    and np.array_equal(grad, np.where(rows + bias > 0, rows, 0))):
                errors.append("fused")
            slopes = np.full(100, 0.25, np.float32)
            y = fastrelu.prelu(rows, slopes, backend="numba-parallel")
            grad, _ = fastrelu.prelu_backward(rows, rows, slopes, backend="numba-parallel")
            want = np.where(rows > 0, rows, rows * np.float32(0.25))
            if not (np.array_equal(y, want) and np.array_equal(grad, want)):
                errors.append("prelu")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    import numba
    print("layer", numba.threading_layer(), "errors", len(errors))
    sys.exit(1 if errors else 0)
""")


def _available_layers():
    """workqueue always; omp and tbb where Numba's pool for them imports."""
    import importlib

    layers = ["workqueue"]
    for layer in ("omp", "tbb"):
        try:
            importlib.import_module(f"numba.np.ufunc.{layer}pool")
        except ImportError:
            continue
        layers.append(layer)
    return layers


def _run_under(layer, script):
    """Run ``script`` in a new interpreter with Numba's threading layer set."""
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("layer", _available_layers())
def test_eight_threads_under_each_threading_layer(layer):
    assert f"layer {layer} errors 0" in _run_under(layer, SCRIPT)


FORK_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import fastrelu

    x = np.random.default_rng(0).standard_normal(300_000)
    expected = np.where(x <= 0, 0, x)
    assert np.array_equal(fastrelu.relu(x, backend="numba-parallel"), expected)
    mask = np.packbits(x > 0, bitorder="little")
    assert np.array_equal(fastrelu.relu_mask(x, backend="numba-parallel")[1], mask)
    # Past 32 MiB relu and its gradient stream their stores (_streaming_kernel).
    big = np.random.default_rng(1).standard_normal(4_500_000)
    big_expected = np.where(big <= 0, 0, big)
    assert np.array_equal(fastrelu.relu(big, backend="numba-parallel"), big_expected)
    assert np.array_equal(fastrelu.relu_backward(big, big, backend="numba-parallel"), big_expected)
    pid = os.fork()
    if pid == 0:
        ok = (np.array_equal(fastrelu.relu(x, backend="numba-parallel"), expected)
              and np.array_equal(fastrelu.relu_mask(x, backend="numba-parallel")[1], mask)
              and np.array_equal(fastrelu.prelu(x, 0.0, backend="numba-parallel"), expected)
              and np.array_equal(fastrelu.relu(big, backend="numba-parallel"), big_expected)
              and np.array_equal(fastrelu.relu_backward(big, big, backend="numba-parallel"),
                                 big_expected)
              and np.array_equal(fastrelu.relu_mask(big, backend="numba-parallel")[0],
                                 big_expected)
              and np.array_equal(fastrelu.relu_backward_mask(
                  big, fastrelu.relu_mask(big)[1], backend="numba-parallel"), big_expected))
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    assert np.array_equal(fastrelu.relu(x, backend="numba-parallel"), expected)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("layer", _available_layers())
def test_parallel_backend_after_fork(layer):
    assert "child 0" in _run_under(layer, FORK_SCRIPT)
