"""fastrelu.torch: autograd functions checked by torch.autograd.gradcheck."""

import pytest

torch = pytest.importorskip("torch")
import fastrelu.torch as frt  # noqa: E402

KINKS = {"relu": [0], "leaky_relu": [0], "relu6": [0, 6], "elu": [0], "selu": [0], "celu": [0],
         "hardswish": [-3, 3], "hardsigmoid": [-3, 3], "softplus": [20]}


@pytest.mark.parametrize("name", frt.supported())
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_gradcheck_float64(name, backend):
    x = torch.linspace(-7.05, 7.05, 48, dtype=torch.float64)  # no point near a kink
    assert all((x - k).abs().min() > 1e-3 for k in KINKS.get(name, []))
    x = x.reshape(3, -1).T.requires_grad_(True)  # non-contiguous on purpose
    assert torch.autograd.gradcheck(lambda t: frt.apply(name, t, backend=backend), (x,))


def test_module_matches_functional():
    x = torch.randn(4, 5)
    layer = frt.Activation("leaky_relu", negative_slope=0.2)
    assert torch.equal(layer(x), torch.nn.functional.leaky_relu(x, 0.2))
    assert "leaky_relu" in repr(layer)
    with pytest.raises(TypeError):
        frt.Activation("relu", alpha=1.0)
    with pytest.raises(ValueError):
        frt.Activation("prelu")


def test_torch_mlp_example_tiny():
    pytest.importorskip("mnist1d")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import torch_mlp

    results = torch_mlp.main(["--steps", "30"])
    assert len(results) == 2 and all(0 <= acc <= 1 for acc, _ in results.values())
