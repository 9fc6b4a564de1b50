"""Dask arrays: every activation maps over the chunks lazily, on threads and on a cluster."""

import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import fastrelu  # noqa: E402
from conftest import random_normal  # noqa: E402
from test_family import CASES, assert_close, backward, forward, tolerance  # noqa: E402


def chunked(array, chunks=(7, 5)):
    return da.from_array(array, chunks=chunks[:array.ndim])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_activation_matches_numpy_chunk_by_chunk(name):
    x = random_normal((20, 13), np.float32)
    grad = random_normal((20, 13), np.float32, seed=1)
    result = forward(name, chunked(x))
    assert isinstance(result, da.Array) and result.dtype == np.float32
    ulps = tolerance(name, np.float32)
    with dask.config.set(scheduler="threads"):
        assert_close(result.compute(), forward(name, x, backend="numpy"), np.float32, ulps)
        assert_close(backward(name, chunked(grad), chunked(x)).compute(),
                     backward(name, grad, x, backend="numpy"), np.float32, ulps)


def test_gradients_from_the_output():
    y = fastrelu.tanh(random_normal((20, 13), np.float32))
    grad = random_normal((20, 13), np.float32, seed=2)
    result = fastrelu.tanh_backward_from_output(chunked(grad), chunked(y))
    assert isinstance(result, da.Array)
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(result.compute(),
                                      fastrelu.tanh_backward_from_output(grad, y))
    # Workers on a cluster find their own copy of the definition by name.
    definition = fastrelu.definitions.FROM_OUTPUT["tanh"]
    assert pickle.loads(pickle.dumps(definition)) is definition


def test_lazy_until_computed_and_mixed_inputs():
    calls = []
    x = da.from_array(random_normal(40, np.float64), chunks=10)
    watched = x.map_blocks(lambda b: calls.append(b.size) or b, dtype=x.dtype, meta=np.empty(0))
    y = fastrelu.relu(watched)
    assert calls == [] and y.chunks == x.chunks
    assert y.name.startswith("relu")
    y.compute(scheduler="sync")
    assert calls == [10] * 4
    grad = np.arange(40.0)  # a NumPy array beside a Dask one is chunked to match
    np.testing.assert_array_equal(fastrelu.relu_backward(grad, x).compute(),
                                  np.where(x.compute() > 0, grad, 0))


def test_prelu_and_rrelu():
    x = random_normal((12, 6, 4), np.float32)
    weight = np.linspace(0.1, 0.6, 6).astype(np.float32)
    grad = random_normal(x.shape, np.float32, seed=2)
    dx = chunked(x, (5, 4, 3))
    np.testing.assert_array_equal(fastrelu.prelu(dx, weight).compute(), fastrelu.prelu(x, weight))
    gx, gw = fastrelu.prelu_backward(chunked(grad, (5, 4, 3)), dx, weight)
    want_gx, want_gw = fastrelu.prelu_backward(grad, x, weight)
    np.testing.assert_array_equal(gx.compute(), want_gx)
    np.testing.assert_allclose(gw.compute(), want_gw, rtol=1e-5)
    y, slopes = fastrelu.rrelu(dx, 0.1, 0.3, training=True, rng=np.random.default_rng(0))
    y, slopes = dask.compute(y, slopes)
    assert ((slopes >= 0.1) & (slopes <= 0.3)).all()
    np.testing.assert_array_equal(y, np.where(x > 0, x, x * slopes))


def test_backend_is_fixed_when_the_graph_is_built():
    x = chunked(random_normal(30, np.float32))
    with fastrelu.use_backend("numpy"):
        y = fastrelu.gelu(x)
    # Computed outside the block, it still runs NumPy's formula: exactly the reference.
    np.testing.assert_array_equal(y.compute(), fastrelu.gelu(x.compute(), backend="numpy"))
    with pytest.raises(ValueError, match="unknown backend"):
        fastrelu.relu(x, backend="nope")


def test_clear_errors():
    x = chunked(random_normal(16, np.float32))
    with pytest.raises(TypeError, match="out= is not supported with Dask"):
        fastrelu.relu(x, out=np.empty(16, np.float32))
    with pytest.raises(TypeError, match="does not take Dask"):
        fastrelu.relu_mask(x)
    with pytest.raises(TypeError, match="does not take Dask"):
        fastrelu.bias_relu(chunked(random_normal((4, 3), np.float32), (2, 3)), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.relu_backward(chunked(np.ones(8)), x)
    with pytest.raises(TypeError, match="dtype"):
        fastrelu.relu(da.ones(4, dtype=np.complex64, chunks=2))


def test_distributed_local_cluster():
    distributed = pytest.importorskip("distributed")
    x = random_normal(4000, np.float32)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        result = client.compute(fastrelu.silu(da.from_array(x, chunks=1000))).result()
        custom = fastrelu.activation(lambda v: v if v > 0 else 0.5 * v)
        scaled = client.compute(custom(da.from_array(x, chunks=1000))).result()
    np.testing.assert_allclose(result, fastrelu.silu(x, backend="numpy"), rtol=1e-6)
    np.testing.assert_array_equal(scaled, np.where(x > 0, x, 0.5 * x))


def test_out_of_core_example_tiny(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import out_of_core

    result = out_of_core.run(gib=2**-10, chunk_mib=0.25, activation="gelu", directory=tmp_path,
                             baseline=True)
    assert result["gib"] == 2**-10 and result["chunk_mib"] == 0.25
    assert result["activation"] == "gelu" and result["scheduler"] == "threads"
    for key in ("seconds", "gb_per_s", "copy_gb_per_s", "generate_seconds", "peak_rss_mib"):
        assert np.isfinite(result[key]) and result[key] > 0, (key, result[key])
    # GB/s counts the bytes read and written: 2 x 1 MiB over the time taken.
    assert result["gb_per_s"] == pytest.approx(2 * 2**20 / result["seconds"] / 1e9)
    assert list(tmp_path.iterdir()) == []  # the files are removed

    # Kept, the output holds gelu of every input value, in all four chunks
    # (the run itself checks three), against a float64 formula.
    out_of_core.run(gib=2**-10, chunk_mib=0.25, activation="gelu", directory=tmp_path, keep=True)
    (source,) = tmp_path.glob("*-x.f32")
    (target,) = tmp_path.glob("*-y.f32")
    x = np.fromfile(source, np.float32).astype(np.float64)
    y = np.fromfile(target, np.float32)
    assert x.size == y.size == 2**18 and x.std() > 0.9
    expected = 0.5 * x * np.array([math.erfc(-v / math.sqrt(2)) for v in x.tolist()])
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-37)


def test_gated_activations_chunk_by_chunk():
    g, u = random_normal((12, 10), np.float32), random_normal((12, 10), np.float32, seed=1)
    dy = random_normal((12, 10), np.float32, seed=2)
    dg, du, ddy = chunked(g, (5, 4)), chunked(u, (4, 10)), chunked(dy, (6, 5))  # chunked unalike
    y = fastrelu.swiglu(dg, du)
    assert y.chunks == dg.chunks
    np.testing.assert_array_equal(y.compute(), fastrelu.swiglu(g, u))
    grad_gate, grad_up = fastrelu.swiglu_backward(ddy, dg, u)  # a NumPy array beside them
    want = fastrelu.swiglu_backward(dy, g, u)
    got = dask.compute(grad_gate, grad_up)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    x = np.concatenate([u, g], axis=1)
    np.testing.assert_array_equal(fastrelu.glu(chunked(x, (5, 7))).compute(), fastrelu.glu(x))
    np.testing.assert_array_equal(fastrelu.glu_backward(ddy, chunked(x, (5, 7))).compute(),
                                  fastrelu.glu_backward(dy, x))
    with pytest.raises(TypeError, match="out= is not supported with Dask"):
        fastrelu.reglu(dg, du, out=np.empty((12, 10), np.float32))
    with pytest.raises(ValueError, match="shape"):
        fastrelu.reglu(dg, chunked(np.ones((12, 9), np.float32)))
