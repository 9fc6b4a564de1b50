"""Train an MLP with fastrelu activations on a data set that needs no download.

    python examples/train_mlp.py --dataset digits
    python examples/train_mlp.py --dataset mnist1d --backend numba-parallel
    python examples/train_mlp.py --dataset digits --backend numpy --activation gelu

``digits`` trains 64 -> 128 -> 128 -> 10 with Adam.  ``mnist1d`` is the
MNIST-1D paper's MLP: 40 -> 100 -> 100 -> 10 with a residual middle layer,
Adam at lr 1e-2, batch 100, 6000 steps, seed 42.
"""

import argparse
import json
import time

import numpy as np

from _common import load_dataset, train

import fastrelu
from fastrelu import nn

PRESETS = {
    "digits": dict(sizes=[64, 128, 128, 10], lr=1e-3, batch_size=32, epochs=30, steps=None,
                   residual=False),
    "mnist1d": dict(sizes=[40, 100, 100, 10], lr=1e-2, batch_size=100, epochs=None, steps=6000,
                    residual=True),
}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(PRESETS), default="digits")
    p.add_argument("--backend", default="auto", help=f"one of {fastrelu.backends()}")
    p.add_argument("--activation", default="relu", help="any of fastrelu.activations()")
    p.add_argument("--seed", type=int, default=None, help="default: 0 (digits), 42 (mnist1d)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--limit", type=int, default=None, help="use this many training examples")
    p.add_argument("--plot", default=None, help="save training curves to this PNG")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--no-bar", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    preset = dict(PRESETS[args.dataset])
    if args.epochs is not None:
        preset.update(epochs=args.epochs, steps=None)
    if args.steps is not None:
        preset.update(steps=args.steps, epochs=None)
    seed = args.seed if args.seed is not None else (42 if args.dataset == "mnist1d" else 0)
    data = load_dataset(args.dataset, seed=seed, limit=args.limit)
    model = nn.mlp(preset["sizes"], args.activation, backend=args.backend, rng=seed,
                   residual_middle=preset["residual"])
    start = time.perf_counter()
    history = train(model, data, steps=preset["steps"], epochs=preset["epochs"],
                    batch_size=preset["batch_size"], lr=preset["lr"], seed=seed,
                    bar=not args.no_bar, desc=f"{args.dataset} {args.activation} {args.backend}")
    elapsed = time.perf_counter() - start
    dead = nn.dead_fractions(model, data[0])
    result = {
        "dataset": args.dataset, "activation": args.activation, "backend": args.backend,
        "seed": seed, "test_accuracy": history[-1]["test_acc"],
        "best_test_accuracy": max(h["test_acc"] for h in history),
        "epochs": len(history), "steps": history[-1]["step"], "train_seconds": round(elapsed, 2),
        "seconds_per_epoch": round(float(np.median([h["seconds"] for h in history])), 4),
        "dead_fraction_per_layer": [round(d, 3) for d in dead],
    }
    print(f"{args.dataset}: {args.activation} on {args.backend}: test accuracy "
          f"{result['test_accuracy']:.4f} (best {result['best_test_accuracy']:.4f}) after "
          f"{result['steps']} steps, {result['seconds_per_epoch'] * 1e3:.1f} ms per epoch, "
          f"dead units per layer {result['dead_fraction_per_layer']}")
    if args.plot:
        plot(history, args.plot, f"{args.dataset}, {args.activation}, {args.backend}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"result": result, "history": history}, f, indent=1)
    return result


def plot(history, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [h["step"] for h in history]
    a.plot(steps, [h["loss"] for h in history])
    a.set_xlabel("step")
    a.set_ylabel("training loss")
    b.plot(steps, [h["train_acc"] for h in history], label="train")
    b.plot(steps, [h["test_acc"] for h in history], label="test")
    b.set_xlabel("step")
    b.set_ylabel("accuracy")
    b.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
