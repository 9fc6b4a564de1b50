"""The one call pipeline: every operation's general path is ``dispatch.call``,
and a backend says what it takes (its array kind, compute dtype, layouts)
instead of having a second set of methods."""

import pathlib

import numpy as np
import pytest

import fastrelu
from conftest import random_normal
from fastrelu import _arrays, dispatch, registry
from fastrelu.definitions import GATED

ROOT = pathlib.Path(fastrelu.__file__).parent


def _every_operation(x, g):
    """One general-path call of each public operation (a strided ``x`` or
    the numpy backend keeps the activations off their short path), by the
    operation's name."""
    rows = np.ascontiguousarray(x.reshape(4, 6))
    mask = fastrelu.relu_mask(x)[1]
    return {
        "activation": lambda b: fastrelu.silu(x[::2], backend=b),
        "relu_mask": lambda b: fastrelu.relu_mask(x, backend=b),
        "relu_backward_mask": lambda b: fastrelu.relu_backward_mask(g, mask, backend=b),
        "bias_relu": lambda b: fastrelu.bias_relu(rows, rows[0], backend=b),
        "bias_relu_backward": lambda b: fastrelu.bias_relu_backward(rows, rows, rows[0], backend=b),
        "prelu": lambda b: fastrelu.prelu(rows, np.full(6, 0.25), backend=b),
        "prelu_backward": lambda b: fastrelu.prelu_backward(rows, rows, np.full(6, 0.25), backend=b),
        "gated": lambda b: fastrelu.swiglu(rows, rows, backend=b),
        "gated_backward": lambda b: fastrelu.swiglu_backward(rows, rows, rows, backend=b),
    }


def test_every_operation_takes_the_one_general_path(monkeypatch):
    x, g = random_normal(24, np.float64), random_normal(24, np.float64, seed=1)
    seen = []
    original = dispatch.call

    def spy(op, *args, **kwargs):
        seen.append(op.operation)
        return original(op, *args, **kwargs)

    monkeypatch.setattr(dispatch, "call", spy)
    for operation, run in _every_operation(x, g).items():
        seen.clear()
        run("numpy")
        assert seen == [operation]
    assert set(_every_operation(x, g)) == set(registry.OPERATIONS)


class _Recorded:
    """An array kind that records what the general path asks of it, over
    the host backends' own (``_arrays.HOST``)."""

    def __init__(self, log):
        self._log = log

    def __getattr__(self, method):
        def recorded(*args):
            self._log.append(method)
            return getattr(_arrays.HOST, method)(*args)
        return recorded


class _Float64Only(fastrelu.Backend):
    """Computes everything in float64 on C-contiguous arrays (the numpy
    backend's methods), through its own array kind."""

    name = "float64-only"
    operations = frozenset(registry.OPERATIONS)
    layouts: dict = {}  # C-contiguous for every operation

    def __init__(self):
        self.log, self.seen = [], []
        self._numpy = registry.lookup("numpy")

    def arrays(self, originals, name):
        return _Recorded(self.log)

    def compute_dtype(self, op, dtype):
        return np.dtype(np.float64)

    def __getattribute__(self, name):
        if name in registry.OPERATIONS or name == "run":
            numpy_method = getattr(object.__getattribute__(self, "_numpy"), name)
            seen = object.__getattribute__(self, "seen")

            def checked(*args):
                arrays = [a for a in args if isinstance(a, np.ndarray)]
                seen.append((name, {a.dtype for a in arrays},
                             all(a.flags.c_contiguous for a in arrays)))
                return numpy_method(*args)
            return checked
        return object.__getattribute__(self, name)


def test_a_backend_says_what_it_takes_and_the_pipeline_gives_it_that():
    backend = _Float64Only()
    fastrelu.register_backend(backend, replace=True)
    x = random_normal(24, np.float32)[::-1]  # float32, not contiguous
    g = random_normal(24, np.float32, seed=1)
    for operation, run in _every_operation(x, g).items():
        backend.seen.clear()
        result = run("float64-only")
        expected = run("numpy")
        # The backend saw float64, C-contiguous arrays of its operation ...
        assert backend.seen and all(name in (operation, "run") and kinds <= {np.dtype(np.float64),
                                                                            np.dtype(np.uint8)}
                                    and contiguous for name, kinds, contiguous in backend.seen)
        # ... and the caller gets its dtype back, with the numpy backend's values.
        for got, want in zip(np.atleast_1d(result) if operation == "activation" else result,
                             np.atleast_1d(expected) if operation == "activation" else expected):
            assert np.asarray(got).dtype == np.asarray(want).dtype, operation
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=operation)
    # The kind took, made, staged and returned the arrays.
    assert {"take_all", "arrange", "writable", "returned"} <= set(backend.log)


def test_no_backend_has_device_twins_and_no_call_writes_a_stream_of_its_own():
    assert not [m for m in dir(fastrelu.Backend) if m.endswith("_device")]
    # The stream is taken once, in dispatch.call (and the device short path
    # declines a call that asks for one).
    sources = {p.relative_to(ROOT).as_posix(): p.read_text() for p in ROOT.rglob("*.py")}
    holders = sorted(name for name, text in sources.items() if "if stream is not None" in text)
    assert holders == ["dispatch.py"]
    assert sources["dispatch.py"].count("if stream is not None") == 1
    assert not any("on_stream(" in text for text in sources.values())


def test_stream_is_ignored_for_host_arrays_by_every_operation():
    x, g = random_normal(24, np.float64), random_normal(24, np.float64, seed=1)
    for operation, run in _every_operation(x, g).items():
        with fastrelu.use_stream(0):
            in_block = run("numba")
        plain = run("numba")
        for got, want in zip(np.atleast_1d(in_block) if operation == "activation" else in_block,
                             np.atleast_1d(plain) if operation == "activation" else plain):
            np.testing.assert_array_equal(got, want, err_msg=operation)


@pytest.mark.parametrize("name", ["reglu", "swiglu", "geglu", "glu"])
def test_gated_operations_are_made_once_per_gated_activation(name):
    from fastrelu import gated

    assert gated._forward_operation(GATED[name]) is gated._forward_operation(GATED[name])
    assert gated._backward_operation(GATED[name]).operation == "gated_backward"
