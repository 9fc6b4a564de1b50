"""Train the MNIST-1D MLP with ReLU, ReGLU and SwiGLU hidden layers at one parameter budget.

    python examples/gated_mlp.py [--steps 6000] [--seeds 42 43 44] [--backend auto] [--json FILE]

The MNIST-1D paper's MLP (40 -> 100 -> 100 -> 10, residual middle layer,
Adam at lr 1e-2, batch 100) against the same MLP whose hidden layers are
gated: each a packed projection of width 2H and ``act(gate) * up``
(``fastrelu.nn.GatedLayer``), with H = 67 so that both have about 15200
parameters.  Prints test accuracy (mean over seeds) and time per epoch.
"""

import argparse
import json

import _common  # noqa: F401  (source-tree path)
import numpy as np

from fastrelu import nn
from fastrelu.training import load_dataset, train

#: activation -> hidden width at the relu MLP's parameter budget
WIDTHS = {"relu": 100, "reglu": 67, "swiglu": 67}


def count(model):
    return sum(p.value.size for p in model.parameters())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--backend", default="auto")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--no-bar", action="store_true")
    args = p.parse_args(argv)
    data = load_dataset("mnist1d")
    rows = []
    for activation, width in WIDTHS.items():
        accuracies, epoch_ms = [], []
        for seed in args.seeds:
            model = nn.mlp([40, width, width, 10], activation, backend=args.backend, rng=seed,
                           residual_middle=True)
            history = train(model, data, steps=args.steps, batch_size=100, lr=1e-2, seed=seed,
                            bar=not args.no_bar, desc=f"{activation} seed {seed}")
            accuracies.append(nn.accuracy(model, data[2], data[3]))
            epoch_ms.append(1e3 * float(np.median([h["seconds"] for h in history])))
        rows.append({"activation": activation, "hidden width": width, "parameters": count(model),
                     "test accuracy": round(float(np.mean(accuracies)), 4),
                     "accuracies": [round(a, 4) for a in accuracies],
                     "ms per epoch": round(float(np.median(epoch_ms)), 2)})
    print("| hidden layers | width | parameters | test accuracy (mean of seeds) | ms per epoch |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['activation']} | {r['hidden width']} | {r['parameters']} | "
              f"{r['test accuracy']:.4f} {r['accuracies']} | {r['ms per epoch']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": args.steps, "seeds": args.seeds, "backend": args.backend,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
