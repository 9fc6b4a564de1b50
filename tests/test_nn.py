"""The training stack: whole-network gradients by finite differences, and the
example scripts' main functions on tiny configurations."""

import sys
from pathlib import Path

import numpy as np
import pytest

from fastrelu import nn

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))


def loss_of(model, x, y):
    return nn.SoftmaxCrossEntropy()(model.forward(x), y)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "gelu", "tanh", "prelu",
                                        "softplus", "mish", "silu"])
@pytest.mark.parametrize("backend", ["numpy", "numba", "auto"])
def test_network_gradients_match_finite_differences(activation, backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5))
    y = rng.integers(0, 3, 7)
    model = nn.mlp([5, 6, 6, 3], activation, backend=backend, rng=1, residual_middle=True,
                   dtype=np.float64)
    loss_fn = nn.SoftmaxCrossEntropy()
    loss_fn(model.forward(x), y)
    model.backward(loss_fn.backward())
    h = 1e-6
    for p in model.parameters():
        flat, grad = p.value.reshape(-1), p.grad.reshape(-1).copy()
        for i in rng.choice(flat.size, size=min(4, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + h
            up = loss_of(model, x, y)
            flat[i] = old - h
            down = loss_of(model, x, y)
            flat[i] = old
            assert abs((up - down) / (2 * h) - grad[i]) < 1e-5, (activation, i)


def test_cross_entropy_is_stable_for_huge_logits():
    loss = nn.SoftmaxCrossEntropy()
    value = loss(np.array([[1e4, 0.0, -1e4]]), np.array([0]))
    assert value == 0.0
    assert np.isfinite(loss.backward()).all()


def test_optimizers_reduce_a_quadratic():
    for make in (lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9), lambda ps: nn.Adam(ps, lr=0.1)):
        p = nn.Parameter(np.array([3.0, -2.0]))
        opt = make([p])
        for _ in range(200):
            p.grad[...] = 2 * p.value
            opt.step()
        assert np.abs(p.value).max() < 1e-2


def test_clip_grad_norm():
    p = nn.Parameter(np.zeros(2))
    p.grad[...] = [3.0, 4.0]
    assert nn.clip_grad_norm([p], 1.0) == pytest.approx(5.0)
    assert np.linalg.norm(p.grad) == pytest.approx(1.0)


def test_dead_fractions_counts_units_negative_everywhere():
    model = nn.mlp([2, 4, 2], "relu", rng=0, dtype=np.float64)
    linear = model.layers[0].layers[0]
    linear.weight.value[:] = 0
    linear.bias.value[:] = [-1, 1, -1, 1]
    assert nn.dead_fractions(model, np.ones((5, 2))) == [0.5]


def learned(history, factor, accuracy):
    """The epoch-mean training loss fell by ``factor`` from the first epoch to
    the last, every loss is finite, and the last test accuracy reached
    ``accuracy`` (chance is 0.1: ten classes)."""
    losses = [h["loss"] for h in history]
    assert np.isfinite(losses).all(), losses
    assert losses[-1] * factor < losses[0], losses
    assert history[-1]["test_acc"] >= accuracy, history[-1]


def test_train_mlp_digits_tiny(tmp_path):
    pytest.importorskip("sklearn")
    import json

    import train_mlp

    result = train_mlp.main(["--dataset", "digits", "--epochs", "2", "--limit", "300",
                             "--no-bar", "--backend", "numba", "--json", str(tmp_path / "r.json")])
    assert result["epochs"] == 2 and result["steps"] == 20
    assert len(result["dead_fraction_per_layer"]) == 2
    history = json.loads((tmp_path / "r.json").read_text())["history"]
    # Seed 0 gives loss 2.16 -> 1.04 (a factor 2.1) and test accuracy 0.77;
    # asked: half that fall (a factor 1.35) and 0.5.
    learned(history, 1.35, 0.5)
    assert result["test_accuracy"] == history[-1]["test_acc"]


def test_train_mlp_mnist1d_tiny(tmp_path):
    pytest.importorskip("mnist1d")
    import json

    import train_mlp

    result = train_mlp.main(["--dataset", "mnist1d", "--steps", "80", "--no-bar",
                             "--json", str(tmp_path / "r.json")])
    assert result["steps"] == 80 and result["epochs"] == 2  # 40 batches of 100 per epoch
    history = json.loads((tmp_path / "r.json").read_text())["history"]
    # Seed 42 gives loss 2.02 -> 1.49 (a factor 1.36) and test accuracy 0.43;
    # asked: half that fall (a factor 1.15) and 0.25.
    learned(history, 1.15, 0.25)


def test_compare_activations_tiny(tmp_path):
    pytest.importorskip("sklearn")
    import compare_activations

    runs = compare_activations.main(["--depth", "3", "--epochs", "3", "--limit", "400",
                                     "--activations", "sigmoid", "relu", "--no-bar",
                                     "--out", str(tmp_path)])
    assert set(runs) == {"sigmoid", "relu"} and all(len(h) == 3 for h in runs.values())
    assert (tmp_path / "compare_activations.md").exists()
    # Seed 0: relu's loss 2.36 -> 0.92 (a factor 2.6), test accuracy 0.80;
    # asked: half that fall (a factor 1.4) and 0.5.
    learned(runs["relu"], 1.4, 0.5)
    # The example's claim: sigmoid's first-layer gradient vanishes (measured
    # 0.024 against relu's 1.28 in the first epoch) and it learns more slowly
    # (loss 2.31 against 0.92 after three epochs).
    assert np.isfinite([h["loss"] for h in runs["sigmoid"]]).all()
    assert runs["relu"][0]["first_layer_grad"] > 10 * runs["sigmoid"][0]["first_layer_grad"] > 0
    assert runs["relu"][-1]["loss"] < runs["sigmoid"][-1]["loss"] - 0.5


def test_dying_relu_tiny(tmp_path):
    pytest.importorskip("sklearn")
    import dying_relu

    rows = dying_relu.main(["--epochs", "2", "--lrs", "0.1", "--biases", "0", "-3", "--limit", "300",
                            "--activations", "relu", "prelu", "--no-bar", "--out", str(tmp_path)])
    assert [(r["bias"], r["activation"]) for r in rows] == [
        (0.0, "relu"), (0.0, "prelu"), (-3.0, "relu"), (-3.0, "prelu")]
    assert not any(r["diverged"] for r in rows)
    assert all(0 <= r["dead_at_start"] <= 1 and 0 <= r["dead_at_end"] <= 1 for r in rows)
    zero_relu, zero_prelu, low_relu, _ = rows
    # Seed 0: with bias 0 relu learns (test accuracy 0.91, prelu 0.92) with
    # 1% of its units dead; bias -3 kills 67% at the start, they stay dead
    # (68% at the end) and relu learns nothing (accuracy 0.04).
    assert zero_relu["dead_at_start"] < 0.05 and zero_relu["test_acc"] >= 0.6
    assert zero_prelu["test_acc"] >= 0.6
    assert low_relu["dead_at_start"] > 0.5 and low_relu["dead_at_end"] > 0.5
    assert low_relu["test_acc"] < zero_relu["test_acc"] - 0.3


def test_plot_activations(tmp_path):
    pytest.importorskip("matplotlib")
    import plot_activations

    data = plot_activations.main(["--out", str(tmp_path / "a.png")])
    assert (tmp_path / "a.png").stat().st_size > 0
    x, y, dy = data["relu"]
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_custom_activation_example():
    pytest.importorskip("sklearn")
    import custom_activation

    hist = custom_activation.main(["--epochs", "3", "--limit", "300", "--no-bar"])
    assert len(hist) == 3
    # Seed 0 gives loss 2.51 -> 0.88 (a factor 2.9) and test accuracy 0.80;
    # asked: half that fall (a factor 1.5) and 0.5.
    learned(hist, 1.5, 0.5)


def test_fused_relu_layers_train_exactly_like_separate_ones():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    fused = nn.mlp([5, 8, 8, 3], "relu", rng=0, residual_middle=True)
    plain = nn.mlp([5, 8, 8, 3], "relu", rng=0, residual_middle=True, fused=False)
    assert any(isinstance(layer, nn.LinearReLU) for block in fused.layers[:-1]
               for layer in getattr(block, "block", block).layers)
    for model in (fused, plain):
        loss = nn.SoftmaxCrossEntropy()
        loss(model.forward(x), y)
        model.backward(loss.backward())
    for a, b in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_array_equal(a.value, b.value)
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-6, atol=1e-7)
    assert nn.dead_fractions(fused, x) == nn.dead_fractions(plain, x)


@pytest.mark.parametrize("name", ["reglu", "geglu", "swiglu"])
def test_gated_layer_gradient_against_finite_differences(name):
    rng = np.random.default_rng(0)
    layer = nn.GatedLayer(name)
    x = rng.uniform(-2, 2, (3, 8))
    x[np.abs(x) < 1e-2] = 0.5  # away from relu's kink
    weights = rng.standard_normal((3, 4))
    loss = lambda v: float((layer.forward(v.copy()) * weights).sum())
    layer.forward(x.copy())
    analytic = layer.backward(weights).copy()
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (loss(x + step) - loss(x - step)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_gated_mlp_trains():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 20)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = nn.mlp([20, 32, 2], "swiglu", rng=0)
    assert model.layers[0].layers[0].weight.value.shape == (20, 64)
    loss, optimizer = nn.SoftmaxCrossEntropy(), nn.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        value = loss(model(x), labels)
        first = value if first is None else first
        model.backward(loss.backward())
        optimizer.step()
    assert value < first / 3
