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


@pytest.mark.slow  # a process per threading layer: `make test-slow`
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


@pytest.mark.slow  # a process per threading layer: `make test-slow`
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("layer", _available_layers())
def test_parallel_backend_after_fork(layer):
    assert "child 0" in _run_under(layer, FORK_SCRIPT)


SPIN_SCRIPT = textwrap.dedent("""
    import os, time
    import numpy as np
    import fastrelu
    from fastrelu.cpu import pool

    x = np.ones(1_000_000, np.float32)
    fastrelu.relu(x, out=x, backend="numba-parallel")  # starts the pool
    import numba
    print("layer", numba.threading_layer())
    print("describe", pool.describe())
    print("GOMP_SPINCOUNT", os.environ.get("GOMP_SPINCOUNT"))
    # CPU time the process burns while its main thread sleeps right after a
    # parallel loop: the pool's workers spinning before they sleep.
    burned = []
    for _ in range(5):
        fastrelu.relu(x, out=x, backend="numba-parallel")
        start = time.process_time()
        time.sleep(0.1)
        burned.append(time.process_time() - start)
    print("idle_ms", sorted(burned)[2] * 1e3)
""")


def _spin_run(**env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "FASTRELU_OMP_SPINCOUNT")}
    result = subprocess.run([sys.executable, "-c", SPIN_SCRIPT], capture_output=True, text=True,
                            timeout=600, env={**base, "NUMBA_THREADING_LAYER": "omp", **env})
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


@pytest.mark.skipif("omp" not in _available_layers(), reason="Numba's OpenMP layer is not installed")
def test_the_pool_starts_with_a_short_spin_and_gives_the_cores_back():
    out = _spin_run()
    assert out["layer"] == "omp"
    assert out["describe"].startswith("OpenMP spin count: 5000 ")
    assert out["GOMP_SPINCOUNT"] == "None"  # set only while the pool started
    # OpenMP's default spin burns about 8.7 ms of a core per loop on 2
    # cores; 5000 spins, 0.1-0.75 ms.
    assert float(out["idle_ms"]) < 2.0, out


@pytest.mark.skipif("omp" not in _available_layers(), reason="Numba's OpenMP layer is not installed")
def test_the_spin_setting_can_be_turned_off_and_never_overrides_the_users():
    out = _spin_run(FASTRELU_OMP_SPINCOUNT="off")
    assert out["describe"] == "OpenMP spin count: not set by fastrelu (FASTRELU_OMP_SPINCOUNT=off)"
    assert out["GOMP_SPINCOUNT"] == "None"
    out = _spin_run(GOMP_SPINCOUNT="5000")
    assert out["describe"] == ("OpenMP spin count: not set by fastrelu "
                               "(the environment sets GOMP_SPINCOUNT=5000)")
    assert out["GOMP_SPINCOUNT"] == "5000"


def test_the_spin_setting_is_not_taken_where_the_pool_is_not_openmp():
    out = _spin_run(NUMBA_THREADING_LAYER="workqueue")
    assert out["layer"] == "workqueue"
    assert out["describe"] == ("OpenMP spin count: not set by fastrelu "
                               "(the threading layer is workqueue, not OpenMP)")
