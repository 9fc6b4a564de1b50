"""Results of large allocating calls are reused only once nothing holds them."""

import gc

import numpy as np
import pytest

import fastrelu
from fastrelu import _buffers, _config

N = 2 * _buffers.SMALLEST // 4  # float32 elements: above the size that is pooled


@pytest.fixture(autouse=True)
def empty_pool():
    _buffers.clear()
    yield
    _buffers.clear()


@pytest.mark.parametrize("backend", [None, "numba", "numba-parallel", "numpy"])
def test_a_dropped_result_is_reused_and_a_held_one_never(backend):
    x = np.linspace(-1, 1, N, dtype=np.float32)
    expected = np.maximum(x, 0)
    first = fastrelu.relu(x, backend=backend)
    second = fastrelu.relu(x, backend=backend)
    assert not np.shares_memory(first, second)
    view = first[::3]
    del first
    gc.collect()
    third = fastrelu.relu(-x, backend=backend)
    assert not np.shares_memory(third, view)  # the view still holds the first result
    np.testing.assert_array_equal(view, expected[::3])
    pooled_addresses = {a.ctypes.data for a in _buffers._pool}
    del view, third
    fourth = fastrelu.relu(x, backend=backend)
    assert fourth.ctypes.data in pooled_addresses  # a dropped one came back
    np.testing.assert_array_equal(fourth, expected)
    np.testing.assert_array_equal(second, expected)


def test_reuse_returns_the_same_memory_once_dropped():
    x = np.linspace(-1, 1, N, dtype=np.float32)
    y = fastrelu.relu(x)
    address = y.ctypes.data
    del y
    z = fastrelu.relu(x)
    assert z.ctypes.data == address
    grad = fastrelu.relu_backward(x, x)  # another result of the same shape: new memory
    assert grad.ctypes.data != address


def test_a_memoryview_holds_a_result():
    x = np.linspace(-1, 1, N, dtype=np.float32)
    y = fastrelu.relu(x)
    memory = memoryview(y)
    del y
    z = fastrelu.relu(-x)
    assert not np.shares_memory(z, np.asarray(memory))


def test_a_torch_tensor_holds_a_result():
    torch = pytest.importorskip("torch")
    x = np.linspace(-1, 1, N, dtype=np.float32)
    w = fastrelu.relu(x)
    tensor = torch.from_numpy(w)
    del w
    v = fastrelu.relu(-x)
    assert not np.shares_memory(v, tensor.numpy())
    assert float(tensor.max()) == 1.0


def test_a_limit_of_zero_turns_reuse_off(monkeypatch):
    monkeypatch.setattr(_config, "REUSE_BYTES", 0)
    x = np.linspace(-1, 1, N, dtype=np.float32)
    fastrelu.relu(x)
    assert not _buffers._pool


def test_the_pool_stays_within_its_limit(monkeypatch):
    monkeypatch.setattr(_config, "REUSE_BYTES", 3 * N * 4)
    x = np.linspace(-1, 1, N, dtype=np.float32)
    held = [fastrelu.relu(x) for _ in range(5)]
    assert sum(a.nbytes for a in _buffers._pool) <= 3 * N * 4
    assert len({a.ctypes.data for a in held}) == 5
