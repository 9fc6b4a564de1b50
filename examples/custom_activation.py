"""Define an activation with the decorator and train with it.

``squareplus`` (x + sqrt(x^2 + b)) / 2 is a smooth ReLU-like curve made of
arithmetic and one square root: here it becomes a fastrelu activation with
a gradient, runs on every backend, and trains the digits MLP.

    python examples/custom_activation.py [--backend numba-parallel]
"""

import argparse
import math

import numpy as np

from _common import load_dataset, train

import fastrelu
from fastrelu import nn


@fastrelu.activation(grad=lambda x, b: 0.5 * (1.0 + x / math.sqrt(x * x + b)))
def squareplus(x, b=4.0):
    """Squareplus: (x + sqrt(x^2 + b)) / 2, a smooth ReLU without exp or log."""
    return 0.5 * (x + math.sqrt(x * x + b))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="auto")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--no-bar", action="store_true")
    args = p.parse_args(argv)

    x = np.linspace(-3, 3, 7)
    print("squareplus", np.round(squareplus(x, backend=args.backend), 3))
    print("gradient  ", np.round(squareplus.backward(np.ones_like(x), x, backend=args.backend), 3))

    data = load_dataset("digits", seed=args.seed, limit=args.limit)
    model = nn.mlp([64, 128, 128, 10], squareplus, backend=args.backend, rng=args.seed)
    hist = train(model, data, epochs=args.epochs, batch_size=32, lr=1e-3, seed=args.seed,
                 bar=not args.no_bar, desc="squareplus")
    print(f"digits with squareplus on {args.backend}: test accuracy {hist[-1]['test_acc']:.4f}")
    return hist


if __name__ == "__main__":
    main()
