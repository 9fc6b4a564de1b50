"""Just enough to train MLPs on NumPy with any fastrelu activation and backend.

Layers keep what backward needs from forward; ``backward(grad)`` returns the
gradient for the layer below and stores parameter gradients beside the
parameters.  Matrix products use NumPy's BLAS; activations run on fastrelu's
kernels, on the backend given to the layer (or the one in force).
"""

import math

import numpy as np

from . import api, fused, gated
from ._renamed import renamed


class Parameter:
    """An array and its gradient."""

    def __init__(self, value):
        self.value = value
        self.grad = np.zeros_like(value)


class Layer:
    training = True

    def parameters(self):
        return []

    def __call__(self, x):
        return self.forward(x)


class Linear(Layer):
    """``x @ W + b`` with He (Kaiming, for the ReLU family) or Xavier (Glorot) initialisation."""

    def __init__(self, n_in, n_out, *, init="he", bias=0.0, rng=None, dtype=np.float32):
        rng = np.random.default_rng(rng)
        if init == "he":
            scale = math.sqrt(2.0 / n_in)
        elif init == "xavier":
            scale = math.sqrt(2.0 / (n_in + n_out))
        else:
            raise ValueError(f"init must be 'he' or 'xavier', not {init!r}")
        self.weight = Parameter((rng.standard_normal((n_in, n_out)) * scale).astype(dtype))
        self.bias = Parameter(np.full(n_out, bias, dtype))

    def forward(self, x):
        self._x = x
        return x @ self.weight.value + self.bias.value

    def backward(self, grad):
        self.weight.grad[...] = self._x.T @ grad
        self.bias.grad[...] = grad.sum(axis=0)
        return grad @ self.weight.value.T

    def parameters(self):
        return [self.weight, self.bias]


class LinearReLU(Linear):
    """``relu(x @ W + b)`` with the bias add fused into the relu: one pass
    over the layer's output instead of two (``fastrelu.bias_relu``)."""

    name = "relu"

    def __init__(self, n_in, n_out, *, backend=None, **kwargs):
        super().__init__(n_in, n_out, **kwargs)
        self.backend = backend

    def forward(self, x):
        self._x = x
        self._h = x @ self.weight.value  # kept: backward needs h + b > 0
        return fused.bias_relu(self._h, self.bias.value, backend=self.backend)

    def backward(self, grad):
        grad, self.bias.grad[...] = fused.bias_relu_backward(grad, self._h, self.bias.value,
                                                             backend=self.backend)
        self.weight.grad[...] = self._x.T @ grad
        return grad @ self.weight.value.T

    def preactivation(self):
        return self._h + self.bias.value


class ActivationLayer(Layer):
    """Any fastrelu activation as a layer: ``ActivationLayer("leaky_relu", negative_slope=0.1)``."""

    def __init__(self, name, *, backend=None, **params):
        self.name = name if isinstance(name, str) else name.name
        self.function = getattr(api, name) if isinstance(name, str) else name
        self.params = params
        self.backend = backend

    def forward(self, x):
        self._x = x
        self._y = self.function(x, **self.params, backend=self.backend)
        return self._y

    def backward(self, grad):
        # The gradient is written over ``grad``: it is not needed after this.
        # sigmoid and tanh differentiate from y, as PyTorch does: a multiply-add
        # per element instead of an exp.
        from_output = getattr(self.function, "backward_from_output", None)
        if from_output is not None:
            return from_output(grad, self._y, out=grad, backend=self.backend)
        return self.function.backward(grad, self._x, **self.params, out=grad, backend=self.backend)

    def preactivation(self):
        return self._x

    def __repr__(self):
        return f"ActivationLayer({self.name!r})"


class PReLU(Layer):
    """PReLU with a learned slope per unit (or one shared slope)."""

    name = "prelu"

    def __init__(self, n_units=1, init=0.25, *, backend=None, dtype=np.float32):
        self.weight = Parameter(np.full(n_units, init, dtype))
        self.backend = backend

    def forward(self, x):
        self._x = x
        self._y = api.prelu(x, self.weight.value, backend=self.backend)
        return self._y

    def backward(self, grad):
        grad_x, grad_w = api.prelu_backward(grad, self._x, self.weight.value, backend=self.backend)
        self.weight.grad[...] = grad_w
        return grad_x

    def parameters(self):
        return [self.weight]

    def preactivation(self):
        return self._x


class GatedLayer(Layer):
    """A gated activation of a packed projection: ``x`` of width 2H split in
    halves (first ``up``, second ``gate``, as F.glu) gives ``act(gate) * up``
    of width H, in one pass (``fastrelu.gated``).  Backward writes the packed
    gradient over the saved input, in one pass: no new arrays."""

    def __init__(self, name="swiglu", *, approximate="none", backend=None):
        options = {"approximate": approximate} if name == "geglu" else {}
        if name not in ("reglu", "geglu", "swiglu"):
            raise ValueError(f"GatedLayer: name must be reglu, geglu or swiglu, not {name!r}")
        self.name, self.backend, self._options = name, backend, options
        self._forward = getattr(gated, name)
        self._backward = getattr(gated, name + "_backward")

    def forward(self, x):
        self._x = x
        half = x.shape[-1] // 2
        return self._forward(x[..., half:], x[..., :half], **self._options, backend=self.backend)

    def backward(self, grad):
        x = self._x
        half = x.shape[-1] // 2
        gate, up = x[..., half:], x[..., :half]
        self._backward(grad, gate, up, **self._options, out=(gate, up), backend=self.backend)
        return x

    def __repr__(self):
        return f"GatedLayer({self.name!r})"


class Sequential(Layer):
    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad):
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def activation_layers(self):
        found = []
        for layer in self.layers:
            if isinstance(layer, (ActivationLayer, PReLU, LinearReLU)):
                found.append(layer)
            elif isinstance(layer, (Sequential, Residual)):
                found.extend(layer.activation_layers())
        return found


class Residual(Layer):
    """``x + block(x)``."""

    def __init__(self, block):
        self.block = block

    def forward(self, x):
        return x + self.block.forward(x)

    def backward(self, grad):
        return grad + self.block.backward(grad.copy())

    def parameters(self):
        return self.block.parameters()

    def activation_layers(self):
        return self.block.activation_layers()


def mlp(sizes, activation="relu", *, backend=None, rng=None, residual_middle=False,
        bias=0.0, dtype=np.float32, fused=True, **params):
    """An MLP ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` after each hidden layer.

    ``residual_middle`` wraps each hidden-to-hidden layer of equal width in a
    residual connection (the MNIST-1D paper's MLP); ``bias`` is the initial
    bias of the hidden layers.  With ``fused`` (the default) a relu layer adds
    its bias inside the relu kernel (:class:`LinearReLU`).  A gated
    ``activation`` (reglu, geglu, swiglu) makes each hidden layer a packed
    projection of twice the width and a :class:`GatedLayer`.
    """
    rng = np.random.default_rng(rng)
    init = "he" if activation not in ("sigmoid", "tanh") else "xavier"
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i == len(sizes) - 2:
            layers.append(Linear(n_in, n_out, init=init, rng=rng, dtype=dtype))
            break
        if activation in ("reglu", "geglu", "swiglu"):  # a packed projection of width 2 n_out
            block = Sequential(Linear(n_in, 2 * n_out, init=init, bias=bias, rng=rng, dtype=dtype),
                               GatedLayer(activation, backend=backend, **params))
        elif fused and activation == "relu":
            block = Sequential(LinearReLU(n_in, n_out, init=init, bias=bias, rng=rng, dtype=dtype,
                                          backend=backend))
        else:
            linear = Linear(n_in, n_out, init=init, bias=bias, rng=rng, dtype=dtype)
            act = (PReLU(n_out, backend=backend, dtype=dtype) if activation == "prelu"
                   else ActivationLayer(activation, backend=backend, **params))
            block = Sequential(linear, act)
        layers.append(Residual(block) if residual_middle and i > 0 and n_in == n_out else block)
    return Sequential(*layers)


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits); stable for any logit size."""

    def __call__(self, logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_probs = shifted - log_norm
        n = len(labels)
        self._probs = np.exp(log_probs)
        self._labels = labels
        return float(-log_probs[np.arange(n), labels].mean())

    def backward(self):
        grad = self._probs.copy()
        grad[np.arange(len(self._labels)), self._labels] -= 1
        return grad / len(self._labels)


class SGD:
    def __init__(self, parameters, lr=0.01, momentum=0.0):
        self.parameters, self.lr, self.momentum = list(parameters), lr, momentum
        self._velocity = [np.zeros_like(p.value) for p in self.parameters]

    def step(self):
        for p, v in zip(self.parameters, self._velocity):
            v *= self.momentum
            v += p.grad
            p.value -= self.lr * v


class Adam:
    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.parameters, self.lr, self.betas, self.eps = list(parameters), lr, betas, eps
        self._m = [np.zeros_like(p.value) for p in self.parameters]
        self._v = [np.zeros_like(p.value) for p in self.parameters]
        self._t = 0

    def step(self):
        self._t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self._t, 1 - b2**self._t
        for p, m, v in zip(self.parameters, self._m, self._v):
            m *= b1
            m += (1 - b1) * p.grad
            v *= b2
            v += (1 - b2) * p.grad * p.grad
            p.value -= (self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)).astype(p.value.dtype)


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients so that their global L2 norm is at most ``max_norm``; returns the norm."""
    total = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in parameters))
    if total > max_norm:
        for p in parameters:
            p.grad *= max_norm / total
    return total


def batches(n, batch_size, rng):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def accuracy(model, x, y, batch_size=1024):
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model.forward(x[start:start + batch_size])
        correct += int((logits.argmax(axis=1) == y[start:start + batch_size]).sum())
    return correct / len(y)


def dead_fractions(model, x, batch_size=1024):
    """Per activation layer, the fraction of units whose input is <= 0 for every
    example of ``x``: for relu those units output 0 everywhere and get no
    gradient (dead); leaky variants still pass a small gradient there."""
    layers = model.activation_layers()
    alive = [None] * len(layers)
    for start in range(0, len(x), batch_size):
        model.forward(x[start:start + batch_size])
        for i, layer in enumerate(layers):
            active = (layer.preactivation() > 0).any(axis=0)
            alive[i] = active if alive[i] is None else (alive[i] | active)
    return [float(1 - a.mean()) for a in alive]


# The layer's old name, kept for a while: it was also the public functions'
# protocol's (fastrelu.Activation) and the torch module's.
__getattr__ = renamed(globals(), {"Activation": "ActivationLayer"})
