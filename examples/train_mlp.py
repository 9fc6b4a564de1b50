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

import _common  # noqa: F401  (source-tree path)

import fastrelu
from fastrelu.training import PRESETS, describe, pyplot, train_mlp


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
    result, history, _ = train_mlp(args.dataset, args.activation, args.backend, seed=args.seed,
                                   epochs=args.epochs, steps=args.steps, limit=args.limit,
                                   bar=not args.no_bar)
    print(describe(result))
    if args.plot:
        plot(history, args.plot, f"{args.dataset}, {args.activation}, {args.backend}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"result": result, "history": history}, f, indent=1)
    return result


def plot(history, path, title):
    plt = pyplot()
    if plt is None:
        return
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
