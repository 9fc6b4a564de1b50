"""Every activation and its derivative on [-19, 19], in one figure.

    python examples/plot_activations.py [--out activations.png]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fastrelu  # noqa: E402


def curves(backend="auto"):
    """name -> (x, f(x), f'(x)) for every built-in activation."""
    x = np.linspace(-19, 19, 2001)
    ones = np.ones_like(x)
    result = {}
    for name in fastrelu.activations():
        fn = getattr(fastrelu, name)
        if name == "prelu":
            args = (np.array([0.25]),)
            result[name] = (x, fn(x, *args, backend=backend),
                            fn.backward(ones, x, *args, backend=backend)[0])
        else:
            result[name] = (x, fn(x, backend=backend), fn.backward(ones, x, backend=backend))
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="activations.png")
    p.add_argument("--backend", default="auto")
    args = p.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves(args.backend)
    cols = 4
    rows = -(-len(data) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, (x, y, dy)) in zip(axes.ravel(), data.items()):
        ax.plot(x, y, label="f(x)")
        ax.plot(x, dy, label="f'(x)", linestyle="--")
        ax.set_title(name + (" (weight 0.25)" if name == "prelu" else ""))
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_ylim(-2.5, 6.5)
    for ax in axes.ravel()[len(data):]:
        ax.axis("off")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return data


if __name__ == "__main__":
    main()
